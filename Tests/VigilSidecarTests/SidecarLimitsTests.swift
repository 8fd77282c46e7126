import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

struct SidecarLimitsTests {
    /// A client looping on POST /api/v1/silences used to grow the router (and every journal
    /// record of its silences) without end.
    @Test(.timeLimit(.minutes(2)))
    func silencesStopAtTheirCapWith429() async throws {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: "metric x\nalert a { when x > 1; severity info; notify slack }\n")])
        var options = Sidecar.Options()
        options.source = .listen(FileManager.default.temporaryDirectory.appendingPathComponent("vigil-limits-\(UUID().uuidString.prefix(8)).sock").path)
        let sidecar = Sidecar(rules: lint, config: .defaults, options: options, log: MemoryLog(), console: { _ in })
        try sidecar.start()
        let api = API(sidecar: sidecar, token: nil)
        let matchers = try LabelMatcher.parseList(#"alertname="a""#).get()
        let replies = await withCheckedContinuation { c in
            Thread {
                var ok = 0
                for _ in 0..<Sidecar.maxSilences {
                    if case .ok? = sidecar.run(.addSilence(matchers: matchers, duration: 3_600_000_000_000, createdBy: "t", comment: "c")) { ok += 1 }
                }
                c.resume(returning: ok)
            }.start()
        }
        #expect(replies == Sidecar.maxSilences)
        let body = Data(#"{"matchers":"alertname=\"a\"","for":"1h","comment":"one more"}"#.utf8)
        let over = api.handle(HTTPRequest(method: "POST", path: "/api/v1/silences", query: [:], headers: [:], body: body))
        #expect(over.status == 429)
        #expect(String(decoding: over.body, as: UTF8.self).contains("at most 10000 silences"))
        _ = await sidecar.stop(flush: .seconds(1))
    }
}

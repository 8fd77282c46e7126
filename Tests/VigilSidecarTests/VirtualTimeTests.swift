import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// A whole sidecar in-process on a manual clock: lines and commands go in, the clock moves by
/// hand, and what the console channels print is asserted. Hours of escalation, repeats, acks,
/// silences and a reload run with no wall-clock sleep.
final class VirtualSidecar {
    static let start = Instant(nanoseconds: 1_736_949_600_000_000_000) // 2025-01-15T14:00:00Z
    let clock = ManualClock(VirtualSidecar.start)
    let sidecar: Sidecar
    let printed = Lines()
    let log = MemoryLog()

    init(_ rules: String, path: String = "t.rules") throws {
        var options = Sidecar.Options()
        options.source = .none
        options.clock = clock
        options.engine.staleAfter = 86_400_000_000_000 // the series stay fresh while the clock runs for hours
        let lint = try VirtualSidecar.lint(rules, path: path)
        let printed = self.printed
        sidecar = Sidecar(rules: lint, config: .defaults, options: options, log: log, console: { printed.add($0) })
        try sidecar.start()
    }

    static func lint(_ rules: String, path: String = "t.rules") throws -> LintResult {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: path, text: rules)])
        try #require(lint.errorCount == 0, "\(lint.diagnostics.map(DiagnosticRenderer.text))")
        return lint
    }

    /// Moves the clock and waits for the core to step to it.
    func advance(minutes: Int64) {
        clock.advance(by: minutes * 60_000_000_000)
        #expect(sidecar.sync())
    }

    func feed(_ lines: [String]) {
        sidecar.feed(lines)
        #expect(sidecar.sync())
    }

    /// The console lines since the last call, as `HH:MM KIND alert{labels} [channel]`, sorted
    /// within a minute (two alerts stepping at one instant come in either order).
    func take() -> [String] {
        defer { taken = printed.all.count }
        return printed.all.dropFirst(taken).flatMap { $0.split(separator: "\n") }.map { line -> String in
            // 2025-01-15T14:17:00Z ESCALATION 1 warning high{k="b"} value=5: high (k=b) is 5 [pager]
            let words = line.split(separator: " ")
            let time = words[0].dropFirst(11).prefix(5)
            let kind = words[1] == "ESCALATION" ? "ESCALATION \(words[2])" : String(words[1])
            let alert = words.first { $0.hasPrefix("high") || $0.hasPrefix("low") } ?? "?"
            return "\(time) \(kind) \(alert) \(words.last ?? "")"
        }.sorted()
    }

    private var taken = 0

    func stop() async { _ = await sidecar.stop(flush: .seconds(1)) }
}

struct VirtualTimeTests {
    static let rules = """
        metric x labels k
        alert high { when x > 1 for 2min; severity warning; notify slack; escalate after 15min to pager; repeat every 1h }

        """

    @Test(.timeLimit(.minutes(1)))
    func escalationAckSilenceRepeatAndReloadInVirtualTime() async throws {
        let v = try VirtualSidecar(VirtualTimeTests.rules)
        v.feed([#"{"metric":"x","labels":{"k":"a"},"value":5}"#, #"{"metric":"x","labels":{"k":"b"},"value":5}"#])
        #expect(v.take() == [])
        v.advance(minutes: 2)
        #expect(v.take() == [#"14:02 FIRING high{k="a"} [slack]"#, #"14:02 FIRING high{k="b"} [slack]"#])

        // a is acknowledged at 14:10: its 14:17 page and its repeats do not happen.
        v.advance(minutes: 8)
        let a = fingerprint(alert: "high", labels: [Label("k", "a")])
        #expect(v.sidecar.run(.ack(fingerprint: a, for: nil)) == .ok(a))
        #expect(v.sidecar.run(.ack(fingerprint: "0000000000000000", for: nil)) == .notFound("no firing alert has fingerprint 0000000000000000"))
        v.advance(minutes: 15) // to 14:25, past b's step at 14:17
        #expect(v.take() == [#"14:17 ESCALATION 1 high{k="b"} [pager]"#])

        // b is silenced for 2 h from 14:25: its 15:02 repeat waits for the end, then goes once.
        let matchers = try LabelMatcher.parseList(#"k="b""#).get()
        guard case .ok(let id)? = v.sidecar.run(.addSilence(matchers: matchers, duration: 7_200_000_000_000, createdBy: "test", comment: "quiet")) else {
            Issue.record("the silence was not added")
            return
        }
        v.advance(minutes: 60)
        #expect(v.take() == [])
        v.advance(minutes: 60) // to 16:25: the silence ended at 16:25
        #expect(v.take() == [#"16:25 REPEAT high{k="b"} [slack]"#])
        #expect(v.sidecar.alerts()?.silences.contains { $0.id == id } == false, "an ended silence is dropped")
        v.advance(minutes: 37) // b's next repeat keeps its phase: 17:02
        #expect(v.take() == [#"17:02 REPEAT high{k="b"} [slack]"#])
        #expect(v.sidecar.alerts()?.acked == [a])

        // A reload without the rule resolves both to the channels each reached.
        let reloaded = try VirtualSidecar.lint("metric x labels k\nalert low { when x < 0; severity info; notify slack }\n")
        #expect(v.sidecar.run(.reload(reloaded, .defaults, Surroundings())) == .ok("1 rules"))
        #expect(v.take() == [#"17:02 RESOLVED high{k="a"} [slack]"#, #"17:02 RESOLVED high{k="b"} [pager]"#, #"17:02 RESOLVED high{k="b"} [slack]"#])
        #expect(v.sidecar.snapshot.rules.map(\.name) == ["low"])
        await v.stop()
    }

    /// `vigil run` on the seed's JSON tables: `spec_validation_changed` is declared nowhere and
    /// arrives as an event line, so `market_changes` notifies once and never "resolves".
    @Test(.timeLimit(.minutes(1)))
    func theSeedTablesSendNoResolvedForEventsInRun() async throws {
        let tables = try String(contentsOf: URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../examples/seed-tables.json").standardized, encoding: .utf8)
        let v = try VirtualSidecar(tables, path: "seed-tables.json")
        v.feed([#"{"service":"normalizer","event":"spec_validation_changed","market":"FED-25MAR19"}"#])
        v.advance(minutes: 10)
        let printed = v.printed.all.joined().split(separator: "\n").filter { $0.contains("market_changes") }
        #expect(printed.count == 1, "\(printed)")
        #expect(printed.first?.hasPrefix(#"2025-01-15T14:00:00Z FIRING info market_changes{market="FED-25MAR19", service="normalizer"}"#) == true, "\(printed)")
        await v.stop()
    }

    /// The ack's duration runs on the same clock: when it expires, the due step goes out.
    @Test(.timeLimit(.minutes(1)))
    func anAckThatExpiresInVirtualTimeLetsTheStepThrough() async throws {
        let v = try VirtualSidecar(VirtualTimeTests.rules)
        v.feed([#"{"metric":"x","labels":{"k":"a"},"value":5}"#])
        v.advance(minutes: 2)
        let a = fingerprint(alert: "high", labels: [Label("k", "a")])
        #expect(v.sidecar.run(.ack(fingerprint: a, for: 30 * 60_000_000_000)) == .ok(a))
        v.advance(minutes: 29)
        #expect(v.take() == [#"14:02 FIRING high{k="a"} [slack]"#])
        #expect(v.sidecar.alerts()?.acked == [a])
        v.advance(minutes: 1)
        #expect(v.take() == [#"14:32 ESCALATION 1 high{k="a"} [pager]"#])
        #expect(v.sidecar.alerts()?.acked == [], "an expired ack is not shown")
        await v.stop()
    }
}

import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// `silences_from am`: two replicas mirror the silences of a real Alertmanager; a silence made
/// with amtool mutes both, and expiring it unmutes both.
struct SilenceMirrorTests {
    final class Replica {
        let sidecar: Sidecar
        let printed = Lines()
        let log = MemoryLog()

        init(_ am: RealAlertmanager) throws {
            let configText = """
                channel am  { type alertmanager url "\(am.base)" }
                channel out { type console }
                escalation_target out
                silences_from am

                """
            let rules = "metric x labels k\nalert high { when x > 1; severity warning; notify out }\n"
            let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: rules)],
                                   config: SourceFile(path: "vigil.conf", text: configText, kind: .config))
            try #require(lint.errorCount == 0, "\(lint.diagnostics.map(DiagnosticRenderer.text))")
            let config = try AlertingConfig.load(lint.config)
            var options = Sidecar.Options()
            options.source = .none
            let printed = self.printed
            sidecar = Sidecar(rules: lint, config: config, options: options, log: log, console: { printed.add($0) })
            try sidecar.start()
        }

        var silences: [Silence] { sidecar.alerts()?.silences ?? [] }
        func fired(_ k: String) -> Bool { printed.all.contains { $0.contains("FIRING") && $0.contains("k=\"\(k)\"") } }
    }

    static func amtool(_ args: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/amtool")
        p.arguments = args
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A real Alertmanager and two replicas mirroring it, stopped after `body` however it
    /// ends: with `await`, never a semaphore, since a blocked cooperative thread starves the pool.
    static func withReplicas(_ body: (RealAlertmanager, Replica, Replica) async throws -> Void) async throws {
        let am = try RealAlertmanager()
        try await am.start()
        defer { am.stop() }
        let a = try Replica(am), b = try Replica(am)
        func stop() async { for r in [a, b] { _ = await r.sidecar.stop(flush: .seconds(1)) } }
        do {
            try await body(am, a, b)
        } catch {
            await stop()
            throw error
        }
        await stop()
    }

    @Test(.enabled(if: RealAlertmanager.installed, "\(AlertmanagerPeerTests.skip)"), .timeLimit(.minutes(1)))
    func anAmtoolSilenceMutesEveryReplicaAndItsExpiryUnmutesThem() async throws {
        try await Self.withReplicas { am, a, b in
            let id = try Self.amtool(["silence", "add", "alertname=high", "k=a", "--comment=maintenance", "--author=ops",
                                      "--duration=1h", "--alertmanager.url=\(am.base)"])
            #expect(!id.isEmpty)
            for _ in 0..<100 where a.silences.isEmpty || b.silences.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            for r in [a, b] {
                let s = try #require(r.silences.first)
                #expect(s.id == "am:" + id)
                #expect(s.matchers.map(\.description).sorted() == [#"alertname="high""#, #"k="a""#])
                #expect(s.createdBy == "ops" && s.comment == "maintenance")
        }
        for r in [a, b] {
            r.sidecar.feed([#"{"metric":"x","labels":{"k":"a"},"value":5}"#, #"{"metric":"x","labels":{"k":"b"},"value":5}"#])
            r.sidecar.sync()
        }
        for _ in 0..<50 where !(a.fired("b") && b.fired("b")) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(a.fired("b") && b.fired("b"))
        #expect(!a.fired("a") && !b.fired("a"), "the amtool silence mutes k=a on both replicas")

        _ = try Self.amtool(["silence", "expire", id, "--alertmanager.url=\(am.base)"])
        for _ in 0..<100 where !(a.silences.isEmpty && b.silences.isEmpty) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(a.silences.isEmpty && b.silences.isEmpty)
        for _ in 0..<50 where !(a.fired("a") && b.fired("a")) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(a.fired("a") && b.fired("a"), "expired, the silence lets k=a's firing through on both")
        }
    }

    @Test(.enabled(if: RealAlertmanager.installed, "\(AlertmanagerPeerTests.skip)"), .timeLimit(.minutes(1)))
    func aSilenceMadeOnOneReplicaIsMadeInAlertmanagerAndHeldByTheOther() async throws {
        try await Self.withReplicas { am, a, b in
            let made = a.sidecar.run(.addSilence(matchers: [LabelMatcher(name: "k", op: .regexMatch, value: "b|c")], duration: 3_600_000_000_000,
                                                 createdBy: "oncall", comment: "via vigil"))
            guard case .ok(let id)? = made else {
                Issue.record("\(String(describing: made))")
                return
        }
        #expect(id.hasPrefix("am:"))
        #expect(a.silences.map(\.id) == [id], "held at once on the replica that made it")
        let answer = try HTTPClient.request("GET", am.base + "/api/v2/silences", timeout: 5_000_000_000, maxBody: 1 << 20).get()
        let listed = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [[String: Any]])
        #expect(listed.contains { "am:" + ($0["id"] as? String ?? "") == id && $0["createdBy"] as? String == "oncall" })
        for _ in 0..<100 where b.silences.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        #expect(b.silences.map(\.id) == [id])
        // Mirrored back to A, the silence it holds already is the same one: no churn every
        // poll (over two polls, once any read that was on its way has landed).
        func changes() -> Int { a.log.all.filter { $0.message == "silences mirrored from Alertmanager changed" }.count }
        try await Task.sleep(for: .milliseconds(2500))
        let settled = changes()
        try await Task.sleep(for: .milliseconds(4500))
        #expect(changes() == settled, "\(a.log.all.map(\.message))")
        #expect(b.silences.first?.matchers.map(\.description) == [#"k=~"b|c""#])
        // Expired on the other replica: gone from Alertmanager, then from the first.
        #expect(b.sidecar.run(.removeSilence(id: id)) == .ok(id))
        for _ in 0..<100 where !a.silences.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        #expect(a.silences.isEmpty)
        }
    }

    @Test func alertmanagersSilencesParse() {
        let body = #"""
            [{"id":"5c8a","status":{"state":"active"},"updatedAt":"2026-12-02T03:00:00.000Z","comment":"c","createdBy":"ops",
              "startsAt":"2026-12-02T03:00:00.123Z","endsAt":"2026-12-02T04:00:00.123Z",
              "matchers":[{"name":"alertname","value":"high","isRegex":false,"isEqual":true},{"name":"k","value":"a|b","isRegex":true,"isEqual":false}]},
             {"id":"old","status":{"state":"expired"},"startsAt":"2026-12-01T03:00:00Z","endsAt":"2026-12-01T04:00:00Z","matchers":[{"name":"a","value":"b","isRegex":false}]},
             {"id":"bad","status":{"state":"active"},"startsAt":"yesterday","endsAt":"2026-12-01T04:00:00Z","matchers":[]}]
            """#
        let list = SilenceMirror.parse(Array(body.utf8))
        #expect(list?.map(\.id) == ["am:5c8a", "am:old"], "an expired one is kept: it says the silence ended")
        #expect(list?.first?.matchers.map(\.description) == [#"alertname="high""#, #"k!~"a|b""#])
        #expect(list?.first?.endsAt == Instant.parseRFC3339("2026-12-02T04:00:00.123Z"))
        #expect(SilenceMirror.parse(Array("{}".utf8)) == nil)
    }
}

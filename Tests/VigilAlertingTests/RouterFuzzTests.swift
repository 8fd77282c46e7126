import Foundation
import Synchronization
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules

/// Random incidents through the engine and router: flapping values, escalations, repeats,
/// groups, inhibitions, silences starting and ending, acks with and without expiry. The router
/// must always come back from `advance` (a muted escalation once spun it forever), and never
/// tell a channel an alert fired twice without telling it that it resolved in between.
struct RouterFuzzTests {
    static let rules = """
        metric x labels k
        metric y labels k
        alert a { when x > 1 for 30s; severity warning; notify slack; escalate after 2min to pager; repeat every 3min }
        alert b { when y > 1; severity critical; notify pager, slack; escalate immediate }
        alert c { when x > 1; severity info; notify email; group by k wait 20s; repeat every 1min }
        inhibit a when b on k

        """

    /// A flapping alert is held, and its stable state sent when it settles (even a muted
    /// flapping notice, so a channel may hear "firing" again): the story starts over.
    static func forgetFlapping(_ transitions: [Transition], _ open: inout Set<String>) {
        for t in transitions where t.flapping {
            let fp = fingerprint(alert: t.alert, labels: t.labels)
            open = open.filter { !$0.hasPrefix(fp + " ") }
        }
    }

    /// Runs one seeded incident; returns what went wrong, if anything.
    static func incident(seed: UInt64) -> [String] {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: rules)])
        guard lint.errorCount == 0 else { return lint.diagnostics.map(DiagnosticRenderer.text) }
        var config = EngineConfig()
        config.staleAfter = 10 * minute
        let core = Core(rules: lint, config: .defaults, engine: config, start: Instant(nanoseconds: 0))
        var rng = SplitMix64(seed: seed)
        var problems: [String] = []
        var open: Set<String> = [] // "fp channel" told firing and not yet resolved
        var silences: [String] = []
        var firings = 0
        var t: Int64 = 0
        for _ in 0..<250 {
            t += Int64(1 + rng.next() % 40) * 1_000_000_000
            let now = Instant(nanoseconds: t)
            var lines: [String] = []
            for _ in 0..<Int(rng.next() % 3) {
                let metric = rng.next() % 2 == 0 ? "x" : "y"
                lines.append(#"{"metric":"\#(metric)","labels":{"k":"k\#(rng.next() % 4)"},"value":\#(rng.next() % 3)}"#)
            }
            var inputs: [Core.Input] = [.lines(LineBatch(lines))]
            switch rng.next() % 20 {
            case 0:
                let matcher = rng.next() % 2 == 0 ? #"alertname="a""# : #"k=~"k[\#(rng.next() % 4)]""#
                let m = (try? LabelMatcher.parseList(matcher).get()) ?? []
                inputs.append(.command(.addSilence(matchers: m, duration: Int64(1 + rng.next() % 10) * minute, createdBy: "fuzz", comment: "seed \(seed)")))
            case 1:
                if let fp = core.router.persisted().tracked.keys.sorted().randomElement(using: &rng) {
                    inputs.append(.command(.ack(fingerprint: fp, for: rng.next() % 2 == 0 ? nil : Int64(1 + rng.next() % 5) * minute)))
                }
            case 2:
                if let id = silences.randomElement(using: &rng) { inputs.append(.command(.removeSilence(id: id))) }
            default:
                break
            }
            let out = core.step(inputs, at: now)
            if !out.rejects.isEmpty { problems.append("seed \(seed): a line was rejected (\(out.rejects))") }
            for case .ok(let id) in out.replies where id.hasPrefix("s") { silences.append(id) }
            forgetFlapping(out.transitions, &open)
            for n in out.notifications {
                for a in n.alerts {
                    let key = a.fingerprint + " " + n.channel
                    switch n.kind {
                    case .firing:
                        firings += 1
                        if !open.insert(key).inserted { problems.append("seed \(seed): \(a.name) fired twice on \(n.channel) at \(n.at.rfc3339)") }
                    case .resolved:
                        open.remove(key)
                    case .flapping:
                        open.remove(key) // a flapping notice closes the story until the stable state is sent
                    default:
                        break
                    }
                }
            }
        }
        // 250 steps of random values always fire something: a rig whose ingestion broke would
        // otherwise pass with nothing to check.
        if firings == 0 { problems.append("seed \(seed): nothing fired in 250 steps") }
        return problems
    }

    @Test(.timeLimit(.minutes(2)))
    func twoHundredIncidentsEndAndNeverFireTwice() async {
        for seed in UInt64(0)..<200 {
            if seed % 20 == 0 { await Task.yield() }
            // On its own thread, watched: a spinning router fails the test instead of hanging the run.
            let result = Mutex<[String]?>(nil)
            let done = DispatchSemaphore(value: 0)
            Thread {
                result.withLock { $0 = RouterFuzzTests.incident(seed: seed) }
                done.signal()
            }.start()
            guard await withCheckedContinuation({ c in Thread { c.resume(returning: done.wait(timeout: .now() + 20) == .success) }.start() }) else {
                Issue.record("seed \(seed): the router did not come back from advance within 20 s")
                return
            }
            let problems = result.withLock { $0 } ?? []
            #expect(problems.isEmpty, "\(problems.prefix(5))")
        }
    }
}

import Foundation
import Testing
@testable import VigilEngine
@testable import VigilRules

/// The fast path (a sample's simple rules stepped in one pass, `evaluateRules`/`stepSimple`)
/// is an optimisation of the general evaluator, so the two must decide every rule alike: the
/// same stream through an engine with it and one without gives the same transitions, in the
/// same order, at the same instants, with the same values. The matchers cover both of the
/// fast path's forms: `=` and `!=` as values (an empty value matching a missing label), and a
/// selector with a regex through its `MatcherNode`s.
struct FastPathTests {
    static let rules = """
        metric m0 labels venue, market
        metric m1 labels venue, market
        metric m2 labels venue
        alert hot { when m0 > 7; severity warning; notify slack }
        alert held { when m0 > 5 for 20s; severity warning; notify slack }
        alert sum_high { when m0 + m1 > 14; severity info; notify slack }
        alert kalshi { when m0{venue="kalshi"} >= 8; severity info; notify slack }
        alert not_poly { when m1{venue!~"poly.*"} < 2 for 5s; severity info; notify slack }
        alert avg_high { when avg(m0 over 30s) > 5.5; severity info; notify slack }
        alert p95_high { when p95(m1 over 1m) > 8; severity info; notify slack }
        alert low_max { when max(m1 over 10s) < 2; severity info; notify slack }
        alert rising { when rate(m2 over 20s) > 0.2; severity info; notify slack }
        alert flat { when changes(m2 over 30s) == 0 for 10s; severity info; notify slack }
        alert recent { when m2 > 4 and time_since_last_update < 2s; severity info; notify slack }
        alert not_a { when m0{market!="a"} > 6; severity info; notify slack }
        alert no_market { when m2{market=""} > 6; severity info; notify slack }
        alert none_here { when m2{market!=""} > 0; severity info; notify slack }
        alert mixed { when m1{venue=~"k.*", market="a"} > 6; severity info; notify slack }
        """

    /// `count` samples over 3 metrics and 8 series: random walks, irregular gaps (some long
    /// enough to go stale or empty a window), now and then two samples at one instant.
    static func stream(seed: UInt64, count: Int) -> [(at: Int64, metric: String, labels: [Label], value: Double)] {
        var state = seed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let series: [(String, [Label])] = [
            ("m0", [Label("venue", "kalshi"), Label("market", "a")]), ("m0", [Label("venue", "polymarket"), Label("market", "a")]),
            ("m0", [Label("venue", "kalshi"), Label("market", "b")]), ("m1", [Label("venue", "kalshi"), Label("market", "a")]),
            ("m1", [Label("venue", "polymarket"), Label("market", "b")]), ("m1", [Label("venue", "other"), Label("market", "c")]),
            ("m2", [Label("venue", "kalshi")]), ("m2", [Label("venue", "polymarket")]),
        ]
        var walk = Array(repeating: 5.0, count: series.count)
        var t: Int64 = 1_000_000_000
        var out: [(Int64, String, [Label], Double)] = []
        for _ in 0..<count {
            let gap = next() % 50
            t += gap < 45 ? Int64(gap) * 100_000_000 : Int64(gap) * 2_000_000_000 // a few gaps of 90–98 s
            let s = Int(next() % UInt64(series.count))
            walk[s] = max(0, min(10, walk[s] + Double(Int(next() % 5) - 2)))
            out.append((t, series[s].0, series[s].1, walk[s]))
        }
        return out
    }

    func run(fastPath: Bool, seed: UInt64) -> [String] {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: FastPathTests.rules)])
        precondition(lint.errorCount == 0, "\(lint.diagnostics.map(DiagnosticRenderer.text))")
        var config = EngineConfig()
        config.staleAfter = 60 * second
        let engine = Engine(rules: lint, config: config, start: Instant(nanoseconds: 0), fastPath: fastPath)
        var log: [String] = []
        func take() {
            for t in engine.transitions { log.append("\(t.at.nanoseconds) \(t.alert)\(t.labels) \(t.state) \(t.value) \(t.flapping)") }
            engine.transitions.removeAll()
        }
        for (at, metric, labels, value) in FastPathTests.stream(seed: seed, count: 3000) {
            guard let sample = engine.sample(metric: metric, labels: labels, value: .number(value), at: Instant(nanoseconds: at)) else {
                Issue.record("no series for \(metric)")
                return []
            }
            engine.apply([sample])
            take()
        }
        engine.advance(through: Instant(nanoseconds: engine.now.nanoseconds + 600 * second))
        take()
        return log
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func theFastPathDecidesAsTheGeneralEvaluator(seed: UInt64) {
        let fast = run(fastPath: true, seed: seed), general = run(fastPath: false, seed: seed)
        // The stream is busy enough to exercise every rule: each one fires somewhere.
        for name in ["hot", "held", "sum_high", "kalshi", "not_poly", "avg_high", "p95_high", "low_max", "rising", "flat", "recent", "not_a", "no_market", "mixed"] {
            #expect(fast.contains { $0.contains(" \(name)[") && $0.contains(" firing ") }, "\(name) never fires")
        }
        // `market!=""` on series without a market label: the fast path's `!=` of an empty value.
        #expect(!fast.contains { $0.contains(" none_here[") }, "none_here fired")
        #expect(fast.count == general.count)
        for (k, (a, b)) in zip(fast, general).enumerated() where a != b {
            Issue.record("transition \(k): fast path \(a), general \(b)")
            break
        }
    }
}

/// A window's deadline (its oldest sample leaving) is remembered per window by its sole simple
/// reader, so a sample that finds it unchanged does not schedule it again (`stepSimple`,
/// `HintMemo`). These pin what must still be scheduled: after another deadline of the same
/// rule and series ran (its key left the schedule), and after a reload (the schedule emptied).
struct WindowDeadlineMemoTests {
    static let rules = """
        metric x labels venue
        alert avg_held { when avg(x over 30s) > 5 for 10s; severity warning; notify slack }
        """

    /// The transitions (`t alert{labels} state value`) of an engine with the fast path, after
    /// checking that one without it made the same ones.
    func fastPathLog(sourceLocation: Testing.SourceLocation = #_sourceLocation, _ body: (Rig) -> Void) -> [String] {
        let fast = Rig(Self.rules), general = Rig(Self.rules, fastPath: false)
        body(fast)
        body(general)
        #expect(fast.log == general.log, sourceLocation: sourceLocation)
        return fast.log
    }

    @Test func theWindowsDeadlineRunsAfterTheForTimerBeforeIt() {
        // The `for` timer (10 s) runs before the window's deadline (30 s) and takes the key off
        // the schedule: its evaluation must put the window's deadline back, though a sample
        // had already scheduled that same instant.
        let fast = fastPathLog { rig in
            rig.metric(0, "x", 10, #"{"venue":"kalshi"}"#)
            rig.metric(1, "x", 10, #"{"venue":"kalshi"}"#)
            rig.run(to: 60)
        }
        #expect(fast == ["0s avg_held{venue=kalshi} pending 10.0", "10s avg_held{venue=kalshi} firing 10.0", "31s avg_held{venue=kalshi} resolved 10.0"])
    }

    @Test func aReloadSchedulesTheRememberedDeadlinesAgain() {
        // A sample at 0 s schedules the window's deadline (30 s) and remembers it; a reload
        // empties the schedule. Its evaluation of every series, and the sample after it, find
        // the same deadline remembered: it must be scheduled again, or the alert never resolves.
        let fast = fastPathLog { rig in
            rig.metric(0, "x", 10, #"{"venue":"kalshi"}"#)
            rig.run(to: 15)
            rig.reload(Self.rules)
            rig.metric(16, "x", 10, #"{"venue":"kalshi"}"#)
            rig.run(to: 60)
        }
        #expect(fast == ["0s avg_held{venue=kalshi} pending 10.0", "10s avg_held{venue=kalshi} firing 10.0", "46s avg_held{venue=kalshi} resolved 10.0"])
    }

    @Test func aReloadReEvaluatesEverySeriesOfASimpleRule() {
        // After a reload, with no sample after it, each series' window deadline must be derived
        // again, as the general evaluator does for every series of the metric.
        let fast = fastPathLog { rig in
            rig.metric(0, "x", 10, #"{"venue":"kalshi"}"#)
            rig.metric(0, "x", 10, #"{"venue":"polymarket"}"#)
            rig.run(to: 15)
            rig.reload(Self.rules)
            rig.run(to: 60)
        }
        #expect(fast.suffix(2) == ["30s avg_held{venue=kalshi} resolved 10.0", "30s avg_held{venue=polymarket} resolved 10.0"])
    }
}

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
        alert kalshi_sum { when sum(m0{venue="kalshi"} over 1m) > 15; severity info; notify slack }
        alert avg_low { when avg(m0 over 30s) < 3; severity info; notify slack }
        alert few { when count(m1 over 45s) < 2 for 5s; severity info; notify slack }
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
        for name in ["hot", "held", "sum_high", "kalshi", "not_poly", "avg_high", "p95_high", "low_max", "rising", "flat", "recent", "not_a", "no_market", "mixed", "kalshi_sum", "avg_low", "few"] {
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

/// The transitions (`t alert{labels} state value`) of `body` through an engine over `rules`
/// with the fast path, after checking that one without it made the same ones.
func checkedFastPathLog(_ rules: String, sourceLocation: Testing.SourceLocation = #_sourceLocation, _ body: (Rig) -> Void) -> [String] {
    let fast = Rig(rules), general = Rig(rules, fastPath: false)
    body(fast)
    body(general)
    #expect(fast.log == general.log, sourceLocation: sourceLocation)
    return fast.log
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

    func fastPathLog(sourceLocation: Testing.SourceLocation = #_sourceLocation, _ body: (Rig) -> Void) -> [String] {
        checkedFastPathLog(Self.rules, sourceLocation: sourceLocation, body)
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

/// A metric's thresholds on the last value are asked as one by a sample's pass while none has
/// an instance (`QuietThresholds`): a value in the interval none of them holds steps none of
/// them. These pin the interval at its edges (a value equal to a threshold, the next double on
/// either side, infinities and NaN) and that an instance of any of them turns the test off.
struct QuietThresholdTests {
    static let rules = """
        metric q labels venue
        alert above { when q > 5; severity warning; notify slack }
        alert at_least { when q >= 7; severity warning; notify slack }
        alert below { when q < -5; severity warning; notify slack }
        alert at_most { when q <= -7 for 2s; severity warning; notify slack }
        alert kalshi_above { when q{venue="kalshi"} > 6; severity info; notify slack }
        alert avg_above { when avg(q over 10s) > 4; severity info; notify slack }
        """

    /// The transitions of `values` (one a second, alternating two series) through an engine
    /// with the fast path, after checking that one without it made the same ones.
    func log(_ values: [Double], sourceLocation: Testing.SourceLocation = #_sourceLocation) -> [String] {
        checkedFastPathLog(Self.rules, sourceLocation: sourceLocation) { rig in
            for (k, v) in values.enumerated() {
                let venue = k % 2 == 0 ? "kalshi" : "polymarket"
                let at = Instant(nanoseconds: Int64(k + 1) * second)
                guard let s = rig.engine.sample(metric: "q", labels: [Label("venue", venue)], value: .number(v), at: at) else {
                    Issue.record("no series", sourceLocation: sourceLocation)
                    return
                }
                rig.engine.apply([s])
            }
            rig.run(to: Double(values.count + 30))
        }
    }

    @Test func theIntervalOfAMetricsThresholds() {
        let lint = Rig.lint(Self.rules)
        let engine = Engine(rules: lint, start: Instant(nanoseconds: 0))
        let m = Int(engine.symbols.metricID("q")!)
        // q > 5, q >= 7, q < -5, q <= -7 and q{venue="kalshi"} > 6: the window's rule is not one.
        #expect(engine.quiet[m].lo == -5 && engine.quiet[m].hi == 5 && engine.quiet[m].count == 5)
        #expect(engine.quiet[m].otherEnd - engine.quiet[m].otherStart == 1)
    }

    @Test func theIntervalAtInfinitiesAndNaN() {
        func interval(_ op: BinaryOperator, _ x: Double) -> (Double, Double) {
            var q = QuietThresholds(otherStart: 0)
            q.admit(SimpleCondition(.binary(op, .instant(SeriesSelector(metric: 0, matchers: [])), .number(x)))!)
            return (q.lo, q.hi)
        }
        #expect(interval(.greater, 3) == (-.infinity, 3))
        #expect(interval(.greaterEqual, 3) == (-.infinity, 3.0.nextDown))
        #expect(interval(.less, 3) == (3, .infinity))
        #expect(interval(.lessEqual, 3) == (3.0.nextUp, .infinity))
        #expect(interval(.greater, .infinity) == (-.infinity, .infinity)) // never holds
        #expect(interval(.greaterEqual, .infinity) == (-.infinity, .greatestFiniteMagnitude))
        #expect(interval(.greaterEqual, -.infinity) == (.infinity, -.infinity)) // holds for every number
        #expect(interval(.lessEqual, .infinity) == (.infinity, -.infinity))
        #expect(interval(.lessEqual, -.infinity) == (-.greatestFiniteMagnitude, .infinity))
        #expect(interval(.greater, .nan) == (-.infinity, .infinity))
        #expect(interval(.equal, 3) == (.infinity, -.infinity))
        #expect(interval(.notEqual, 3) == (.infinity, -.infinity))
    }

    @Test func valuesAtTheEdgesDecideAsTheGeneralEvaluator() {
        let edges: [Double] = [0, 5, 5.0.nextUp, 5, 5.0.nextDown, 6, 6.0.nextUp, 7.0.nextDown, 7, 0, -5, (-5.0).nextDown, -5, (-5.0).nextUp,
                               -7, -7, -7, -7, 0, .infinity, 0, -.infinity, 0, .nan, 0, .nan, .greatestFiniteMagnitude, 0]
        let log = log(edges)
        // Each threshold fires at its edge and not at the value before it (the equal one, or the
        // next double inside), and resolves when the value comes back inside.
        let thresholds = log.filter { !$0.contains("avg_above") }
        #expect(thresholds.prefix(11) == ["3s above{venue=kalshi} firing 5.000000000000001", "5s above{venue=kalshi} resolved 4.999999999999999",
                                          "6s above{venue=polymarket} firing 6.0", "7s above{venue=kalshi} firing 6.000000000000001",
                                          "7s kalshi_above{venue=kalshi} firing 6.000000000000001", "9s at_least{venue=kalshi} firing 7.0",
                                          "10s above{venue=polymarket} resolved 0.0", "11s above{venue=kalshi} resolved -5.0",
                                          "11s at_least{venue=kalshi} resolved -5.0", "11s kalshi_above{venue=kalshi} resolved -5.0",
                                          "12s below{venue=polymarket} firing -5.000000000000001"])
        #expect(log.contains("20s above{venue=polymarket} firing inf") && log.contains("22s below{venue=polymarket} firing -inf"))
        // NaN holds no threshold: the instance that held resolves, and nothing fires on it.
        #expect(log.contains("24s below{venue=polymarket} resolved nan"))
        #expect(!log.contains { $0.contains(" firing nan") || $0.contains(" pending nan") })
        #expect(log.contains("27s at_least{venue=kalshi} firing 1.7976931348623157e+308"))
    }

    @Test func anInstanceOfOneThresholdTurnsTheTestOff() {
        // Values in the interval (0 at 4 s and 5 s) must still step the thresholds that have
        // instances: resolve `below` on each series, `at_most` where it fired, and end the
        // other's pending `at_most` (silently) so that it does not fire at 4 s.
        let log = log([-7, -8, -7, 0, 0, 0])
        #expect(log == ["1s below{venue=kalshi} firing -7.0", "1s at_most{venue=kalshi} pending -7.0", "2s below{venue=polymarket} firing -8.0",
                        "2s at_most{venue=polymarket} pending -8.0", "3s at_most{venue=kalshi} firing -7.0", "4s below{venue=polymarket} resolved 0.0",
                        "5s below{venue=kalshi} resolved 0.0", "5s at_most{venue=kalshi} resolved 0.0"])
    }

    @Test func aQuietPassCountsAsEachThresholdsEvaluation() {
        let rig = Rig(Self.rules)
        rig.metric(3, "q", 0, #"{"venue":"kalshi"}"#)
        let at = rig.engine.lastEvaluations
        for name in ["above", "at_least", "below", "at_most", "kalshi_above", "avg_above"] { #expect(at[name] == Instant(nanoseconds: 3 * second), "\(name)") }
    }
}

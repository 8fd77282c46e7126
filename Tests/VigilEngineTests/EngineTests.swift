import Foundation
import Testing
@testable import VigilEngine
@testable import VigilRules

let second: Int64 = 1_000_000_000

/// An engine over rule text, fed with lines stamped in seconds from t = 0.
final class Rig {
    let engine: Engine

    init(_ rules: String, staleAfter: Int64 = 300 * second, fastPath: Bool = true) {
        var config = EngineConfig()
        config.staleAfter = staleAfter
        engine = Engine(rules: Rig.lint(rules), config: config, start: Instant(nanoseconds: 0), fastPath: fastPath)
    }

    static func lint(_ rules: String) -> LintResult {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: rules)])
        precondition(lint.errorCount == 0, "\(lint.diagnostics.map(DiagnosticRenderer.text))")
        return lint
    }

    func reload(_ rules: String) { engine.reload(rules: Rig.lint(rules)) }

    func send(_ at: Double, _ json: String) {
        let ns = Int64((at * 1e9).rounded())
        let line = "{\"timestamp_ns\":\(ns)," + json.dropFirst()
        #expect(engine.ingest(line, arrival: Instant(nanoseconds: ns)) == nil, "\(line)")
    }

    func metric(_ at: Double, _ name: String, _ value: Double, _ labels: String = "{}") {
        send(at, "{\"metric\":\"\(name)\",\"labels\":\(labels),\"value\":\(value)}")
    }

    func run(to seconds: Double) { engine.advance(through: Instant(nanoseconds: Int64((seconds * 1e9).rounded()))) }

    /// Transitions so far as `t alert{labels} state value`.
    var log: [String] {
        engine.transitions.map { t in
            let labels = t.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            return "\(fmt(t.at)) \(t.alert){\(labels)} \(t.state.rawValue) \(t.value)"
        }
    }

    func fmt(_ i: Instant) -> String {
        let ns = i.nanoseconds
        return ns % second == 0 ? "\(ns / second)s" : "\(ns)ns"
    }
}

struct EngineTests {
    @Test func theConfigsEngineSettings() {
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: "stale_after 10m\nmax_series 500\nmax_line 64kb\nfallback slack\n", kind: .config))
        let c = EngineConfig(config: file)
        #expect(c.staleAfter == 600_000_000_000)
        #expect(c.seriesCap == 500)
        #expect(c.maxLine == 65_536)
        let d = EngineConfig(config: nil)
        #expect((d.staleAfter, d.seriesCap, d.maxLine) == (300_000_000_000, 10_000, 1 << 20))
    }

    @Test func forHoldsThenFiresExactlyAtTheDeadline() {
        let rig = Rig("metric lat unit ms labels venue\nalert high { when lat > 2000ms for 2min; severity warning; notify slack }")
        rig.metric(10, "lat", 2500, #"{"venue":"kalshi"}"#)
        rig.metric(70, "lat", 2600, #"{"venue":"kalshi"}"#)
        rig.run(to: 129.999)
        #expect(rig.log == ["10s high{venue=kalshi} pending 2500.0"])
        rig.run(to: 130)
        #expect(rig.log == ["10s high{venue=kalshi} pending 2500.0", "130s high{venue=kalshi} firing 2600.0"])
        rig.metric(200, "lat", 100, #"{"venue":"kalshi"}"#)
        #expect(rig.log.last == "200s high{venue=kalshi} resolved 100.0")
    }

    @Test func aFalseEvaluationWhilePendingStartsOver() {
        let rig = Rig("metric lat unit ms\nalert high { when lat > 2s for 2min; severity warning; notify slack }")
        rig.metric(0, "lat", 2500)
        rig.metric(60, "lat", 100)   // back to inactive
        rig.metric(90, "lat", 2500)  // pending again from 90
        rig.run(to: 209)
        #expect(rig.log == ["0s high{} pending 2500.0", "90s high{} pending 2500.0"])
        rig.run(to: 210)
        #expect(rig.log.last == "210s high{} firing 2500.0")
    }

    @Test func resolveAfterNeedsTheConditionFalseThatLong() {
        let rig = Rig("metric x\nalert a { when x > 1; severity info; notify slack; resolve after 1min }")
        rig.metric(0, "x", 5)
        rig.metric(10, "x", 0)   // false from 10
        rig.metric(40, "x", 5)   // true again: the clock restarts
        rig.metric(50, "x", 0)   // false from 50
        rig.run(to: 109)
        #expect(rig.log == ["0s a{} firing 5.0"])
        rig.run(to: 110)
        #expect(rig.log == ["0s a{} firing 5.0", "110s a{} resolved 0.0"])
    }

    @Test func aStaleSeriesResolvesItsAlert() {
        let rig = Rig("metric x labels v\nalert a { when x > 1; severity info; notify slack }", staleAfter: 300 * second)
        rig.metric(0, "x", 5, #"{"v":"1"}"#)
        rig.run(to: 299)
        #expect(rig.log == ["0s a{v=1} firing 5.0"])
        rig.run(to: 300)
        #expect(rig.log.last == "300s a{v=1} resolved 5.0")
    }

    @Test func timeSinceLastUpdateFiresThirtySecondsAfterTheLastMessage() {
        let rig = Rig("metric x\nalert stale { when time_since_last_update > 30s; severity warning; notify slack }")
        // Before any message the clock counts from the engine's start (a trader that never connects).
        rig.run(to: 31)
        #expect(rig.log == ["30000000001ns stale{} firing 30.000000001"])
        rig.metric(100, "x", 1)
        rig.metric(120, "x", 1)
        rig.run(to: 150)
        #expect(rig.log.count == 2)
        rig.run(to: 151)
        // Strictly more than 30 s: one nanosecond after the 30 s mark.
        #expect(rig.log == ["30000000001ns stale{} firing 30.000000001", "100s stale{} resolved 0.0",
                            "150000000001ns stale{} firing 30.000000001"])
        rig.metric(160, "x", 1)
        #expect(rig.log.last == "160s stale{} resolved 0.0")
    }

    @Test func stringComparisonsAndHealthLines() {
        let rig = Rig("alert down { when service_status == 'down' for > 30s; severity critical; notify pager }")
        rig.send(0, #"{"service":"kalshi_adapter","status":"down"}"#)
        rig.send(10, #"{"service":"redis","status":"healthy"}"#)
        rig.send(20, #"{"service":"kalshi_adapter","status":"down"}"#)
        rig.run(to: 30)
        #expect(rig.log == ["0s down{service=kalshi_adapter} pending \(Double(rig.engine.symbols.stringID("down")))",
                            "30s down{service=kalshi_adapter} firing \(Double(rig.engine.symbols.stringID("down")))"])
        rig.send(40, #"{"service":"kalshi_adapter","status":"healthy"}"#)
        #expect(rig.log.last?.hasPrefix("40s down{service=kalshi_adapter} resolved") == true)
    }

    @Test func eventsFireOnceAndResolveRightAfter() {
        let rig = Rig("event spec_validation_changed\nalert changed { when spec_validation_changed; severity info; notify slack }")
        rig.send(5, #"{"service":"normalizer","event":"spec_validation_changed","market":"FED"}"#)
        rig.run(to: 10)
        #expect(rig.log == ["5s changed{market=FED,service=normalizer} firing 1.0",
                            "5000000001ns changed{market=FED,service=normalizer} resolved 0.0"])
        #expect(rig.engine.transitions.allSatisfy { $0.isEvent })
    }

    @Test func vectorMatchingOnSharedLabelsAndBroadcast() {
        let rig = Rig("""
            metric exposure labels venue
            metric limit labels venue
            metric global_cap
            alert over_limit { when exposure > limit * 1.1; severity critical; notify pager }
            alert over_cap { when exposure > global_cap; severity critical; notify pager }
            """)
        rig.metric(0, "limit", 100, #"{"venue":"kalshi"}"#)
        rig.metric(0, "limit", 1000, #"{"venue":"poly"}"#)
        rig.metric(0, "global_cap", 500)
        rig.metric(1, "exposure", 120, #"{"venue":"kalshi"}"#)  // > 110: fires; < 500
        rig.metric(2, "exposure", 600, #"{"venue":"poly"}"#)    // < 1100; > 500
        #expect(rig.log == ["1s over_limit{venue=kalshi} firing 120.0", "2s over_cap{venue=poly} firing 600.0"])
        rig.metric(3, "limit", 200, #"{"venue":"kalshi"}"#)     // the limit moved: resolves
        #expect(rig.log.last == "3s over_limit{venue=kalshi} resolved 120.0")
    }

    @Test func literalsConvertIntoTheMetricsUnit() {
        let rig = Rig("metric lat unit ms\nconst slow = 2min\nalert a { when lat > slow; severity info; notify slack }")
        rig.metric(0, "lat", 119_999)
        rig.metric(1, "lat", 120_001)
        #expect(rig.log == ["1s a{} firing 120001.0"])
    }

    @Test func trailingOverAveragesEveryBareMetric() {
        let rig = Rig("metric fill_rate unit ratio\nalert low { when fill_rate < 0.7 over 1hour; severity warning; notify slack }")
        rig.metric(0, "fill_rate", 0.9)
        rig.metric(600, "fill_rate", 0.4)   // avg 0.65: fires
        rig.metric(1200, "fill_rate", 0.9)  // avg 0.733: resolves
        #expect(rig.log == ["600s low{} firing 0.65", "1200s low{} resolved 0.7333333333333334"])
    }

    /// `rate`, `increase` and `delta` need two samples in the window: with one they are absent
    /// (as in Prometheus), so `rate(x) < 1` does not fire on a counter's first sample.
    @Test func rateOverOneSampleIsAbsentNotZero() {
        let rig = Rig("metric orders_total\nalert slow { when rate(orders_total over 30s) < 1; severity warning; notify slack }\n"
                      + "alert still { when delta(orders_total over 30s) == 0; severity info; notify slack }\n"
                      + "alert none { when increase(orders_total over 30s) == 0; severity info; notify slack }")
        rig.metric(0, "orders_total", 100)
        #expect(rig.log == [], "one sample: no rate, no delta, no increase (they were 0, and all three fired)")
        rig.metric(10, "orders_total", 400) // 300 in 30 s: 10/s
        rig.metric(20, "orders_total", 400)
        #expect(rig.log == [])
        rig.run(to: 30) // the sample at 0 leaves: 400, 400 is no change
        #expect(rig.log == ["30s slow{} firing 0.0", "30s none{} firing 0.0", "30s still{} firing 0.0"])
        rig.run(to: 40) // only 400 at 20 is left: absent again, so false
        #expect(rig.log.suffix(3) == ["40s none{} resolved 0.0", "40s still{} resolved 0.0", "40s slow{} resolved 0.0"])
    }

    @Test func windowedRulesSeeSamplesLeaveTheWindow() {
        let rig = Rig("metric errors\nalert bursts { when sum(errors over 1min) > 3; severity warning; notify slack }")
        for t in [0.0, 10, 20, 30] { rig.metric(t, "errors", 1) }
        #expect(rig.log == ["30s bursts{} firing 4.0"])
        rig.run(to: 60)   // the sample at 0 leaves at 60: sum 3
        #expect(rig.log.last == "60s bursts{} resolved 3.0")
    }

    @Test func flappingIsMarkedAfterSixChangesInTenMinutes() {
        let rig = Rig("metric x\nalert a { when x > 1; severity info; notify slack }")
        for k in 0..<8 { rig.metric(Double(k * 30), "x", k % 2 == 0 ? 5 : 0) }
        #expect(rig.engine.transitions.map(\.flapping) == [false, false, false, false, false, false, true, true])
    }

    @Test func nextDeadlineIsExactSoDriversNeedNoPolling() {
        let rig = Rig("metric x\nalert a { when x > 1 for 90s; severity info; notify slack }")
        rig.metric(10, "x", 5)
        #expect(rig.engine.nextDeadline == Instant(nanoseconds: 100 * second))
    }

    @Test func anUndeclaredMetricThatArrivesAsAnEventKeepsEventSemantics() {
        // `spec_changed` is undeclared, so the rule compiles before the stream says what it is.
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.json", text: #"{"a": {"condition": "spec_changed > 0", "notification": ["slack"], "escalation": "none"}}"#)])
        let engine = Engine(rules: lint, start: Instant(nanoseconds: 0))
        engine.ingest(#"{"timestamp_ns":5000000000,"service":"n","event":"spec_changed"}"#, arrival: Instant(nanoseconds: 0))
        engine.advance(through: Instant(nanoseconds: 10_000_000_000))
        #expect(engine.transitions.map { "\($0.state.rawValue)@\($0.at.nanoseconds)" } == ["firing@5000000000", "resolved@5000000001"])
        #expect(engine.transitions.map(\.isEvent) == [true, true], "the stream made it an event: the router sends no resolve")
    }

    @Test func upFollowsTheConnection() {
        let rig = Rig("alert down { when up == 0 for 10s; severity critical; notify pager }")
        rig.engine.setConnected(false, at: Instant(nanoseconds: 5 * second))
        rig.run(to: 15)
        #expect(rig.log == ["5s down{} pending 0.0", "15s down{} firing 0.0"])
        rig.engine.setConnected(true, at: Instant(nanoseconds: 20 * second))
        #expect(rig.log.last == "20s down{} resolved 1.0")
    }

    @Test func ageCrossesItsThresholdExactlyAndIgnoresStaleness() {
        let rig = Rig("metric x\nalert old { when age(x) > 10min; severity warning; notify slack }", staleAfter: 300 * second)
        rig.metric(0, "x", 1)
        rig.run(to: 600)
        #expect(rig.log == [])
        rig.run(to: 601)
        #expect(rig.log == ["600000000001ns old{} firing 600.000000001"])
    }

    @Test func absentHoldsUntilASampleAndAfterStaleness() {
        let rig = Rig("metric x\nalert gone { when absent(x); severity warning; notify slack }", staleAfter: 60 * second)
        #expect(rig.log == ["0s gone{} firing 1.0"])
        rig.metric(10, "x", 1)
        rig.run(to: 69)
        #expect(rig.log == ["0s gone{} firing 1.0", "10s gone{} resolved 0.0"])
        rig.run(to: 70)
        #expect(rig.log.last == "70s gone{} firing 1.0")
    }

    @Test func absClampAndHealthChecks() {
        let rig = Rig("""
            metric drift
            alert drifting { when abs(drift) > 5; severity info; notify slack }
            alert capped { when clamp(drift, -3, 3) <= -3; severity info; notify slack }
            alert check { when health_check{check="websocket_connected"} == 0; severity warning; notify slack }
            """)
        rig.metric(0, "drift", -7)
        rig.send(1, #"{"service":"kalshi_adapter","status":"down","details":{"websocket_connected":false,"recent_data":true}}"#)
        #expect(rig.log == ["0s drifting{} firing 7.0", "0s capped{} firing -3.0",
                            "1s check{check=websocket_connected,service=kalshi_adapter} firing 0.0"])
    }

    @Test func aReloadKeepsWindowsAndUnchangedInstances() {
        let rules = "metric x\nalert avg_high { when avg(x over 10min) > 5; severity info; notify slack }\n"
        let rig = Rig(rules)
        rig.metric(0, "x", 10)
        rig.metric(60, "x", 8)
        #expect(rig.log == ["0s avg_high{} firing 10.0"])
        let more = rules + "alert max_high { when max(x over 10min) > 9; severity info; notify slack }\n"
        rig.engine.reload(rules: Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: more)]))
        rig.metric(120, "x", 6)
        // The new rule is evaluated at the reload (60 s) over the kept window, so it sees the old 10;
        // avg_high (unchanged) keeps firing from 0 s without firing again.
        #expect(rig.log == ["0s avg_high{} firing 10.0", "60s max_high{} firing 10.0"])
        #expect(rig.engine.instances(of: "avg_high").first?.activeAt == Instant(nanoseconds: 0))
    }

    @Test func onlyRulesReadingAMetricAreEvaluated() {
        let rig = Rig("metric a\nmetric b\nalert x { when a > 1; severity info; notify s }\nalert y { when b > 1; severity info; notify s }"
            .replacingOccurrences(of: "notify s ", with: "notify slack "))
        let before = rig.engine.evaluations
        rig.metric(0, "a", 5)
        #expect(rig.engine.evaluations - before == 1)
    }
}

struct WindowPhaseTests {
    /// Series' windows start their buckets at phases of their own, spread over a bucket's
    /// width (so their window deadlines do not all fall on one instant), and a series' phase
    /// comes from its name and labels, not the order series came in: the same in every run.
    @Test func eachSeriesWindowsHaveAPhaseOfTheirOwnTheSameInEveryRun() {
        let rules = "metric m labels k\nalert a { when avg(m over 5m) > 800; severity info; notify slack }\n"
        let first = Rig(rules), again = Rig(rules)
        let keys = (0..<1000).map { "s\($0)" }
        for (i, k) in keys.enumerated() { first.metric(Double(i) / 1000, "m", 1, #"{"k":"\#(k)"}"#) }
        for (i, k) in keys.reversed().enumerated() { again.metric(Double(i) / 1000, "m", 1, #"{"k":"\#(k)"}"#) }
        func phases(_ rig: Rig) -> [String: Int64] {
            let e = rig.engine
            var out: [String: Int64] = [:]
            for id in 0..<e.symbols.seriesCount {
                let state = e.seriesState[id]
                guard state.windowCount == 1 else { continue }
                let labels = e.symbols.labels(e.symbols.seriesLabels[id])
                out[labels.map { "\($0.name)=\($0.value)" }.joined()] = e.windows[Int(state.windowBase)].phase
            }
            return out
        }
        let a = phases(first), b = phases(again)
        #expect(a.count == 1000 && a == b)
        // Over ten tenths of the 5 s bucket width, 1,000 phases put ~100 in each.
        let width = 5 * second
        var bins = [Int](repeating: 0, count: 10)
        for p in a.values { bins[Int(p * 10 / width)] += 1 }
        #expect(bins.allSatisfy { $0 > 60 && $0 < 140 }, "\(bins)")
    }
}

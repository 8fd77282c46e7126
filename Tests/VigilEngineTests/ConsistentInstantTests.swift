import Foundation
import Testing
@testable import VigilEngine
@testable import VigilRules

/// SPEC §1.2, consistent instants: what one batch carries for one timestamp is applied whole
/// before the rules reading it are evaluated, once each.
struct ConsistentInstantTests {
    func stamped(_ at: Double, _ metric: String, _ value: Double) -> String {
        #"{"timestamp_ns":\#(Int64(at * 1e9)),"metric":"\#(metric)","value":\#(value)}"#
    }

    /// Two counters that move together: a half-applied instant would show them apart.
    @Test func twoLinesOfOneTimestampAreOneInstant() {
        let rig = Rig("metric sent\nmetric acked\nalert unacked { when sent - acked > 0; severity warning; notify slack }")
        var rejects: [Int] = []
        for n in 1...10 {
            let batch = LineBatch([stamped(Double(n), "sent", Double(n)), stamped(Double(n), "acked", Double(n))])
            rig.engine.ingest(batch, arrival: Instant(nanoseconds: Int64(n) * second)) { k, _ in rejects.append(k) }
        }
        #expect(rig.log == [])
        #expect(rejects == [])
        #expect(rig.engine.samplesApplied == 20)
        // Line by line, the same stream is seen half-applied at every step.
        let single = Rig("metric sent\nmetric acked\nalert unacked { when sent - acked > 0; severity warning; notify slack }")
        for n in 1...3 {
            single.metric(Double(n), "sent", Double(n))
            single.metric(Double(n), "acked", Double(n))
        }
        // From the second step on, each step fires on `sent` and resolves on `acked`.
        #expect(single.log == ["2s unacked{} firing 1.0", "2s unacked{} resolved 0.0", "3s unacked{} firing 1.0", "3s unacked{} resolved 0.0"])
    }

    /// Each rule a batch's instant affects is evaluated once for it, however many lines feed it;
    /// a rule per series is evaluated once per series.
    @Test func aRuleFedByManyLinesOfOneInstantIsEvaluatedOnce() {
        let rig = Rig("""
            metric sent
            metric acked
            metric a labels k
            alert unacked { when sent - acked > 0; severity warning; notify slack }
            alert high { when a > 1; severity info; notify slack }
            """)
        var before = rig.engine.evaluations
        rig.engine.ingest(LineBatch([stamped(1, "sent", 1), stamped(1, "acked", 1)]), arrival: Instant(nanoseconds: second)) { _, _ in }
        #expect(rig.engine.evaluations - before == 1)
        let lines = (0..<50).map { #"{"timestamp_ns":2000000000,"metric":"a","labels":{"k":"\#($0)"},"value":0}"# }
        before = rig.engine.evaluations
        rig.engine.ingest(LineBatch(lines), arrival: Instant(nanoseconds: 2 * second)) { _, _ in }
        #expect(rig.engine.evaluations - before == 50)
    }

    /// A lone sample at its instant is evaluated as it is stored, without the queue a batch's
    /// instant fills: the same transitions in the same (rule) order as the queued path, with the
    /// stream's last message already moved for a rule that reads it, and a sample older than
    /// its series' last reported on its line.
    @Test func aLoneSampleIsEvaluatedAsTheQueuedPathWould() {
        let rules = """
            metric x labels k
            alert fresh_high { when x > 1 and time_since_last_update < 1s; severity info; notify slack }
            alert high { when x > 2; severity info; notify slack }
            """
        let lone = Rig(rules), queued = Rig(rules)
        for (n, v) in [(5.0, 3.0), (6.0, 0.0), (7.0, 1.5)] {
            lone.engine.ingest(LineBatch([#"{"timestamp_ns":\#(Int64(n * 1e9)),"metric":"x","labels":{"k":"a"},"value":\#(v)}"#]),
                               arrival: Instant(nanoseconds: Int64(n) * second)) { _, _ in }
            // The same sample beside one of another series: an instant of two, through the queue.
            queued.engine.ingest(LineBatch([#"{"timestamp_ns":\#(Int64(n * 1e9)),"metric":"x","labels":{"k":"a"},"value":\#(v)}"#,
                                            #"{"timestamp_ns":\#(Int64(n * 1e9)),"metric":"x","labels":{"k":"b"},"value":0}"#]),
                                 arrival: Instant(nanoseconds: Int64(n) * second)) { _, _ in }
        }
        let expected = ["5s fresh_high{k=a} firing 3.0", "5s high{k=a} firing 3.0", "6s fresh_high{k=a} resolved 0.0",
                        "6s high{k=a} resolved 0.0", "7s fresh_high{k=a} firing 1.5"]
        #expect(lone.log == expected)
        #expect(queued.log == expected)
        var rejects: [Int] = []
        lone.engine.ingest(LineBatch([#"{"timestamp_ns":6500000000,"metric":"x","labels":{"k":"a"},"value":9}"#]),
                           arrival: Instant(nanoseconds: 8 * second)) { k, reason in
            #expect(reason == .outOfOrder)
            rejects.append(k)
        }
        #expect(rejects == [0])
        #expect(lone.engine.rejected[.outOfOrder] == 1)
    }

    /// Lines of different timestamps in one batch are successive instants, in order.
    @Test func aBatchOfSeveralTimestampsStepsThroughThem() {
        let rig = Rig("metric x\nalert a { when x > 1; severity info; notify slack }")
        let batch = LineBatch([stamped(1, "x", 5), stamped(2, "x", 0), stamped(3, "x", 5)])
        rig.engine.ingest(batch, arrival: Instant(nanoseconds: 3 * second)) { _, _ in }
        #expect(rig.log == ["1s a{} firing 5.0", "2s a{} resolved 0.0", "3s a{} firing 5.0"])
    }

    /// Each rejected line is named once by its index, whatever the reason: not JSON, out of
    /// order (its sample older than the series' last), over the series cap.
    @Test func rejectsNameTheirLines() {
        let rig = Rig("metric x\nalert a { when x > 1; severity info; notify slack }")
        let batch = LineBatch([stamped(5, "x", 0), "not json", stamped(4, "x", 9), stamped(6, "x", 0)])
        var rejects: [String] = []
        rig.engine.ingest(batch, arrival: Instant(nanoseconds: 6 * second)) { k, r in rejects.append("\(k) \(r.rawValue)") }
        #expect(rejects == ["1 not_json", "2 out_of_order"])
        // A line found out of order after a later line was rejected is still named.
        let later = LineBatch([stamped(3, "x", 9), "not json"])
        rejects.removeAll()
        rig.engine.ingest(later, arrival: Instant(nanoseconds: 7 * second)) { k, r in rejects.append("\(k) \(r.rawValue)") }
        #expect(rejects == ["1 not_json", "0 out_of_order"])
        #expect(rig.log == [], "the out-of-order 9 was dropped, not applied")
        #expect(rig.engine.samplesApplied == 2)
    }
}

/// An always-firing watchdog (`when true`), for dead man's switches behind Alertmanager or
/// PagerDuty: it fires at the first instant, with no series, and stays firing.
struct WatchdogTests {
    @Test func whenTrueFiresAtOnceAndStays() {
        let rig = Rig("alert watchdog { when true; severity info; notify slack }")
        rig.run(to: 0)
        rig.run(to: 3600)
        #expect(rig.log == ["0s watchdog{} firing 1.0"])
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: "alert watchdog { when true; severity info; notify slack }\nalert odd { when 1 > 0; severity info; notify slack }")])
        #expect(lint.diagnostics.map(\.code) == ["constant-condition"], "only the comparison that reads nothing warns")
    }
}

import Foundation
import Testing
@testable import VigilEngine
@testable import VigilRules

/// `histogram_quantile` against Prometheus' own algorithm, worked by hand; a real Prometheus
/// computes the same numbers in `PrometheusPeerTests`.
struct HistogramTests {
    /// Bucket lines of `feed_latency_seconds` for one venue: cumulative counts per bound.
    func buckets(_ at: Double, venue: String = "kalshi", _ counts: [(String, Double)]) -> [String] {
        counts.map { le, n in
            #"{"timestamp_ns":\#(Int64(at * 1e9)),"metric":"feed_latency_seconds_bucket","labels":{"le":"\#(le)","venue":"\#(venue)"},"value":\#(n)}"#
        }
    }

    func rig(_ when: String) -> Rig {
        Rig("metric feed_latency_seconds_bucket labels le, venue\nalert slow { when \(when); severity warning; notify slack }")
    }

    func feed(_ rig: Rig, _ lines: [String], at: Double) {
        rig.engine.ingest(LineBatch(lines), arrival: Instant(nanoseconds: Int64(at * 1e9))) { _, r in Issue.record("rejected: \(r)") }
    }

    @Test func theQuantileIsInterpolatedInsideItsBucketOverTheIncrease() {
        let r = rig("histogram_quantile(0.95, feed_latency_seconds over 5m) > 2s")
        feed(r, buckets(0, [("0.5", 0), ("1", 0), ("2.5", 0), ("5", 0), ("+Inf", 0)]), at: 0)
        // 100 observations: 10 ≤ 0.5 s, 10 in (0.5, 1], 20 in (1, 2.5], 60 in (2.5, 5].
        feed(r, buckets(60, [("0.5", 10), ("1", 20), ("2.5", 40), ("5", 100), ("+Inf", 100)]), at: 60)
        // rank 95: in (2.5, 5], 55 of its 60 → 2.5 + 2.5 × 55/60.
        #expect(r.log == ["60s slow{venue=kalshi} firing \(2.5 + 2.5 * 55 / 60)"])
    }

    @Test func prometheusEdgeCases() {
        func q(_ q: Double, _ b: [(Double, Double)]) -> Double? {
            var slice = ArraySlice(b.map { Engine.Bucket(group: 0, upper: $0.0, count: $0.1) })
            return Engine.bucketQuantile(q, &slice)
        }
        #expect(q(0.5, [(1, 10), (2, 20)]) == nil, "no +Inf bucket: NaN")
        #expect(q(0.5, [(1, 0), (.infinity, 0)]) == nil, "no observation: NaN")
        #expect(q(0.99, [(1, 10), (2, 10), (.infinity, 20)]) == 2, "a rank in +Inf: the highest finite bound")
        #expect(q(0.5, [(1, 10), (.infinity, 10)]) == 0.5, "from 0 in the first bucket")
        #expect(q(0.5, [(-1, 10), (.infinity, 10)]) == -1, "a first bound ≤ 0 is returned as is")
        #expect(q(-0.1, [(1, 10), (.infinity, 10)]) == -.infinity)
        #expect(q(1.5, [(1, 10), (.infinity, 10)]) == .infinity)
        // Not monotonic (2 holds 8 < 10 below it): raised to 10, so rank 15 falls in (2, 4].
        #expect(q(0.75, [(1, 10), (2, 8), (4, 20), (.infinity, 20)]) == 3)
        // Equal bounds are one bucket.
        #expect(q(0.5, [(1, 5), (1, 5), (.infinity, 10)]) == 0.5)
    }

    @Test func eachGroupOfBucketsIsAnInstanceAndAResetIsNotANegativeIncrease() {
        let r = rig("histogram_quantile(0.5, feed_latency_seconds over 10m) > 1s")
        feed(r, buckets(0, venue: "kalshi", [("1", 0), ("2", 0), ("+Inf", 0)]) + buckets(0, venue: "poly", [("1", 0), ("2", 0), ("+Inf", 0)]), at: 0)
        feed(r, buckets(60, venue: "kalshi", [("1", 10), ("2", 20), ("+Inf", 20)]) + buckets(60, venue: "poly", [("1", 20), ("2", 20), ("+Inf", 20)]), at: 60)
        // kalshi's median is exactly at 1 (rank 10 of 20 reaches bucket 1): 1.0 > 1 is false.
        #expect(r.log.isEmpty)
        // The trader restarts: kalshi's counters reset to small values, all above 1 s.
        feed(r, buckets(120, venue: "kalshi", [("1", 0), ("2", 10), ("+Inf", 10)]), at: 120)
        // Increase over 10m: ≤1 → 10, ≤2 → 30, +Inf → 30; rank 15 in (1, 2]: 1 + 5/20.
        #expect(r.log == ["120s slow{venue=kalshi} firing 1.25"])
    }

    @Test func lintKnowsTheFunction() {
        func lint(_ when: String) -> [String] {
            Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: "alert a { when \(when); severity warning; notify slack }")])
                .diagnostics.map { "\($0.code): \($0.message)" }
        }
        #expect(lint("histogram_quantile(0.95, feed_latency_seconds over 5m) > 2s") == [])
        #expect(lint("histogram_quantile(0.95, feed_latency_seconds over 5m) > 2000ms") == [], "seconds from the name, compared in any time unit")
        #expect(lint("histogram_quantile(0.95, feed_latency_seconds over 5m) > 2dollars")
                == ["unit-mismatch: cannot compare s (time) with dollars (money)"])
        #expect(lint("histogram_quantile(0.95, feed_latency_seconds) > 2s") == ["missing-window: `histogram_quantile` needs a window: `histogram_quantile(feed_latency_seconds over 5m)`"])
        #expect(lint("histogram_quantile(feed_latency_seconds over 5m) > 2s").first == "arity: `histogram_quantile` takes 2 arguments, found 1")
        #expect(lint("histogram_quantile(1.5, feed_latency_seconds over 5m) > 2s")
                == ["bad-value: `histogram_quantile` takes a number from 0 to 1 first, like `histogram_quantile(0.95, x over 5m)`"])
        #expect(lint("histogram_quantile(0.95, feed_latency_seconds_bucket over 5m) > 2s")
                == ["unknown-name: `histogram_quantile` takes the histogram's name, without `_bucket`"])
        #expect(lint("histogram_quantil(0.95, feed_latency_seconds over 5m) > 2s").first?.hasPrefix("unknown-function") == true)
    }

    @Test func theSeedsLatencyRuleOverTheHistogramCompilesInSeconds() {
        // `> 2000ms` against seconds: the threshold is converted to 2 at compile time.
        let r = rig("histogram_quantile(0.95, feed_latency_seconds over 5m) > 2000ms for > 2min")
        feed(r, buckets(0, [("1", 0), ("2.5", 0), ("5", 0), ("+Inf", 0)]), at: 0)
        feed(r, buckets(10, [("1", 0), ("2.5", 10), ("5", 10), ("+Inf", 10)]), at: 10)
        // rank 9.5 of 10 in (1, 2.5]: 1 + 1.5 × 0.95 = 2.425 s > 2 s.
        #expect(r.log == ["10s slow{venue=kalshi} pending 2.425"])
    }
}

extension HistogramTests {
    /// `rate` and `increase` on a counter that resets (a trader restart) count what the counter
    /// gained, never a negative step: 10 → 40, reset, 0 → 20 is an increase of 30 + 20.
    @Test func rateAndIncreaseHandleCounterResets() {
        let r = Rig("metric orders_total\nalert busy { when increase(orders_total over 10m) > 45; severity info; notify slack }")
        for (t, v) in [(0.0, 10.0), (60, 40), (120, 0), (180, 20)] { r.metric(t, "orders_total", v) }
        #expect(r.log == ["180s busy{} firing 50.0"])
        let rate = Rig("metric orders_total\nalert fast { when rate(orders_total over 10m) > 0.08; severity info; notify slack }")
        for (t, v) in [(0.0, 10.0), (60, 40), (120, 0), (180, 20)] { rate.metric(t, "orders_total", v) }
        // 50 over the 600 s window: 0.0833… per second.
        #expect(rate.log == ["180s fast{} firing \(50.0 / 600)"])
    }
}

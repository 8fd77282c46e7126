import Testing
@testable import VigilRules

struct UnitsTests {
    func q(_ text: String) -> Quantity? { try? Quantity.parse(text).get() }
    func error(_ text: String) -> String? {
        if case .failure(let e) = Quantity.parse(text) { return e.message }
        return nil
    }

    @Test func durationsOfEverySpelling() {
        #expect(q("2min")?.nanoseconds == 120_000_000_000)
        #expect(q("1hour")?.nanoseconds == 3_600_000_000_000)
        #expect(q("1h30m")?.nanoseconds == 5_400_000_000_000)
        #expect(q("30s")?.nanoseconds == 30_000_000_000)
        #expect(q("2000ms")?.nanoseconds == 2_000_000_000)
        #expect(q("1d")?.nanoseconds == 86_400_000_000_000)
        #expect(q("2hrs")?.nanoseconds == 7_200_000_000_000)
        #expect(q("5minutes")?.nanoseconds == 300_000_000_000)
        #expect(q("1.5s")?.nanoseconds == 1_500_000_000)
        #expect(q("1d2h3m4s")?.nanoseconds == 93_784_000_000_000)
    }

    @Test func numbersWithUnderscoresExponentsAndPercent() {
        #expect(q("50_000")?.value == 50_000)
        #expect(q("1e6")?.value == 1_000_000)
        #expect(q("1.5e-3")?.value == 0.0015)
        #expect(q("0.7")?.value == 0.7)
        #expect(q("85%")?.value(in: .ratio) == 0.85)
        #expect(q("0.85")?.unit == nil)
        #expect(q("5_000dollars")?.value(in: .cents) == 500_000)
    }

    @Test func literalsConvertToTheMetricsUnit() {
        #expect(q("2min")?.value(in: .milliseconds) == 120_000)
        #expect(q("2000ms")?.value(in: .seconds) == 2)
        #expect(q("1mb")?.value(in: .bytes) == 1_048_576)
        #expect(q("85%")?.value(in: .percent) == 85)
        // A unitless literal is taken in the metric's own unit.
        #expect(q("2000")?.value(in: .milliseconds) == 2000)
    }

    @Test func malformedNumbersSayWhy() {
        #expect(error("30m1h") == "`30m1h`: units of a compound duration go from largest to smallest (`h` is out of order)")
        #expect(error("2000xs") == "unknown unit `xs` in `2000xs`")
        #expect(error("5dollars3cents") == "`5dollars3cents`: only durations can be compound, like `1h30m`")
        #expect(error("1__0") != nil)
        #expect(error("1_") != nil)
    }

    @Test func metricNameSuffixesImplyUnits() {
        #expect(Unit.implied(byMetricName: "order_response_ms") == .milliseconds)
        #expect(Unit.implied(byMetricName: "probe_duration_seconds") == .seconds)
        #expect(Unit.implied(byMetricName: "edge_cents") == .cents)
        #expect(Unit.implied(byMetricName: "cpu_percent") == .percent)
        #expect(Unit.implied(byMetricName: "fill_ratio") == .ratio)
        #expect(Unit.implied(byMetricName: "heap_bytes") == .bytes)
        #expect(Unit.implied(byMetricName: "process_rss_mb") == .megabytes)
        #expect(Unit.implied(byMetricName: "feed_latency_p95") == nil)
    }

    @Test func suggestionsCatchTyposButNotStrangers() {
        #expect(closest("sevrity", in: Parser.clauseKeywords) == "severity")
        #expect(closest("alret", in: ["alert", "const"]) == "alert")
        #expect(closest("pagr", in: ["pager", "slack"]) == "pager")
        #expect(closest("zebra", in: ["pager", "slack"]) == nil)
    }
}

import Foundation
import Testing
@testable import VigilEngine

/// The exposition parser on the formats as Prometheus documents them and as `prometheus_client`
/// writes them (a real exporter's answer is read in the scrape tests).
struct ExpositionTests {
    let t = Instant(nanoseconds: 1_736_949_600_000_000_000)

    /// Parses `text`; the samples as `name{labels} value`, sorted.
    func parse(_ text: String, _ format: ExpositionParser.Format = .prometheus, symbols: Symbols = Symbols())
        -> Result<([String], ExpositionParser.Outcome), ExpositionParser.Failure> {
        var parser = ExpositionParser()
        var out: [Sample] = []
        var text = text
        let r = text.withUTF8 { parser.parse(UnsafeRawBufferPointer($0), format: format, time: t, symbols: symbols, into: &out) }
        return r.map { outcome in
            let lines = out.map { s -> String in
                #expect(s.time == t)
                let id = Int(s.series)
                let name = symbols.metricName(symbols.seriesMetric[id])
                let labels = symbols.labels(symbols.seriesLabels[id]).map { "\($0.name)=\"\($0.value)\"" }.joined(separator: ",")
                return "\(name){\(labels)} \(s.value)"
            }
            return (lines, outcome)
        }
    }

    @Test func theTextFormatAsPrometheusDocumentsIt() throws {
        // The example of Prometheus' exposition-format documentation.
        let text = """
            # HELP http_requests_total The total number of HTTP requests.
            # TYPE http_requests_total counter
            http_requests_total{method="post",code="200"} 1027 1395066363000
            http_requests_total{method="post",code="400"}    3 1395066363000

            # Escaping in label values:
            msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9

            # Minimalistic line:
            metric_without_timestamp_and_labels 12.47

            # A weird metric from before the epoch:
            something_weird{problem="division by zero"} +Inf -3982045

            # A histogram, which has a pretty complex representation in the text format:
            # HELP http_request_duration_seconds A histogram of the request duration.
            # TYPE http_request_duration_seconds histogram
            http_request_duration_seconds_bucket{le="0.05"} 24054
            http_request_duration_seconds_bucket{le="0.1"} 33444
            http_request_duration_seconds_bucket{le="+Inf"} 144320
            http_request_duration_seconds_sum 53423
            http_request_duration_seconds_count 144320

            # Finally a summary, which has a complex representation, too:
            # HELP rpc_duration_seconds A summary of the RPC duration in seconds.
            # TYPE rpc_duration_seconds summary
            rpc_duration_seconds{quantile="0.01"} 3102
            rpc_duration_seconds{quantile="0.99"} 76656
            rpc_duration_seconds_sum 1.7560473e+07
            rpc_duration_seconds_count 2693
            """
        let (samples, outcome) = try parse(text).get()
        #expect(samples == [
            #"http_requests_total{code="200",method="post"} 1027.0"#,
            #"http_requests_total{code="400",method="post"} 3.0"#,
            #"msdos_file_access_time_seconds{error="Cannot find file:\#n"FILE.TXT"",path="C:\DIR\FILE.TXT"} 1458255915.0"#,
            "metric_without_timestamp_and_labels{} 12.47",
            #"http_request_duration_seconds_bucket{le="0.05"} 24054.0"#,
            #"http_request_duration_seconds_bucket{le="0.1"} 33444.0"#,
            #"http_request_duration_seconds_bucket{le="+Inf"} 144320.0"#,
            "http_request_duration_seconds_sum{} 53423.0",
            "http_request_duration_seconds_count{} 144320.0",
            #"rpc_duration_seconds{quantile="0.01"} 3102.0"#,
            #"rpc_duration_seconds{quantile="0.99"} 76656.0"#,
            "rpc_duration_seconds_sum{} 17560473.0",
            "rpc_duration_seconds_count{} 2693.0",
        ])
        #expect(outcome.nonFinite == 1, "+Inf is a valid value the engine cannot hold: counted, not applied")
        #expect(outcome.samples == 13)
    }

    @Test func whatPrometheusClientWrites() throws {
        // prometheus_client's generate_latest for a Counter, a Histogram and a Gauge.
        let text = """
            # HELP trades_total Trades
            # TYPE trades_total counter
            trades_total{outcome="filled",venue="kalshi"} 3.0
            # HELP trades_created Trades
            # TYPE trades_created gauge
            trades_created{outcome="filled",venue="kalshi"} 1.7369496e+09
            # HELP feed_latency_seconds Feed latency
            # TYPE feed_latency_seconds histogram
            feed_latency_seconds_bucket{le="0.005",venue="kalshi"} 0.0
            feed_latency_seconds_bucket{le="+Inf",venue="kalshi"} 2.0
            feed_latency_seconds_count{venue="kalshi"} 2.0
            feed_latency_seconds_sum{venue="kalshi"} 6.0
            # HELP active_positions Open positions
            # TYPE active_positions gauge
            active_positions 4.0

            """
        let (samples, _) = try parse(text).get()
        #expect(samples.count == 7)
        #expect(samples.contains(#"trades_created{outcome="filled",venue="kalshi"} 1736949600.0"#), "a gauge in the text format, as Prometheus keeps it")
        #expect(samples.contains(#"feed_latency_seconds_bucket{le="+Inf",venue="kalshi"} 2.0"#))
    }

    @Test func openMetricsNeedsEOFDropsCreatedAndIgnoresExemplars() throws {
        let text = """
            # TYPE trades counter
            # UNIT trades trades
            # HELP trades Trades.
            trades_total{venue="kalshi"} 3.0 # {trace_id="abc"} 1.0 1736949600.1
            trades_created{venue="kalshi"} 1.7369496e+09
            # TYPE up gauge
            up 1
            # EOF
            """
        let (samples, outcome) = try parse(text, .openMetrics).get()
        #expect(samples == [#"trades_total{venue="kalshi"} 3.0"#, "up{} 1.0"])
        #expect(outcome.samples == 2)
        #expect(throws: Never.self) { try parse(text + "\n", .openMetrics).get() } // the final newline
        #expect(parse(String(text.dropLast(6)), .openMetrics).map(\.0) == .failure(.init(line: 7, message: "no # EOF at the end (a truncated OpenMetrics answer)")))
        #expect(parse(text + "\nup 2", .openMetrics).map(\.0) == .failure(.init(line: 9, message: "content after # EOF")))
    }

    @Test func anyErrorFailsTheWholeScrapeAndInternsNothing() {
        let symbols = Symbols()
        let before = (symbols.seriesCount, symbols.metricCount)
        let cases: [(String, ExpositionParser.Failure)] = [
            ("a 1\nb{x=\"1\" 2", .init(line: 2, message: "labels must be separated by `,` and closed by `}`")),
            ("a 1\nb one", .init(line: 2, message: "`one` is not a number")),
            ("a{x=1} 1", .init(line: 1, message: "a label value must be quoted")),
            ("a{x=\"1\",x=\"2\"} 1", .init(line: 1, message: "a label name is repeated")),
            ("a{x=\"1} 1", .init(line: 1, message: "a label value is not closed")),
            ("a", .init(line: 1, message: "a sample needs a value after its name and labels")),
            ("9a 1", .init(line: 1, message: "a sample must start with a metric name")),
            ("a 1 2 3", .init(line: 1, message: "unexpected text after the value")),
            ("# TYPE a histogrammm", .init(line: 1, message: "unknown metric type `histogrammm`")),
            ("a{\(String(repeating: "l", count: 3)) = \"\(String(repeating: "v", count: 5000))\"} 1",
             .init(line: 1, message: "a label value is longer than 4096 bytes")),
        ]
        for (text, failure) in cases {
            #expect(parse(text, symbols: symbols).map(\.0) == .failure(failure), "\(text.prefix(40))")
        }
        #expect((symbols.seriesCount, symbols.metricCount) == before, "a refused scrape leaves no series or name behind")
    }

    @Test func commentsAndSpacingTheTextFormatAllows() throws {
        let (samples, _) = try parse("# just a comment\n#\n  \na { x = \"1\" , } \t 2\r\n# TYPE b untyped\nb 3\n").get()
        #expect(samples == [#"a{x="1"} 2.0"#, "b{} 3.0"])
    }

    @Test func seriesOverTheCapAreCountedNotApplied() throws {
        let symbols = Symbols(seriesCap: 2)
        let (samples, outcome) = try parse("a{k=\"1\"} 1\na{k=\"2\"} 1\na{k=\"3\"} 1\n", symbols: symbols).get()
        #expect(samples.count == 2)
        #expect(outcome.capped == 1)
    }

    @Test func numbersAsGoParsesThem() {
        func f(_ s: String) -> Double? { var s = s; return s.withUTF8 { ExpositionParser.float(UnsafeRawBufferPointer($0)) } }
        #expect(f("1") == 1)
        #expect(f("-0.5") == -0.5)
        #expect(f("1.7560473e+07") == 17_560_473)
        #expect(f("1e-3") == 0.001)
        #expect(f(".5") == 0.5)
        #expect(f("5.") == 5)
        #expect(f("+Inf") == .infinity)
        #expect(f("-inf") == -.infinity)
        #expect(f("NaN")?.isNaN == true)
        #expect(f("0.1234567890123456789") == 0.1234567890123456789)
        #expect(f("1e400") == .infinity)
        for bad in ["", "-", "e5", "1e", "1.2.3", "0x10", "1_000", "--1", "inf1"] { #expect(f(bad) == nil, "\(bad)") }
    }
}

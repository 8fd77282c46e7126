import Foundation
import Glibc
import Testing
@testable import VigilCLI

/// `vigil run` scraping a real `prometheus_client` exporter (PyPI; `.ci/run` installs it) in a
/// python child: the trader as it is, with no bridge. Its counters, gauge and histogram drive
/// rules; when the exporter dies its series end at once and `scrape_up` says so.
struct ScrapeRunTests {
    static let python: String? = pythonImports("prometheus_client") ? "python3" : nil
    static let skip = "python3 with prometheus_client is not installed here (pip install prometheus_client); .ci/run installs it"

    /// The trader's metrics, as the seed's trader declares them, served on a port it picks and
    /// says (`ready PORT`).
    static let exporter = """
        import sys, time
        from prometheus_client import Counter, Gauge, Histogram, start_http_server
        trades = Counter('trades_total', 'Trades', ['venue', 'outcome'])
        latency = Histogram('feed_latency_seconds', 'Feed latency', ['venue'])
        positions = Gauge('active_positions', 'Open positions')
        positions.set(7)
        server, _ = start_http_server(0, addr='127.0.0.1')
        print('ready', server.server_port, flush=True)
        while True:
            trades.labels('kalshi', 'filled').inc()
            latency.labels('kalshi').observe(3.0)
            time.sleep(0.05)
        """

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"),
          .enabled(if: ScrapeRunTests.python != nil, "\(ScrapeRunTests.skip)"), .timeLimit(.minutes(1)))
    func aPrometheusClientExporterDrivesRulesAndItsDeathEndsItsSeries() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-scrape-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let (exporter, _, ready) = try PrometheusPeerTests.startExporter(Self.exporter, in: work)
        defer { PrometheusPeerTests.end(exporter) }
        let said = await PrometheusPeerTests.said("ready", on: ready)
        let port = try #require(PrometheusPeerTests.port(in: said), "the exporter said no port: \(said)")

        let conf = work.appendingPathComponent("vigil.conf")
        try Data("""
            channel out { type console }
            escalation_target out
            scrape trader { url "http://127.0.0.1:\(port)/metrics" every 200ms timeout 150ms }

            """.utf8).write(to: conf)
        let rules = """
            metric active_positions
            metric trades_total labels venue, outcome
            metric feed_latency_seconds_sum unit s labels venue
            metric feed_latency_seconds_count labels venue
            alert many_positions { when active_positions > 5; severity warning; notify out }
            alert trading { when rate(trades_total over 2s) > 5; severity info; notify out }
            alert slow_feed { when rate(feed_latency_seconds_sum over 2s) / rate(feed_latency_seconds_count over 2s) > 2; severity warning; notify out }
            alert exporter_down { when scrape_up == 0; severity critical; notify out }

            """
        let v = try RunningVigil(["--stdin", "--config", conf.path], rules: rules)
        #expect(await v.waitUntilUp())
        func alerts(_ predicate: (String) -> Bool) async -> Bool {
            for _ in 0..<100 {
                if predicate(await v.http("GET", "/api/v1/alerts").1) { return true }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return false
        }
        let allThree = await alerts { $0.contains(#""alert":"many_positions""#) && $0.contains(#""alert":"trading""#) && $0.contains(#""alert":"slow_feed""#) }
        let listed = await v.http("GET", "/api/v1/alerts").1
        #expect(allThree, "\(listed)")
        let metrics = await v.http("GET", "/metrics").1
        #expect(!metrics.contains("exporter_down"))
        #expect(metrics.contains(#"vigil_scrapes_total{scrape="trader",result="failed"} 0"#), "\(metrics)")

        // The exporter dies: its series end now (not after stale_after), and the target is down.
        kill(exporter.processIdentifier, SIGKILL)
        exporter.waitUntilExit()
        #expect(await alerts { $0.contains(#""alert":"exporter_down""#) && !$0.contains(#""alert":"many_positions""#) && !$0.contains(#""alert":"slow_feed""#) })
        let after = await v.http("GET", "/metrics").1
        #expect(!after.contains(#"vigil_scrapes_total{scrape="trader",result="failed"} 0"#), "failures are counted")
        #expect(await v.terminate() == 0)
        let out = v.stdout
        #expect(out.contains("RESOLVED warning many_positions"), "\(out)")
        #expect(out.components(separatedBy: "FIRING warning slow_feed").count == 2, "the ratio never flapped: \(out)")
        let err = v.stderr
        #expect(err.components(separatedBy: "scrape target down").count == 2, "logged once: \(err)")
    }
}

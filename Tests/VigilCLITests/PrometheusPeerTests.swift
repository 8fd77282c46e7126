import Foundation
import Glibc
import Testing
@testable import VigilCLI
import VigilEngine

/// vigil's `histogram_quantile` against a real Prometheus (Debian `prometheus`; `.ci/run`
/// installs it), both scraping one real `prometheus_client` exporter in the same run: the two
/// 95th percentiles agree within 1%.
struct PrometheusPeerTests {
    static let installed = FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus")
    static let skip = "prometheus is not installed here (apt-get install -y prometheus); .ci/run installs it"

    /// Serves its histogram at once (all zero), then on a line on stdin observes 1,000 known
    /// latencies from 0 to 5 s and says `observed`.
    static let exporter = """
        import sys
        from prometheus_client import Histogram, start_http_server
        latency = Histogram('feed_latency_seconds', 'Feed latency', ['venue'])
        latency.labels('kalshi')
        server, _ = start_http_server(0, addr='127.0.0.1')
        print('ready', server.server_port, flush=True)
        sys.stdin.readline()
        for i in range(1000):
            latency.labels('kalshi').observe(5.0 * i / 1000)
        print('observed', flush=True)
        sys.stdin.readline()
        """

    /// The port an exporter said it serves on (`ready PORT`): it binds port 0 and says which it
    /// got, so no other socket can take a port between a pick and its bind.
    static func port(in said: String) -> UInt16? {
        guard let line = said.split(separator: "\n").first(where: { $0.hasPrefix("ready ") }) else { return nil }
        return UInt16(line.dropFirst("ready ".count).trimmingCharacters(in: .whitespaces))
    }

    /// Reads the child's output until it has said `word` and its line has ended (or the child
    /// ended); what it said.
    static func said(_ word: String, on pipe: Pipe) async -> String {
        await offPool {
            var text = ""
            while !(text.contains(word) && text.hasSuffix("\n")) {
                let data = pipe.fileHandleForReading.availableData
                if data.isEmpty { break } // it ended
                text += String(decoding: data, as: UTF8.self)
            }
            return text
        }
    }

    /// A python child running `script`, reading `stdin` and writing `stdout` (the exporters of
    /// these tests and `ScrapeRunTests`, which say their port: `port(in:)`).
    static func startExporter(_ script: String, in work: URL) throws -> (process: Process, stdin: Pipe, stdout: Pipe) {
        try Data(script.utf8).write(to: work.appendingPathComponent("exporter.py"))
        let exporter = Process()
        exporter.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        exporter.arguments = ["python3", work.appendingPathComponent("exporter.py").path]
        let stdin = Pipe(), stdout = Pipe()
        exporter.standardInput = stdin
        exporter.standardOutput = stdout
        try exporter.run()
        return (exporter, stdin, stdout)
    }

    /// A real Prometheus scraping `target` (host:port) every second as job `job`, its data in
    /// `work`; the port its API answers on.
    static func startPrometheus(scraping target: String, job: String, in work: URL) throws -> (process: Process, port: UInt16) {
        let port = RunningVigil.freeTCPPort()
        try Data("""
            global:
              scrape_interval: 1s
              evaluation_interval: 1s
            scrape_configs:
              - job_name: \(job)
                static_configs:
                  - targets: ['\(target)']

            """.utf8).write(to: work.appendingPathComponent("prometheus.yml"))
        let prometheus = Process()
        prometheus.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        prometheus.arguments = ["--config.file=\(work.appendingPathComponent("prometheus.yml").path)",
                                "--storage.tsdb.path=\(work.appendingPathComponent("tsdb").path)", "--web.listen-address=127.0.0.1:\(port)"]
        prometheus.standardOutput = FileHandle.nullDevice
        prometheus.standardError = FileHandle.nullDevice
        try prometheus.run()
        return (prometheus, port)
    }

    /// Kills a child the test started, if it still runs.
    static func end(_ p: Process) {
        if p.isRunning { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() }
    }

    /// A GET to 127.0.0.1:`port`; the body, or "" on any failure (bounded by 5 s reads).
    static func get(_ port: UInt16, _ path: String) async -> String {
        await offPool { httpRequest(port, "GET", path).1 }
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"),
          .enabled(if: ScrapeRunTests.python != nil, "\(ScrapeRunTests.skip)"),
          .enabled(if: PrometheusPeerTests.installed, "\(PrometheusPeerTests.skip)"), .timeLimit(.minutes(2)))
    func histogramQuantileAgreesWithPrometheus() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-prom-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        // The exporter.
        let (exporter, toExporter, fromExporter) = try Self.startExporter(Self.exporter, in: work)
        defer { Self.end(exporter) }
        let ready = await Self.said("ready", on: fromExporter)
        let port = try #require(Self.port(in: ready), "the exporter said no port: \(ready)")

        // A real Prometheus scraping it every second.
        let (prometheus, promPort) = try Self.startPrometheus(scraping: "127.0.0.1:\(port)", job: "trader", in: work)
        defer { Self.end(prometheus) }

        // vigil scraping it too, with the issue's rule (always true here, to read its value).
        let conf = work.appendingPathComponent("vigil.conf")
        try Data("""
            channel out { type console }
            escalation_target out
            scrape trader { url "http://127.0.0.1:\(port)/metrics" every 250ms timeout 200ms }

            """.utf8).write(to: conf)
        let v = try RunningVigil(["--stdin", "--config", conf.path],
                                 rules: "alert p95 { when histogram_quantile(0.95, feed_latency_seconds over 5m) > 0s; severity info; notify out }\n")
        #expect(await v.waitUntilUp())

        func prom(_ query: String) async -> Double? {
            let body = await Self.get(promPort, "/api/v1/query?query=" + (query.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            guard let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any],
                  let result = (json["data"] as? [String: Any])?["result"] as? [[String: Any]],
                  let value = result.first?["value"] as? [Any], let text = value.last as? String else { return nil }
            return Double(text)
        }
        // Both have scraped the zeros before anything is observed.
        var up = false
        for _ in 0..<300 where !up {
            let scraped = await prom("up{job=\"trader\"}"), count = await prom("feed_latency_seconds_count")
            up = scraped == 1 && count == 0
            if !up { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(up, "Prometheus never scraped the exporter")
        try await Task.sleep(for: .milliseconds(500))
        toExporter.fileHandleForWriting.write(Data("go\n".utf8))
        let observed = await Self.said("observed", on: fromExporter)
        #expect(observed.contains("observed"), "the exporter said: \(observed)")

        // Prometheus has the 1,000 observations; so does vigil, two scrapes later.
        var counted = false
        for _ in 0..<100 where !counted {
            counted = await prom("feed_latency_seconds_count") == 1000
            if !counted { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(counted)
        try await Task.sleep(for: .milliseconds(600))
        let theirs = try #require(await prom("histogram_quantile(0.95, rate(feed_latency_seconds_bucket[5m]))"))
        let alerts = await v.http("GET", "/api/v1/alerts").1
        let list = try #require(try JSONSerialization.jsonObject(with: Data(alerts.utf8)) as? [[String: Any]])
        let ours = try #require(list.first { $0["alert"] as? String == "p95" }?["value"] as? Double, "\(alerts)")
        #expect(abs(ours - theirs) / theirs < 0.01, "vigil \(ours), Prometheus \(theirs)")
        #expect(ours > 2.5 && ours <= 5, "in the (2.5, 5] bucket: \(ours)")
        toExporter.fileHandleForWriting.write(Data("done\n".utf8))
        #expect(await v.terminate() == 0)
    }
}

extension PrometheusPeerTests {
    /// A central Prometheus scraping vigil's /metrics sees ALERTS and ALERTS_FOR_STATE as it
    /// would from its own rule manager, and the standard process metrics.
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"),
          .enabled(if: PrometheusPeerTests.installed, "\(PrometheusPeerTests.skip)"), .timeLimit(.minutes(1)))
    func aRealPrometheusScrapingVigilSeesItsAlerts() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-promalerts-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let rules = """
            metric x labels venue
            alert high { when x > 1; severity critical; notify slack }
            alert waiting { when x > 1 for 1h; severity info; notify slack }

            """
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: rules)
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        #expect(await offPool { unixWrite(sock, [#"{"metric":"x","labels":{"venue":"ka\"lshi"},"value":5}"#]) })
        #expect(await v.waitForAlerts { $0.contains(#""state":"firing""#) })

        // Our own parser reads vigil's /metrics as a Prometheus text answer, whole.
        let own = await v.http("GET", "/metrics").1
        var parser = ExpositionParser()
        var samples: [Sample] = []
        let parsed = Array(own.utf8).withUnsafeBytes { parser.parse($0, format: .prometheus, time: Instant(nanoseconds: 0), symbols: Symbols(), into: &samples) }
        if case .failure(let f) = parsed { Issue.record("vigil's /metrics does not parse: \(f)") }

        let (prometheus, promPort) = try Self.startPrometheus(scraping: "127.0.0.1:\(v.port)", job: "vigil", in: work)
        defer { Self.end(prometheus) }

        func query(_ q: String) async -> [[String: Any]] {
            let body = await Self.get(promPort, "/api/v1/query?query=" + (q.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""))
            let json = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
            return ((json?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
        }
        var firing: [[String: Any]] = []
        for _ in 0..<150 where firing.isEmpty {
            firing = await query(#"ALERTS{job="vigil",alertstate="firing"}"#)
            if firing.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        }
        let labels = try #require(firing.first?["metric"] as? [String: String])
        #expect(labels["alertname"] == "high")
        #expect(labels["severity"] == "critical")
        #expect(labels["venue"] == #"ka"lshi"#, "an escaped label value arrives as sent")
        #expect(await query(#"ALERTS{job="vigil",alertname="waiting",alertstate="pending"}"#).count == 1)
        let since = try #require((await query(#"ALERTS_FOR_STATE{job="vigil",alertname="high"}"#).first?["value"] as? [Any])?.last as? String)
        #expect(abs((Double(since) ?? 0) - Date().timeIntervalSince1970) < 60)
        #expect(await query(#"process_resident_memory_bytes{job="vigil"} > 0"#).count == 1)
        #expect(await query(#"process_start_time_seconds{job="vigil"} > 1.7e9"#).count == 1)
        #expect(await query(#"vigil_build_info{job="vigil"}"#).count == 1)
        #expect(await v.terminate() == 0)
    }
}

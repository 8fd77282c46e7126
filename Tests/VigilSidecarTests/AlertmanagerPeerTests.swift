import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// Against a real Alertmanager (Debian's prometheus-alertmanager, which .ci/run installs): our
/// API v2 bodies are accepted, and a resolve ends the alert there.
struct AlertmanagerPeerTests {
    static let binary = "/usr/bin/prometheus-alertmanager"

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: binary),
                   "prometheus-alertmanager is not installed here (apt-get install -y prometheus-alertmanager); .ci/run installs it"),
          .timeLimit(.minutes(1)))
    func alertmanagerAcceptsOurAlertsAndTheirResolve() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-am-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try Data("route:\n  receiver: 'null'\nreceivers:\n  - name: 'null'\n".utf8).write(to: dir.appendingPathComponent("am.yml"))
        let (port, held) = try Receiver.reservePort()
        close(held)
        let am = Process()
        am.executableURL = URL(fileURLWithPath: Self.binary)
        am.arguments = ["--config.file=\(dir.path)/am.yml", "--storage.path=\(dir.path)", "--web.listen-address=127.0.0.1:\(port)",
                        "--cluster.listen-address="]
        am.standardOutput = FileHandle.nullDevice
        am.standardError = FileHandle.nullDevice
        try am.run()
        defer {
            am.terminate()
            am.waitUntilExit()
        }
        let base = "http://127.0.0.1:\(port)"
        var ready = false
        for _ in 0..<100 where !ready {
            if let (_, r) = try? await URLSession.shared.data(from: URL(string: base + "/-/ready")!), (r as? HTTPURLResponse)?.statusCode == 200 { ready = true } else {
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        try #require(ready, "alertmanager did not become ready within 10 s")

        let log = MemoryLog()
        let channel = ChannelConfig(name: "am", type: .alertmanager, url: Secret(base))
        let delivery = Delivery(config: AlertingConfig(channels: ["am": channel], escalationTarget: "pager", fallback: nil),
                                outbox: Outbox(), policy: fast, log: log)
        let now = Instant(nanoseconds: Int64(Date().timeIntervalSince1970 * 1e9))
        let labels = [Label("venue", "kalshi")]
        var info = AlertInfo(name: "high_latency", severity: .warning, labels: labels, fingerprint: fingerprint(alert: "high_latency", labels: labels),
                             value: 2600, stringValue: nil, summary: "p95 feed latency on kalshi is 2600ms", description: nil,
                             runbook: nil, startsAt: now, endsAt: nil)
        delivery.send(AlertNotification(at: now, channel: "am", kind: .firing, step: 0, alerts: [info]))
        #expect(await delivery.drain(timeout: .seconds(20)))
        #expect(delivery.stats["am"]?.sent == 1)

        func active() async throws -> [[String: Any]] {
            let (data, _) = try await URLSession.shared.data(from: URL(string: base + "/api/v2/alerts?active=true")!)
            return (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
        }
        let alerts = try await active()
        #expect(alerts.count == 1)
        let got = alerts.first?["labels"] as? [String: String]
        #expect(got == ["alertname": "high_latency", "severity": "warning", "venue": "kalshi"])
        #expect((alerts.first?["annotations"] as? [String: String])?["summary"] == "p95 feed latency on kalshi is 2600ms")

        info.endsAt = now
        delivery.send(AlertNotification(at: now, channel: "am", kind: .resolved, step: 0, alerts: [info]))
        #expect(await delivery.drain(timeout: .seconds(20)))
        #expect(try await active().isEmpty)
    }
}

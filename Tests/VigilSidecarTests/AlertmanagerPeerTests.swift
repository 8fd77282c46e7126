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

/// A real Alertmanager (Debian's prometheus-alertmanager, which .ci/run installs) on 127.0.0.1,
/// routing everything to a webhook receiver of ours with `send_resolved`.
final class RealAlertmanager {
    static let binary = "/usr/bin/prometheus-alertmanager"
    static var installed: Bool { FileManager.default.isExecutableFile(atPath: binary) }

    let dir: URL
    let port: UInt16
    let hook: Receiver
    private var process: Process?

    init(groupBy: [String] = ["alertname"]) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-am-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        hook = try Receiver(script: [.init(status: 200)])
        try Data("""
            global:
              resolve_timeout: 30s
            route:
              receiver: hook
              group_by: [\(groupBy.joined(separator: ", "))]
              group_wait: 1s
              group_interval: 2s
              repeat_interval: 1h
            receivers:
              - name: hook
                webhook_configs:
                  - url: '\(hook.url)'
                    send_resolved: true

            """.utf8).write(to: dir.appendingPathComponent("am.yml"))
        let (port, held) = try Receiver.reservePort()
        close(held)
        self.port = port
    }

    var base: String { "http://127.0.0.1:\(port)" }

    func start() async throws {
        let am = Process()
        am.executableURL = URL(fileURLWithPath: Self.binary)
        am.arguments = ["--config.file=\(dir.path)/am.yml", "--storage.path=\(dir.path)", "--web.listen-address=127.0.0.1:\(port)",
                        "--cluster.listen-address="]
        am.standardOutput = FileHandle.nullDevice
        am.standardError = FileHandle.nullDevice
        try am.run()
        process = am
        for _ in 0..<100 {
            if let (_, r) = try? await URLSession.shared.data(from: URL(string: base + "/-/ready")!), (r as? HTTPURLResponse)?.statusCode == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw POSIXError(.ETIMEDOUT)
    }

    func stop() {
        guard let p = process else { return }
        p.terminate()
        p.waitUntilExit()
        process = nil
    }

    /// Posts alerts to its API v2 as any client would.
    func post(_ alerts: [[String: Any]]) async throws {
        var r = URLRequest(url: URL(string: base + "/api/v2/alerts")!)
        r.httpMethod = "POST"
        r.setValue("application/json", forHTTPHeaderField: "Content-Type")
        r.httpBody = try JSONSerialization.data(withJSONObject: alerts)
        let (_, response) = try await URLSession.shared.data(for: r)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
    }

    /// The alerts Alertmanager holds as active.
    func active() async throws -> [[String: Any]] {
        let (data, _) = try await URLSession.shared.data(from: URL(string: base + "/api/v2/alerts?active=true&silenced=false&inhibited=false")!)
        return (try JSONSerialization.jsonObject(with: data) as? [[String: Any]]) ?? []
    }

    /// The webhook deliveries Alertmanager made, as `status alertname{label}` per alert.
    var notified: [String] {
        hook.requests.flatMap { r -> [String] in
            let json = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any]
            return ((json?["alerts"] as? [[String: Any]]) ?? []).map { a in
                let labels = a["labels"] as? [String: String] ?? [:]
                return "\(a["status"] as? String ?? "?") \(labels["alertname"] ?? "?"){\(labels["venue"] ?? "")}"
            }
        }
    }

    deinit {
        stop()
        hook.stop()
        try? FileManager.default.removeItem(at: dir)
    }
}

/// The alertmanager channel is a state sync: Alertmanager holds vigil's alerts active as long as
/// vigil says so, ends them when vigil resolves them, and after an outage gets the present.
struct AlertmanagerPeerTests {
    static let skip = "prometheus-alertmanager is not installed here (apt-get install -y prometheus-alertmanager); .ci/run installs it"

    func alert(_ venue: String, at t: Instant) -> AlertInfo {
        let labels = [Label("venue", venue)]
        return AlertInfo(name: "high_latency", severity: .warning, labels: labels, fingerprint: fingerprint(alert: "high_latency", labels: labels),
                         value: 2600, stringValue: nil, summary: "p95 feed latency on \(venue) is 2600ms", description: nil,
                         runbook: nil, startsAt: t, endsAt: nil)
    }

    func wallNow() -> Instant { Instant(nanoseconds: Int64(Date().timeIntervalSince1970 * 1e9)) }

    /// Resent every second with endsAt 4 s ahead, an alert stays active for 10 s (where one post
    /// without resends would end at its endsAt, and one without endsAt at resolve_timeout, 30 s);
    /// Alertmanager's receiver hears one firing and one resolved. The first peer listed is dead
    /// and holds nothing back. `VIGIL_AM_HOLD_SECONDS=180` holds it the issue's 3 minutes.
    @Test(.enabled(if: RealAlertmanager.installed, "\(skip)"), .timeLimit(.minutes(5)))
    func anAlertStaysActiveWhileFiringAndResolvesOnce() async throws {
        let am = try RealAlertmanager()
        try await am.start()
        defer { am.stop() }
        let (deadPort, held) = try Receiver.reservePort()
        defer { close(held) } // bound, never listening: connections are refused
        let channel = ChannelConfig(name: "am", type: .alertmanager, url: Secret("http://127.0.0.1:\(deadPort)"),
                                    peers: [Secret("http://127.0.0.1:\(deadPort)"), Secret(am.base)], resend: 1_000_000_000,
                                    externalURL: "http://vigil.example:9177")
        let config = AlertingConfig(channels: ["am": channel], escalationTarget: "pager", fallback: nil)
        let log = MemoryLog()
        let delivery = Delivery(config: config, outbox: Outbox(), policy: fast, log: log)
        let start = wallNow()
        var info = alert("kalshi", at: start)
        delivery.send(AlertNotification(at: start, channel: "am", kind: .firing, step: 0, alerts: [info]))

        let hold = Int(ProcessInfo.processInfo.environment["VIGIL_AM_HOLD_SECONDS"] ?? "") ?? 10
        for second in 0..<hold {
            try await Task.sleep(for: .seconds(1))
            let active = try await am.active()
            #expect(active.count == 1, "second \(second): \(active.count) active")
            if second == 0 {
                #expect(active.first?["labels"] as? [String: String] == ["alertname": "high_latency", "severity": "warning", "venue": "kalshi"])
                #expect(active.first?["generatorURL"] as? String == "http://vigil.example:9177/api/v1/rules/high_latency")
            }
        }
        info.endsAt = wallNow()
        delivery.send(AlertNotification(at: info.endsAt ?? start, channel: "am", kind: .resolved, step: 0, alerts: [info]))
        for _ in 0..<100 where !am.notified.contains("resolved high_latency{kalshi}") { try await Task.sleep(for: .milliseconds(100)) }
        #expect(try await am.active().isEmpty)
        #expect(am.notified == ["firing high_latency{kalshi}", "resolved high_latency{kalshi}"])
        #expect(log.all.contains { $0.message == "state sync failed; retrying" && $0.data["peer"] == "1 of 2" })
    }

    /// The webhook channel's body against the one a real Alertmanager sends its webhook for the
    /// same two alerts of one group, field by field (receiver names, group keys' route part,
    /// fingerprints and URLs are each side's own).
    @Test(.enabled(if: RealAlertmanager.installed, "\(skip)"), .timeLimit(.minutes(1)))
    func theWebhookBodyMatchesAlertmanagersOwn() async throws {
        let am = try RealAlertmanager(groupBy: ["alertname", "team"])
        try await am.start()
        defer { am.stop() }
        let start = Instant(nanoseconds: Int64(Date().timeIntervalSince1970) * 1_000_000_000)
        func info(_ venue: String) -> AlertInfo {
            let labels = [Label("team", "trading"), Label("venue", venue)]
            return AlertInfo(name: "high_latency", severity: .warning, labels: labels, fingerprint: fingerprint(alert: "high_latency", labels: labels),
                             value: 2600, stringValue: nil, summary: "p95 feed latency on \(venue) is 2600ms", description: nil,
                             runbook: "https://runbooks.example/high_latency", startsAt: start, endsAt: nil)
        }
        let alerts = [info("kalshi"), info("poly")]
        try await am.post(alerts.map { a in
            ["labels": Dictionary(uniqueKeysWithValues: a.allLabels.map { ($0.name, $0.value) }),
             "annotations": ["summary": a.summary, "runbook_url": a.runbook ?? ""], "startsAt": a.startsAt.rfc3339]
        })
        for _ in 0..<100 where am.hook.requests.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        let delivered = try #require(am.hook.requests.first, "Alertmanager sent no webhook")
        let theirs = try #require(try JSONSerialization.jsonObject(with: Data(delivered.body.utf8)) as? [String: Any])

        var n = AlertNotification(at: start, channel: "hook", kind: .firing, step: 0, alerts: alerts)
        n.groupLabels = [Label("alertname", "high_latency"), Label("team", "trading")]
        let channel = ChannelConfig(name: "hook", type: .webhook, url: Secret("http://127.0.0.1:1/x"))
        let request = try #require(channel.request(for: n))
        let ours = try #require(try JSONSerialization.jsonObject(with: request.body) as? [String: Any])

        for key in ["version", "status", "truncatedAlerts"] { #expect("\(ours[key] ?? "-")" == "\(theirs[key] ?? "-")", "\(key)") }
        for key in ["groupLabels", "commonLabels", "commonAnnotations"] {
            #expect(ours[key] as? [String: String] == theirs[key] as? [String: String], "\(key): ours \(ours[key] ?? "-") theirs \(theirs[key] ?? "-")")
        }
        #expect((theirs["groupKey"] as? String)?.hasSuffix(":" + ((ours["groupKey"] as? String) ?? "").split(separator: ":", maxSplits: 1).last.map(String.init)!) == true,
                "groupKey: ours \(ours["groupKey"] ?? "-") theirs \(theirs["groupKey"] ?? "-")")
        let mine = (ours["alerts"] as? [[String: Any]]) ?? [], other = (theirs["alerts"] as? [[String: Any]]) ?? []
        #expect(mine.count == 2 && other.count == 2)
        func byVenue(_ list: [[String: Any]]) -> [String: [String: Any]] {
            Dictionary(uniqueKeysWithValues: list.map { ((($0["labels"] as? [String: String]) ?? [:])["venue"] ?? "?", $0) })
        }
        for (venue, a) in byVenue(mine) {
            let b = byVenue(other)[venue] ?? [:]
            for key in ["status", "startsAt", "endsAt"] { #expect("\(a[key] ?? "-")" == "\(b[key] ?? "-")", "\(venue) \(key)") }
            for key in ["labels", "annotations"] { #expect(a[key] as? [String: String] == b[key] as? [String: String], "\(venue) \(key)") }
        }
    }

    /// While the peer is down, one alert resolves and the other keeps firing. The restarted peer
    /// is told the present: the ended alert arrives resolved, never firing again.
    @Test(.enabled(if: RealAlertmanager.installed, "\(skip)"), .timeLimit(.minutes(1)))
    func aRestartedPeerGetsThePresentNotAReplay() async throws {
        let am = try RealAlertmanager()
        try await am.start()
        defer { am.stop() }
        let channel = ChannelConfig(name: "am", type: .alertmanager, url: Secret(am.base), resend: 1_000_000_000)
        let delivery = Delivery(config: AlertingConfig(channels: ["am": channel], escalationTarget: "pager", fallback: nil),
                                outbox: Outbox(), policy: fast, log: MemoryLog())
        let start = wallNow()
        var kalshi = alert("kalshi", at: start)
        delivery.send(AlertNotification(at: start, channel: "am", kind: .firing, step: 0, alerts: [kalshi, alert("poly", at: start)]))
        for _ in 0..<100 where am.notified.count < 2 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(Set(am.notified) == ["firing high_latency{kalshi}", "firing high_latency{poly}"])

        am.stop()
        kalshi.endsAt = wallNow()
        delivery.send(AlertNotification(at: kalshi.endsAt ?? start, channel: "am", kind: .resolved, step: 0, alerts: [kalshi]))
        try await Task.sleep(for: .seconds(2))
        let before = am.notified.count
        try await am.start()
        try await Task.sleep(for: .seconds(5)) // past group_wait and a group_interval of the new peer
        let active = try await am.active().map { ($0["labels"] as? [String: String])?["venue"] ?? "?" }
        #expect(active == ["poly"])
        let after = am.notified.suffix(from: min(before, am.notified.count))
        #expect(!after.contains("firing high_latency{kalshi}"), "\(after)")
    }
}

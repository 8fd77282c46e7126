import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules

enum Sample {
    static let since = Instant(nanoseconds: 1_736_950_000_000_000_000)

    /// An alert whose labels came from a hostile stream.
    static let alert = AlertInfo(
        name: "high_latency", severity: .warning,
        labels: [Label("market", "<!channel> & <@U123>"), Label("venue", "kalshi")],
        fingerprint: fingerprint(alert: "high_latency", labels: [Label("market", "<!channel> & <@U123>"), Label("venue", "kalshi")]),
        value: 2600, stringValue: nil, summary: "p95 feed latency on kalshi is 2600ms <b>",
        description: "Kalshi's feed is slow", runbook: "https://runbooks.example/high_latency", startsAt: since, endsAt: nil)

    static func notification(_ kind: AlertNotification.Kind, channel: String, step: Int = 0) -> AlertNotification {
        var a = alert
        if kind == .resolved {
            a.endsAt = since + 600_000_000_000
            a.resolvedValue = "1800"
        }
        return AlertNotification(at: since + (kind == .resolved ? 600_000_000_000 : 0), channel: channel, kind: kind, step: step, alerts: [a])
    }

    static let secrets = ["SLACK": "https://hooks.slack.com/services/T0/B0/SECRETSLACKTOKEN", "PD": "PDROUTINGKEYSECRET0123456789abcd",
                          "RESEND": "re_SECRETRESENDKEY", "HOOK": "https://hooks.example/in/SECRETHOOKTOKEN",
                          "AM": "http://127.0.0.1:9093"]

    static var config: AlertingConfig {
        let text = """
            channel slack { type slack url env:SLACK }
            channel pager { type pagerduty routing_key env:PD source "trader-01" }
            channel email { type resend api_key env:RESEND to "oncall@example.com", "desk@example.com" from "vigil <vigil@example.com>" }
            channel hook  { type webhook url env:HOOK }
            channel am    { type alertmanager url env:AM }
            channel out   { type console }
            """
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: text, kind: .config))
        return (try? AlertingConfig.load(file, environment: secrets)) ?? .defaults
    }
}

struct PayloadTests {
    static let golden = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden")

    static let cases: [(String, String, AlertNotification.Kind)] = [
        ("slack-firing", "slack", .firing), ("slack-resolved", "slack", .resolved),
        ("pagerduty-trigger", "pager", .escalation), ("pagerduty-acknowledge", "pager", .acknowledge), ("pagerduty-resolve", "pager", .resolved),
        ("resend-firing", "email", .firing), ("webhook-firing", "hook", .firing), ("webhook-resolved", "hook", .resolved),
        ("alertmanager-firing", "am", .firing), ("alertmanager-resolved", "am", .resolved),
    ]

    @Test(arguments: cases.map(\.0))
    func goldenPayloads(_ name: String) throws {
        let (_, channel, kind) = try #require(Self.cases.first { $0.0 == name })
        let config = try #require(Sample.config.channels[channel])
        let n = Sample.notification(kind, channel: channel, step: kind == .escalation ? 1 : 0)
        let request: OutgoingRequest
        if let sync = config.type.integration as? any StateSyncIntegration, let peer = config.url {
            // A state sync's body: an active alert ends 4 × resend ahead, a resolved one at its end.
            let alerts = n.alerts.map { a -> AlertInfo in
                var a = a
                if n.kind != .resolved { a.endsAt = n.at + 4 * config.resend }
                return a
            }
            var channel = config
            channel.externalURL = "http://vigil.example:9177"
            request = sync.stateRequest(alerts, peer: peer, channel: channel)
        } else {
            request = try #require(config.request(for: n))
        }
        // Pretty-printed through Foundation only to make the golden file readable; the body itself is compact.
        let object = try JSONSerialization.jsonObject(with: request.body)
        var pretty = String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]), as: UTF8.self) + "\n"
        // Snapshots never hold secrets, not even test ones: where a body must carry one, the file says which.
        for (key, secret) in Sample.secrets { pretty = pretty.replacingOccurrences(of: secret, with: "<secret:\(key)>") }
        let url = Self.golden.appendingPathComponent(name + ".json")
        if ProcessInfo.processInfo.environment["VIGIL_UPDATE_GOLDEN"] == "1" {
            try Data(pretty.utf8).write(to: url)
            return
        }
        #expect(pretty == (try String(contentsOf: url, encoding: .utf8)))
    }

    @Test func slackEscapesWhatCameFromTheStreamAndLimitsSections() throws {
        let config = try #require(Sample.config.channels["slack"])
        let body = String(decoding: try #require(config.request(for: Sample.notification(.firing, channel: "slack"))).body, as: UTF8.self)
        #expect(!body.contains("<!channel>"))
        #expect(body.contains("&lt;!channel&gt; &amp; &lt;@U123&gt;"))
        var long = Sample.alert
        long = AlertInfo(name: long.name, severity: long.severity, labels: long.labels, fingerprint: long.fingerprint, value: 1, stringValue: nil,
                         summary: String(repeating: "x", count: 10_000), description: nil, runbook: nil, startsAt: long.startsAt, endsAt: nil)
        let rendered = SlackPayload.render(AlertNotification(at: Sample.since, channel: "slack", kind: .firing, step: 0, alerts: [long]))
        guard case .object(let top) = rendered, case .string(let text) = top[0].1 else { Issue.record("shape"); return }
        #expect(text.count <= 3000)
    }

    @Test func pagerDutySummaryIsCappedAt1024() throws {
        let config = try #require(Sample.config.channels["pager"])
        var long = Sample.alert
        long = AlertInfo(name: long.name, severity: .critical, labels: [], fingerprint: "f", value: 1, stringValue: nil,
                         summary: String(repeating: "y", count: 5000), description: nil, runbook: nil, startsAt: long.startsAt, endsAt: nil)
        let body = try #require(config.request(for: AlertNotification(at: Sample.since, channel: "pager", kind: .firing, step: 0, alerts: [long]))).body
        let json = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        let summary = try #require((json["payload"] as? [String: Any])?["summary"] as? String)
        #expect(summary.count == 1024)
        #expect(json["dedup_key"] as? String == "f")
    }

    /// Secrets appear only where the target needs them (PagerDuty's routing_key, the request URL)
    /// and nowhere else: not in other bodies, descriptions, dumps or errors.
    @Test func secretsStayWhereTheTargetNeedsThem() throws {
        let config = Sample.config
        var everythingElse = ""
        for (name, channel) in config.channels.sorted(by: { $0.key < $1.key }) {
            everythingElse += "\(channel) \(String(reflecting: channel))"
            var dumped = ""
            dump(channel, to: &dumped)
            everythingElse += dumped
            for kind in [AlertNotification.Kind.firing, .escalation, .repeat, .resolved, .flapping, .acknowledge] {
                guard let request = channel.request(for: Sample.notification(kind, channel: name)) else { continue }
                everythingElse += request.description
                let body = String(decoding: request.body, as: UTF8.self)
                let url = request.url.reveal()
                for (key, secret) in Sample.secrets where key != "AM" {
                    let allowedInBody = channel.type == .pagerduty && key == "PD"
                    #expect(body.contains(secret) == allowedInBody, "\(name) \(kind) body and \(key)")
                    if key == "SLACK" && channel.type == .slack { #expect(url == secret) }
                }
            }
        }
        for (key, secret) in Sample.secrets where key != "AM" { #expect(!everythingElse.contains(secret), "\(key) leaked") }
        #expect(everythingElse.contains("<redacted>"))
        // A missing secret is an error naming the channel and the variable, not the value.
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: "channel slack { type slack url env:NOPE }", kind: .config))
        #expect(throws: AlertingConfig.LoadError.self) { try AlertingConfig.load(file, environment: [:]) }
        do {
            _ = try AlertingConfig.load(file, environment: [:])
        } catch {
            #expect(error.description == "channel slack: url comes from the environment variable NOPE, which is not set")
        }
    }

    @Test func fileSecretsAreReadAndTrimmed() throws {
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: "channel pager { type pagerduty routing_key file:/run/secrets/pd }", kind: .config))
        let config = try AlertingConfig.load(file, environment: [:], readFile: { $0 == "/run/secrets/pd" ? "KEY123\n" : nil })
        #expect(config.channels["pager"]?.routingKey?.reveal() == "KEY123")
        #expect(config.channels["pager"]?.url?.reveal() == "https://events.pagerduty.com/v2/enqueue")
    }

    @Test func consoleIsOneReadableLine() {
        #expect(ConsolePayload.line(Sample.notification(.escalation, channel: "out", step: 2))
                == "2025-01-15T14:06:40Z ESCALATION 2 warning high_latency{market=\"<!channel> & <@U123>\", venue=\"kalshi\"} value=2600: p95 feed latency on kalshi is 2600ms <b> [out]\n")
    }
}

struct SecretFileTests {
    @Test func aSecretFileIsReadUpTo64KiBAndNoMore() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-secret-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let small = dir.appendingPathComponent("small"), big = dir.appendingPathComponent("big")
        try Data("https://hooks.example/T0/B0/x\n".utf8).write(to: small)
        try Data(repeating: 0x61, count: SecretFile.limit + 1).write(to: big)
        #expect(SecretFile.read(small.path) == "https://hooks.example/T0/B0/x\n")
        #expect(SecretFile.read(big.path) == nil)
        #expect(SecretFile.read("/dev/zero") == nil, "an endless file is refused, not read forever")
        #expect(SecretFile.read(dir.appendingPathComponent("missing").path) == nil)
    }
}

extension PayloadTests {
    @Test func resendPostsToItsAPIWithTheKeyAsABearerToken() throws {
        let config = try #require(Sample.config.channels["email"])
        let request = try #require(config.request(for: Sample.notification(.firing, channel: "email")))
        #expect(request.url.reveal() == "https://api.resend.com/emails")
        #expect(request.headers.map(\.name) == ["Authorization"])
        #expect(request.headers.first?.value.reveal() == "Bearer re_SECRETRESENDKEY")
        #expect(!request.description.contains("re_SECRETRESENDKEY"))
        // Resend has no acknowledgement; a mail for one would be noise.
        #expect(config.request(for: Sample.notification(.acknowledge, channel: "email")) == nil)
    }
}

/// With `external_url`, every Slack, PagerDuty and mail notification links to its alert on the
/// on-call page (`/#/alert/FINGERPRINT`).
struct PageLinkTests {
    @Test func slackPagerDutyAndMailLinkToTheAlertOnThePage() throws {
        var config = Sample.config
        for name in config.channels.keys { config.channels[name]?.externalURL = "https://vigil.example:9177" }
        let page = "https://vigil.example:9177/#/alert/" + Sample.alert.fingerprint
        let slack = try #require(config.channels["slack"])
        let slackBody = SlackPayload.render(Sample.notification(.firing, channel: "slack"), externalURL: slack.externalURL).serialized()
        #expect(slackBody.contains("*Open:* <\(page)|on the on-call page>"))
        let pager = try #require(config.channels["pager"])
        let trigger = try #require(PagerDutyPayload.render(Sample.notification(.firing, channel: "pager"), channel: pager)).serialized()
        #expect(trigger.contains("\"client\":\"vigil\",\"client_url\":\"\(page)\""), "\(trigger)")
        #expect(trigger.contains("vigil on-call page"))
        let mail = MailContent(Sample.notification(.firing, channel: "email"), externalURL: "https://vigil.example:9177")
        #expect(mail.text.contains("  on-call page = \(page)\n"))
        #expect(mail.html.contains("<p><a href=\"\(page)\">open on the on-call page</a></p>"))
        // Without external_url nothing links (the golden payloads above).
        #expect(!SlackPayload.render(Sample.notification(.firing, channel: "slack")).serialized().contains("on-call page"))
    }
}

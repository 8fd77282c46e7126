import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let alertmanager = ChannelType(AlertmanagerIntegration())
}

/// An Alertmanager's API v2; the channel's `url` is the Alertmanager's base URL.
struct AlertmanagerIntegration: Integration {
    let type = "alertmanager"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        guard n.kind != .acknowledge, let url = channel.url else { return nil }
        return OutgoingRequest(channel: channel.name, url: Secret(url.reveal().trimmingSuffix("/") + "/api/v2/alerts"),
                               body: AlertmanagerPayload.render(n))
    }
}

/// Alertmanager API v2 (`POST /api/v2/alerts`): a list of alerts with `startsAt`, and `endsAt`
/// once resolved (while firing it is left out, and Alertmanager's resolve timeout applies).
enum AlertmanagerPayload {
    static func render(_ n: AlertNotification) -> JSONValue {
        .array(n.alerts.map { a in
            var annotations: [(String, JSONValue)] = [("summary", .string(a.summary))]
            if let d = a.description { annotations.append(("description", .string(d))) }
            if let r = a.runbook { annotations.append(("runbook_url", .string(r))) }
            var fields: [(String, JSONValue)] = [
                ("labels", JSONValue.labels(WebhookPayload.allLabels(a))),
                ("annotations", .object(annotations)),
                ("startsAt", .string(a.startsAt.rfc3339)),
            ]
            if n.kind == .resolved { fields.append(("endsAt", .string((a.endsAt ?? n.at).rfc3339))) }
            fields.append(("generatorURL", .string("")))
            return .object(fields)
        })
    }
}

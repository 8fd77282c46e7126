import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let webhook = ChannelType(WebhookIntegration())
}

struct WebhookIntegration: Integration {
    let type = "webhook"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        post(n, channel) { WebhookPayload.render(n, channel: channel) }
    }
}

/// A generic webhook in Alertmanager's webhook format, version "4", so anything that consumes
/// Alertmanager's webhooks consumes vigil's.
enum WebhookPayload {
    static let zeroTime = "0001-01-01T00:00:00Z"

    static func annotations(_ a: AlertInfo) -> [(String, String)] {
        var out = [("summary", a.summary)]
        if let d = a.description { out.append(("description", d)) }
        if let r = a.runbook { out.append(("runbook_url", r)) }
        return out.sorted { $0.0 < $1.0 }
    }

    static func alert(_ a: AlertInfo, resolved: Bool, externalURL: String?) -> JSONValue {
        .object([
            ("status", .string(resolved ? "resolved" : "firing")),
            ("labels", JSONValue.labels(a.allLabels)),
            ("annotations", .object(annotations(a).map { ($0.0, .string($0.1)) })),
            ("startsAt", .string(a.startsAt.rfc3339)),
            ("endsAt", .string(resolved ? (a.endsAt?.rfc3339 ?? zeroTime) : zeroTime)),
            ("generatorURL", .string(externalURL.map { $0 + "/api/v1/rules/" + a.name } ?? "")),
            ("fingerprint", .string(a.fingerprint)),
        ])
    }

    /// Alertmanager's webhook body, each field computed as Alertmanager computes it:
    /// `groupLabels` are the group's (alertname and the rule's `group by`), `commonLabels` and
    /// `commonAnnotations` what every alert shares, `truncatedAlerts` what `max_alerts` left out,
    /// `groupKey` the root route's `{}:{labels}`, `externalURL` the config's `external_url`.
    static func render(_ n: AlertNotification, channel: ChannelConfig) -> JSONValue {
        let resolved = n.kind == .resolved
        let labelSets = n.alerts.map { Set($0.allLabels) }
        let common = labelSets.dropFirst().reduce(labelSets.first ?? []) { $0.intersection($1) }.sorted()
        let annotationSets = n.alerts.map { Set(annotations($0).map { Label($0.0, $0.1) }) }
        let commonAnnotations = annotationSets.dropFirst().reduce(annotationSets.first ?? []) { $0.intersection($1) }.sorted()
        let groupLabels = (n.groupLabels ?? n.alerts.first.map { [Label("alertname", $0.name)] } ?? []).sorted()
        let groupKey = "{}:{" + groupLabels.map { "\($0.name)=\(jsonString($0.value))" }.joined(separator: ", ") + "}"
        let shown = channel.maxAlerts > 0 ? Array(n.alerts.prefix(channel.maxAlerts)) : n.alerts
        return .object([
            ("version", .string("4")),
            ("groupKey", .string(groupKey)),
            ("truncatedAlerts", .number(Double(n.alerts.count - shown.count))),
            ("status", .string(resolved ? "resolved" : "firing")),
            ("receiver", .string(channel.name)),
            ("groupLabels", JSONValue.labels(groupLabels)),
            ("commonLabels", JSONValue.labels(common)),
            ("commonAnnotations", JSONValue.labels(commonAnnotations)),
            ("externalURL", .string(channel.externalURL ?? "")),
            ("alerts", .array(shown.map { alert($0, resolved: resolved, externalURL: channel.externalURL) })),
        ])
    }
}

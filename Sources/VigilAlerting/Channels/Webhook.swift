import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let webhook = ChannelType(WebhookIntegration())
}

struct WebhookIntegration: Integration {
    let type = "webhook"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        guard n.kind != .acknowledge, let url = channel.url else { return nil }
        return OutgoingRequest(channel: channel.name, url: url, body: WebhookPayload.render(n, channel: channel))
    }
}

/// A generic webhook in Alertmanager's webhook format, version "4", so anything that consumes
/// Alertmanager's webhooks consumes vigil's.
enum WebhookPayload {
    static let zeroTime = "0001-01-01T00:00:00Z"

    static func alert(_ a: AlertInfo, resolved: Bool) -> JSONValue {
        var annotations: [(String, JSONValue)] = [("summary", .string(a.summary))]
        if let d = a.description { annotations.append(("description", .string(d))) }
        if let r = a.runbook { annotations.append(("runbook_url", .string(r))) }
        return .object([
            ("status", .string(resolved ? "resolved" : "firing")),
            ("labels", JSONValue.labels(allLabels(a))),
            ("annotations", .object(annotations)),
            ("startsAt", .string(a.startsAt.rfc3339)),
            ("endsAt", .string(a.endsAt?.rfc3339 ?? zeroTime)),
            ("generatorURL", .string("")),
            ("fingerprint", .string(a.fingerprint)),
        ])
    }

    /// The alert's labels plus `alertname` and `severity`, as Alertmanager shows them.
    static func allLabels(_ a: AlertInfo) -> [Label] {
        ([Label("alertname", a.name), Label("severity", a.severity.rawValue)] + a.labels.filter { $0.name != "alertname" && $0.name != "severity" }).sorted()
    }

    static func render(_ n: AlertNotification, channel: ChannelConfig) -> JSONValue {
        let resolved = n.kind == .resolved
        let labelSets = n.alerts.map { Set(allLabels($0)) }
        let common = labelSets.dropFirst().reduce(labelSets.first ?? []) { $0.intersection($1) }.sorted()
        let groupKey = n.alerts.first.map { "{}:{alertname=\"\($0.name)\"}" } ?? "{}"
        return .object([
            ("version", .string("4")),
            ("groupKey", .string(groupKey)),
            ("truncatedAlerts", .number(0)),
            ("status", .string(resolved ? "resolved" : "firing")),
            ("receiver", .string(channel.name)),
            ("groupLabels", JSONValue.labels(n.alerts.first.map { [Label("alertname", $0.name)] } ?? [])),
            ("commonLabels", JSONValue.labels(common)),
            ("commonAnnotations", n.alerts.count == 1 ? .object([("summary", .string(n.alerts[0].summary))]) : .object([])),
            ("externalURL", .string("")),
            ("alerts", .array(n.alerts.map { alert($0, resolved: resolved) })),
        ])
    }
}

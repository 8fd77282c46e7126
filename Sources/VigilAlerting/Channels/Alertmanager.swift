import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let alertmanager = ChannelType(AlertmanagerIntegration())
}

/// An Alertmanager's API v2, kept in sync (`StateSyncIntegration`): every active alert, acked or
/// not, is re-sent every `resend` (1 min by default) with `endsAt` 4 × resend ahead, so
/// Alertmanager never resolves a firing alert by its `resolve_timeout`; a resolved alert is sent
/// with its real `endsAt` for `resolvedRetention`. `url` lists the peers of a cluster; each is
/// posted on its own. The channel's `url`s are Alertmanagers' base URLs.
struct AlertmanagerIntegration: StateSyncIntegration {
    let type = "alertmanager"

    /// Notices are not sent one by one: the state is (`stateRequest`).
    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? { nil }

    func stateRequest(_ alerts: [AlertInfo], peer: Secret, channel: ChannelConfig) -> OutgoingRequest {
        OutgoingRequest(channel: channel.name, url: Secret(peer.reveal().trimmingSuffix("/") + "/api/v2/alerts"),
                        body: AlertmanagerPayload.render(alerts, externalURL: channel.externalURL))
    }

    /// How long a resolved alert is still sent (Prometheus keeps resolved alerts 15 minutes).
    let resolvedRetention: Int64 = 900_000_000_000
}

/// Alertmanager API v2 (`POST /api/v2/alerts`): a list of alerts with `startsAt`, `endsAt` and
/// `generatorURL` (vigil's API for the rule, under `external_url`).
enum AlertmanagerPayload {
    static func render(_ alerts: [AlertInfo], externalURL: String?) -> JSONValue {
        .array(alerts.map { a in
            var annotations: [(String, JSONValue)] = [("summary", .string(a.summary))]
            if let d = a.description { annotations.append(("description", .string(d))) }
            if let r = a.runbook { annotations.append(("runbook_url", .string(r))) }
            if let notice = a.notice { annotations.append((Cluster.noticeLabel, .string(notice))) }
            var fields: [(String, JSONValue)] = [
                ("labels", JSONValue.labels(a.allLabels)),
                ("annotations", .object(annotations)),
                ("startsAt", .string(a.startsAt.rfc3339)),
            ]
            if let end = a.endsAt { fields.append(("endsAt", .string(end.rfc3339))) }
            fields.append(("generatorURL", .string(externalURL.map { $0 + "/api/v1/rules/" + a.name } ?? "")))
            return .object(fields)
        })
    }
}

import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let pagerduty = ChannelType(PagerDutyIntegration())
}

/// PagerDuty Events API v2. A page is retried for a day (other targets for an hour): a page
/// that arrives late still wakes someone; one that never arrives does not.
struct PagerDutyIntegration: Integration {
    let type = "pagerduty"
    let takesAcknowledgements = true
    /// An event has one dedup_key: a group is one trigger per alert, each resolved on its own.
    let groupsAlerts = false
    let defaultURL: String? = "https://events.pagerduty.com/v2/enqueue"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        guard let url = channel.url, let body = PagerDutyPayload.render(n, channel: channel) else { return nil }
        return OutgoingRequest(channel: channel.name, url: url, body: body)
    }

    func giveUpAge(_ policy: RetryPolicy) -> Int64 { policy.giveUpPager }
}

/// PagerDuty Events API v2: `trigger` (firing, escalation, repeat), `acknowledge`, `resolve`;
/// `dedup_key` is the fingerprint, so a retry or a restart never opens a second incident.
enum PagerDutyPayload {
    static let summaryLimit = 1024
    static let sizeLimit = 512 * 1024

    static func render(_ n: AlertNotification, channel: ChannelConfig) -> JSONValue? {
        guard let a = n.alerts.first, n.kind != .flapping, let key = channel.routingKey else { return nil }
        let action = switch n.kind {
        case .resolved: "resolve"
        case .acknowledge: "acknowledge"
        default: "trigger"
        }
        var event: [(String, JSONValue)] = [("routing_key", .string(key.reveal())), ("event_action", .string(action)),
                                            ("dedup_key", .string(a.fingerprint))]
        if action == "trigger" {
            let severity = switch a.severity {
            case .critical: "critical"
            case .warning: "warning"
            case .info: "info"
            }
            var details: [(String, JSONValue)] = a.labels.map { ($0.name, .string($0.value)) }
            details.append(("value", .string(a.valueText)))
            if let d = a.description { details.append(("description", .string(d))) }
            var payload: [(String, JSONValue)] = [
                ("summary", .string(truncate(a.summary, summaryLimit))),
                ("source", .string(channel.source ?? ProcessInfo.processInfo.hostName)),
                ("severity", .string(severity)),
                ("timestamp", .string(a.startsAt.rfc3339)),
                ("class", .string(a.name)),
                ("custom_details", .object(details)),
            ]
            event.append(("payload", .object(payload)))
            var links: [JSONValue] = a.runbook.map { [.object([("href", .string($0)), ("text", .string("Runbook"))])] } ?? []
            if let page = a.pageURL(channel.externalURL) {
                links.append(.object([("href", .string(page)), ("text", .string("vigil on-call page"))]))
                event.append(("client", .string("vigil")))
                event.append(("client_url", .string(page)))
            }
            if !links.isEmpty { event.append(("links", .array(links))) }
            // PagerDuty refuses events over 512 KB: drop the details first, they are the bulk.
            if JSONValue.object(event).serialized().utf8.count > sizeLimit {
                payload[5] = ("custom_details", .object([("truncated", .string("the details exceeded PagerDuty's 512 KB limit"))]))
                event[3] = ("payload", .object(payload))
            }
        }
        return .object(event)
    }
}

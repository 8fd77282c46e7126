import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let email = ChannelType(EmailIntegration())
}

struct EmailIntegration: Integration {
    let type = "email"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        post(n, channel) { EmailPayload.render(n, channel: channel) }
    }
}

/// Email through an HTTP mail gateway: `{from, to, subject, text}`.
enum EmailPayload {
    /// Alerts written out in one mail; past that, "and N more" (a group of thousands stays a mail).
    static let alertLimit = 100

    static func render(_ n: AlertNotification, channel: ChannelConfig) -> JSONValue {
        let first = n.alerts.first
        let subject = first.map { SlackPayload.title(n, $0) + (n.alerts.count > 1 ? " and \(n.alerts.count - 1) more" : "") } ?? "vigil"
        var text = n.alerts.prefix(alertLimit).map { a in
            var lines = [SlackPayload.title(n, a), a.summary, ""]
            lines += a.labels.map { "  \($0.name) = \($0.value)" }
            lines.append("  value = \(a.valueText)")
            lines.append("  since = \(a.startsAt.rfc3339)")
            if let end = a.endsAt { lines.append("  resolved = \(end.rfc3339)") }
            if let resolution = a.resolution { lines[1] += " — " + resolution }
            if let r = a.runbook { lines.append("  runbook = \(r)") }
            lines.append("  fingerprint = \(a.fingerprint)")
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
        if n.alerts.count > alertLimit { text += "\n\n…and \(n.alerts.count - alertLimit) more" }
        return .object([("from", .string(channel.from ?? "vigil@localhost")), ("to", .string(channel.to ?? "")),
                        ("subject", .string(subject)), ("text", .string(text))])
    }
}

import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let slack = ChannelType(SlackIntegration())
}

/// Slack incoming webhooks, paced at the channel's `rate` (1 a second by default: Slack's limit
/// per webhook), so requests arrive no faster.
struct SlackIntegration: Integration {
    let type = "slack"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        post(n, channel) { SlackPayload.render(n, externalURL: channel.externalURL) }
    }

    func pacing(_ channel: ChannelConfig) -> Int64? {
        // `rate` is 0.001…1000 a second (lint), so the interval is 1 ms…1000 s.
        channel.rate > 0 ? Int64(min(1e12, 1e9 / channel.rate)) : nil
    }
}

/// Slack incoming webhook: a text fallback plus blocks in a severity-coloured attachment. Anything
/// that came from the stream is escaped (`&`, `<`, `>`), so a label like `<!channel>` cannot ping,
/// and each section stays within Slack's 3,000 characters.
enum SlackPayload {
    static let sectionLimit = 3000
    /// Block Kit takes at most 50 blocks a message: 49 alerts, then "and N more".
    static let blockLimit = 50

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func color(_ n: AlertNotification) -> String {
        if n.kind == .resolved { return "#2EB67D" }
        switch n.alerts.first?.severity ?? .warning {
        case .critical: return "#E01E5A"
        case .warning: return "#ECB22E"
        case .info: return "#36C5F0"
        }
    }

    static func title(_ n: AlertNotification, _ a: AlertInfo) -> String {
        let state = switch n.kind {
        case .firing: "FIRING"
        case .escalation: "ESCALATED"
        case .repeat: "STILL FIRING"
        case .resolved: "RESOLVED"
        case .flapping: "FLAPPING"
        case .acknowledge: "ACKNOWLEDGED"
        }
        return "[\(state)] \(a.name) (\(a.severity.rawValue))"
    }

    /// With `externalURL`, each alert links to itself on the on-call page.
    static func render(_ n: AlertNotification, externalURL: String? = nil) -> JSONValue {
        var blocks: [JSONValue] = []
        let shown = n.alerts.count <= blockLimit ? n.alerts[...] : n.alerts.prefix(blockLimit - 1)
        for a in shown {
            var lines = ["*\(escape(title(n, a)))*", escape(a.summary)]
            if !a.labels.isEmpty { lines.append("*Labels:* " + a.labels.map { "`\(escape($0.name))=\(escape($0.value))`" }.joined(separator: " ")) }
            if let resolution = a.resolution {
                lines.append("*Value at firing:* \(escape(a.valueText))   *Since:* \(a.startsAt.rfc3339)")
                lines.append("*Resolved:* \(escape(resolution))")
            } else {
                lines.append("*Value:* \(escape(a.valueText))   *Since:* \(a.startsAt.rfc3339)")
            }
            if let runbook = a.runbook { lines.append("*Runbook:* <\(escape(runbook))|runbook>") }
            if let page = a.pageURL(externalURL) { lines.append("*Open:* <\(escape(page))|on the on-call page>") }
            blocks.append(.object([("type", .string("section")), ("text", .object([("type", .string("mrkdwn")),
                                   ("text", .string(truncate(lines.joined(separator: "\n"), sectionLimit)))]))]))
        }
        if shown.count < n.alerts.count {
            blocks.append(.object([("type", .string("section")), ("text", .object([("type", .string("mrkdwn")),
                                   ("text", .string("…and \(n.alerts.count - shown.count) more"))]))]))
        }
        let fallback = shown.map { "\(title(n, $0)): \($0.summary)" + ($0.resolution.map { " — \($0)" } ?? "") }.joined(separator: "; ")
        return .object([
            ("text", .string(truncate(escape(fallback) + (shown.count < n.alerts.count ? "; …and \(n.alerts.count - shown.count) more" : ""), sectionLimit))),
            ("attachments", .array([.object([("color", .string(color(n))), ("blocks", .array(blocks))])])),
        ])
    }
}

import Foundation
import VigilEngine

/// What a mail says about a notification, whichever way it is sent (`smtp` as a MIME message,
/// `resend` as JSON): the subject, a text body and an HTML body with the same content.
struct MailContent {
    /// Alerts written out in one mail; past that, "and N more" (a group of thousands stays a mail).
    static let alertLimit = 100

    let subject: String
    let text: String
    let html: String

    /// With `externalURL`, each alert links to itself on the on-call page.
    init(_ n: AlertNotification, externalURL: String? = nil) {
        subject = n.alerts.first.map { SlackPayload.title(n, $0) + ($0.resolution.map { " — \($0)" } ?? "")
            + (n.alerts.count > 1 ? " and \(n.alerts.count - 1) more" : "") } ?? "vigil"
        let shown = n.alerts.prefix(MailContent.alertLimit)
        let more = n.alerts.count - shown.count
        var text = shown.map { a in
            var lines = [SlackPayload.title(n, a), a.summary + (a.resolution.map { " — " + $0 } ?? ""), ""]
            lines += a.labels.map { "  \($0.name) = \($0.value)" }
            lines.append("  value = \(a.valueText)")
            lines.append("  since = \(a.startsAt.rfc3339)")
            if let end = a.endsAt { lines.append("  resolved = \(end.rfc3339)") }
            if let r = a.runbook { lines.append("  runbook = \(r)") }
            if let page = a.pageURL(externalURL) { lines.append("  on-call page = \(page)") }
            lines.append("  fingerprint = \(a.fingerprint)")
            return lines.joined(separator: "\n")
        }.joined(separator: "\n\n")
        if more > 0 { text += "\n\n…and \(more) more" }
        self.text = text
        let escape = MailContent.escape
        html = "<html><body>" + shown.map { a in
            "<h3>\(escape(SlackPayload.title(n, a)))</h3><p>\(escape(a.summary))\(a.resolution.map { " — " + escape($0) } ?? "")</p><table>"
                + a.labels.map { "<tr><td>\(escape($0.name))</td><td>\(escape($0.value))</td></tr>" }.joined()
                + "<tr><td>value</td><td>\(escape(a.valueText))</td></tr><tr><td>since</td><td>\(a.startsAt.rfc3339)</td></tr></table>"
                + (a.runbook.map { "<p><a href=\"\(escape($0))\">runbook</a></p>" } ?? "")
                + (a.pageURL(externalURL).map { "<p><a href=\"\(escape($0))\">open on the on-call page</a></p>" } ?? "")
        }.joined() + (more > 0 ? "<p>…and \(more) more</p>" : "") + "</body></html>"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let smtp = ChannelType(SMTPIntegration())
}

/// Mail over SMTP, as Alertmanager's email receiver: a proper message (Date, Message-ID, From,
/// To, Subject encoded when not ASCII, MIME text/plain and text/html alternatives in UTF-8) to a
/// smarthost, with STARTTLS required by default and AUTH when a username is given. The
/// sidecar sends it through libcurl; replies 4xx are retried, 5xx are final.
struct SMTPIntegration: Integration {
    let type = "smtp"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        guard n.kind != .acknowledge, let smtp = channel.smtp, !channel.recipients.isEmpty else { return nil }
        let from = channel.from ?? "vigil@localhost"
        let envelope = MailEnvelope(from: MailMessage.address(from), to: channel.recipients.map(MailMessage.address), username: smtp.username,
                                    password: smtp.password, caFile: smtp.caFile, requireTLS: smtp.requireTLS)
        let message = MailMessage.render(n, from: from, to: channel.recipients, externalURL: channel.externalURL)
        return OutgoingRequest(channel: channel.name, url: Secret(smtp.url), body: Data(message.utf8), mail: envelope)
    }
}

/// An RFC 5322 message for a notification.
enum MailMessage {
    static func render(_ n: AlertNotification, from: String, to: [String], externalURL: String? = nil) -> String {
        let mail = MailContent(n, externalURL: externalURL)
        let id = (n.alerts.first?.fingerprint ?? "0") + "." + n.kind.rawValue + "." + String(UInt64(bitPattern: n.at.nanoseconds), radix: 36)
        let boundary = "vigil-" + id
        let headers = [
            "Date: " + date(n.at),
            "Message-ID: <\(id)@vigil>",
            "From: " + header(from),
            "To: " + to.map(header).joined(separator: ", "),
            "Subject: " + header(mail.subject),
            "MIME-Version: 1.0",
            "Content-Type: multipart/alternative; boundary=\"\(boundary)\"",
        ]
        func part(_ type: String, _ body: String) -> String {
            "--\(boundary)\r\nContent-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                + wrap(Data(body.utf8).base64EncodedString()) + "\r\n"
        }
        return headers.joined(separator: "\r\n") + "\r\n\r\n" + part("text/plain", mail.text) + part("text/html", mail.html) + "--\(boundary)--\r\n"
    }

    /// `Name <a@b>` or `a@b` → `a@b`, for the envelope.
    static func address(_ s: String) -> String {
        if let open = s.lastIndex(of: "<"), let close = s.lastIndex(of: ">"), open < close { return String(s[s.index(after: open)..<close]) }
        return s.trimmingCharacters(in: .whitespaces)
    }

    /// A header value: as is when printable ASCII, else RFC 2047 base64 in UTF-8. CR and LF
    /// never pass (a label value cannot add a header).
    static func header(_ s: String) -> String {
        let clean = s.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        if clean.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F }) { return clean }
        return "=?UTF-8?B?" + Data(clean.utf8).base64EncodedString() + "?="
    }

    /// RFC 5322's date, in UTC.
    static func date(_ t: Instant) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss '+0000'"
        return f.string(from: Date(timeIntervalSince1970: Double(t.nanoseconds) / 1e9))
    }

    /// Base64 in lines of 76 (RFC 2045).
    static func wrap(_ s: String) -> String {
        var out: [Substring] = []
        var rest = Substring(s)
        while !rest.isEmpty {
            out.append(rest.prefix(76))
            rest = rest.dropFirst(76)
        }
        return out.joined(separator: "\r\n")
    }
}

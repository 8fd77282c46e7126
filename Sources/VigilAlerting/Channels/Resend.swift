import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let resend = ChannelType(ResendIntegration())
}

/// Mail through Resend's HTTP API (`POST https://api.resend.com/emails`, `Authorization: Bearer
/// <api_key>`), for hosts that may not reach an SMTP server: `{from, to: [...], subject, text,
/// html}`, the same content as an `smtp` mail. Resend answers 429 when over its rate and 5xx
/// when down (retried); any other 4xx is final.
struct ResendIntegration: Integration {
    let type = "resend"
    let defaultURL: String? = "https://api.resend.com/emails"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        guard n.kind != .acknowledge, let url = channel.url, let key = channel.apiKey, !channel.recipients.isEmpty else { return nil }
        return OutgoingRequest(channel: channel.name, url: url, body: ResendPayload.render(n, channel: channel),
                               headers: [("Authorization", Secret("Bearer " + key.reveal()))])
    }
}

enum ResendPayload {
    static func render(_ n: AlertNotification, channel: ChannelConfig) -> JSONValue {
        let mail = MailContent(n, externalURL: channel.externalURL)
        return .object([("from", .string(channel.from ?? "vigil@localhost")), ("to", .array(channel.recipients.map(JSONValue.string))),
                        ("subject", .string(mail.subject)), ("text", .string(mail.text)), ("html", .string(mail.html))])
    }
}

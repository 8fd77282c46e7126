import Foundation
import VigilEngine
import VigilRules

/// A JSON value with ordered object keys, so payloads serialize the same every time (golden files).
public indirect enum JSONValue: Equatable, Sendable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.serialized() == b.serialized() }

    /// Compact JSON.
    public func serialized() -> String {
        switch self {
        case .object(let members): "{" + members.map { jsonString($0.0) + ":" + $0.1.serialized() }.joined(separator: ",") + "}"
        case .array(let items): "[" + items.map { $0.serialized() }.joined(separator: ",") + "]"
        case .string(let s): jsonString(s)
        case .number(let n): n.isFinite ? formatNumber(n) : "null"
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }

    /// Labels as a JSON object.
    static func labels(_ labels: [Label]) -> JSONValue { .object(labels.map { ($0.name, .string($0.value)) }) }
}

/// An HTTP request a channel wants sent. Its URL is a secret (Slack's webhook URL is one), so
/// the request prints as its channel and method only.
public struct OutgoingRequest: Sendable, CustomStringConvertible {
    public let channel: String
    public let url: Secret
    public let body: Data
    public let contentType = "application/json"

    public init(channel: String, url: Secret, body: Data) {
        self.channel = channel
        self.url = url
        self.body = body
    }

    public var description: String { "POST <redacted> for channel \(channel) (\(body.count) bytes)" }
}

/// Cuts `text` to at most `limit` characters, marking the cut.
func truncate(_ text: String, _ limit: Int) -> String {
    text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
}

/// Routes a notification to its integration's renderer.
public enum Payloads {
    /// The request for a notification on a channel; nil for console channels (and for kinds a
    /// target has no use for, like `acknowledge` outside PagerDuty).
    public static func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        let body: JSONValue?
        switch channel.type {
        case .slack: body = n.kind == .acknowledge ? nil : SlackPayload.render(n)
        case .pagerduty: body = PagerDutyPayload.render(n, channel: channel)
        case .email: body = n.kind == .acknowledge ? nil : EmailPayload.render(n, channel: channel)
        case .webhook: body = n.kind == .acknowledge ? nil : WebhookPayload.render(n, channel: channel)
        case .alertmanager: body = n.kind == .acknowledge ? nil : AlertmanagerPayload.render(n)
        case .console: body = nil
        }
        guard let body, let url = channel.url else { return nil }
        let target = channel.type == .alertmanager ? Secret(url.reveal().trimmingSuffix("/") + "/api/v2/alerts") : url
        return OutgoingRequest(channel: channel.name, url: target, body: Data(body.serialized().utf8))
    }
}

extension String {
    func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}

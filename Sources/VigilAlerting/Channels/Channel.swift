import Foundation
import VigilEngine
import VigilRules

/// One integration, as Alertmanager's `notify/` has one per receiver type: everything a target
/// type decides lives in its file (`Slack.swift`, `PagerDuty.swift`, …): the request for a
/// notification (and what a resolve or an acknowledgement looks like there), how the target's
/// answer is read, pacing, and how long vigil keeps trying. Delivery and the router ask the
/// channel's integration; nothing else switches on a channel's type. A new target is one file
/// and one line in `ChannelType.all` (and its settings in lint's `ChannelSchema.builtin`).
public protocol Integration: Sendable {
    /// The config's `type` word.
    var type: String { get }
    /// Where a channel without a `url` posts, if anywhere.
    var defaultURL: String? { get }
    /// The request for a notification; nil when the target takes no such notice.
    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest?
    /// A line printed instead of a request (console channels): not owed, nothing to retry.
    func consoleLine(for n: AlertNotification) -> String?
    /// What an attempt's result means: delivered, retried (when), or final.
    func classify(_ result: HTTPResult, now: Date) -> DeliveryOutcome
    /// The least time between the end of one request and the start of the next; nil: unpaced
    /// (up to the retry policy's concurrency).
    func pacing(_ channel: ChannelConfig) -> Int64?
    /// How long a notification is retried before it is given up and reported on the fallback.
    func giveUpAge(_ policy: RetryPolicy) -> Int64
    /// Whether channels of this type are told about acknowledgements (the router sends them
    /// `acknowledge` after `vigil ack`, to the channels that were told the alert fired).
    var takesAcknowledgements: Bool { get }
    /// Whether one message may carry several alerts (a group); false: the router sends a group
    /// as one notification per alert.
    var groupsAlerts: Bool { get }
}

extension Integration {
    public var defaultURL: String? { nil }
    public func consoleLine(for n: AlertNotification) -> String? { nil }
    public func classify(_ result: HTTPResult, now: Date) -> DeliveryOutcome { DeliveryOutcome.classify(result, now: now) }
    public func pacing(_ channel: ChannelConfig) -> Int64? { nil }
    public func giveUpAge(_ policy: RetryPolicy) -> Int64 { policy.giveUpOther }
    public var takesAcknowledgements: Bool { false }
    public var groupsAlerts: Bool { true }

    /// A JSON POST of `body` to the channel's `url`, for every kind but `acknowledge` (which only
    /// a target that takes acknowledgements wants): what most integrations send.
    func post(_ n: AlertNotification, _ channel: ChannelConfig, _ body: () -> JSONValue) -> OutgoingRequest? {
        guard n.kind != .acknowledge, let url = channel.url else { return nil }
        return OutgoingRequest(channel: channel.name, url: url, body: body())
    }
}

/// A target that holds alert state itself (Alertmanager): vigil keeps that state in sync, as
/// Prometheus's notifier does, instead of sending it notices. Delivery keeps the current alerts
/// of such a channel and sends all of them to each peer every `resend` and at each change.
public protocol StateSyncIntegration: Integration {
    /// The request that tells `peer` the present: `alerts` carry `endsAt` (in the future for
    /// active ones, so the peer ends them by itself if vigil stops saying so).
    func stateRequest(_ alerts: [AlertInfo], peer: Secret, channel: ChannelConfig) -> OutgoingRequest
    /// How long a resolved alert is still sent, nanoseconds.
    var resolvedRetention: Int64 { get }
}

/// What kind of target a channel delivers to: its integration, compared by type word.
public struct ChannelType: Sendable, Equatable, CustomStringConvertible {
    public let integration: any Integration

    public init(_ integration: any Integration) { self.integration = integration }

    /// The registry: every type a config may name.
    public static let all: [ChannelType] = [.slack, .pagerduty, .smtp, .resend, .webhook, .alertmanager, .console]

    /// The type a config's `type` word names.
    public static func named(_ word: String) -> ChannelType? { all.first { $0.name == word } }

    public var name: String { integration.type }
    public var description: String { name }
    public static func == (a: ChannelType, b: ChannelType) -> Bool { a.name == b.name }
}

extension ChannelConfig {
    /// The request for a notification on this channel, if its target takes one.
    public func request(for n: AlertNotification) -> OutgoingRequest? { type.integration.request(for: n, channel: self) }
}

/// An HTTP request a channel wants sent. Its URL is a secret (Slack's webhook URL is one), so
/// the request prints as its channel and method only.
public struct OutgoingRequest: Sendable, CustomStringConvertible {
    public let channel: String
    public let url: Secret
    public let body: Data
    public let contentType = "application/json"
    /// Headers beyond Content-Type, such as an API key's `Authorization`: values are secrets.
    public let headers: [(name: String, value: Secret)]
    /// For a mail (`smtp://`, `smtps://`): the envelope and the login; the body is the message.
    public let mail: MailEnvelope?

    public init(channel: String, url: Secret, body: Data, headers: [(name: String, value: Secret)] = [], mail: MailEnvelope? = nil) {
        self.channel = channel
        self.url = url
        self.body = body
        self.headers = headers
        self.mail = mail
    }

    init(channel: String, url: Secret, body: JSONValue, headers: [(name: String, value: Secret)] = []) {
        self.init(channel: channel, url: url, body: Data(body.serialized().utf8), headers: headers)
    }

    public var description: String { "\(mail == nil ? "POST" : "MAIL") <redacted> for channel \(channel) (\(body.count) bytes)" }
}

/// An SMTP envelope: sender, recipients, and how to log in.
public struct MailEnvelope: Sendable {
    public let from: String
    public let to: [String]
    public let username: String?
    public let password: Secret?
    public let caFile: String?
    /// STARTTLS or fail (implicit TLS on smtps:// regardless).
    public let requireTLS: Bool
}

/// What a delivery attempt came to.
public enum HTTPResult: Sendable, Equatable {
    case status(Int, retryAfter: String?)
    case timeout
    case cannotConnect(String)
    case failed(String)
    /// An SMTP server's reply code and why the transfer stopped.
    case reply(Int, String)

    /// In words, for logs and the fallback report (URLSession's own errors are numbers on Linux).
    public var description: String {
        switch self {
        case .status(let code, _): "HTTP \(code)"
        case .timeout: "timed out"
        case .cannotConnect(let why): "cannot connect (\(why))"
        case .failed(let why): why
        case .reply(let code, let why): "SMTP \(code)" + (why.isEmpty ? "" : " (\(why))")
        }
    }
}

/// Retries: exponential backoff with full jitter, give-up windows, concurrency.
public struct RetryPolicy: Sendable {
    public var base: Int64 = 1_000_000_000
    public var cap: Int64 = 300_000_000_000
    public var giveUpPager: Int64 = 86_400_000_000_000
    public var giveUpOther: Int64 = 3_600_000_000_000
    /// Alerts in flight at once per channel (each alert's own notifications stay in order).
    public var concurrency = 4

    public init() {}

    /// The wait before attempt `n + 1` (n ≥ 1): uniform in [0, min(cap, base·2ⁿ⁻¹)].
    public func backoff(after attempt: Int) -> Int64 {
        let ceiling = min(cap, base << min(40, max(0, attempt - 1)))
        return Int64.random(in: 0...max(0, ceiling))
    }
}

/// What to do after an attempt.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered
    case retry(after: Int64?)
    case final(String)

    /// SPEC §3: 2xx delivered; timeouts, connection errors, 408, 429 and 5xx retried (honouring
    /// `Retry-After`, seconds or an HTTP date, on 429 and 503); any other 4xx is final.
    public static func classify(_ r: HTTPResult, now: Date = Date()) -> DeliveryOutcome {
        switch r {
        case .status(let code, let retryAfter):
            if (200..<300).contains(code) { return .delivered }
            if code == 429 || code == 503 { return .retry(after: retryAfter.flatMap { parseRetryAfter($0, now: now) }) }
            if code == 408 || (500..<600).contains(code) { return .retry(after: nil) }
            return .final("HTTP \(code)")
        case .reply(let code, _):
            // SMTP (RFC 5321): 4xx is transient, 5xx permanent.
            if (200..<400).contains(code) { return .delivered }
            if (400..<500).contains(code) { return .retry(after: nil) }
            return .final(r.description)
        case .timeout, .cannotConnect, .failed:
            return .retry(after: nil)
        }
    }

    /// The longest `Retry-After` honoured: a receiver cannot park a channel for longer (the
    /// give-up age decides what happens after).
    public static let longestRetryAfter: Int64 = 86_400_000_000_000

    /// `Retry-After: 2` or `Retry-After: Wed, 21 Oct 2015 07:28:00 GMT` → nanoseconds from now,
    /// at most a day.
    static func parseRetryAfter(_ value: String, now: Date) -> Int64? {
        let v = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int64(v), seconds >= 0 { return min(seconds.multipliedSaturated(by: 1_000_000_000), longestRetryAfter) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = f.date(from: v) else { return nil }
        let seconds = date.timeIntervalSince(now)
        guard seconds.isFinite else { return nil }
        return Int64(max(0, min(seconds, Double(longestRetryAfter) / 1e9)) * 1e9)
    }
}


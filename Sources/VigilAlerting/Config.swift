import Foundation
import VigilRules

/// A secret from the config (`env:NAME`, `file:PATH`, or a literal). Every printable form of it is
/// `<redacted>`: description, debug description, string interpolation, JSON encoding. The value
/// leaves only through `reveal()`, where a target needs it (a request URL, a routing key).
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable, Encodable {
    private let value: String

    public init(_ value: String) { self.value = value }

    public func reveal() -> String { value }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    /// No children, so `dump()` and other mirrors cannot show it either.
    public var customMirror: Mirror { Mirror(self, children: []) }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode("<redacted>")
    }
}

/// One declared channel, secrets resolved.
public struct ChannelConfig: Sendable, Equatable {
    public let name: String
    public let type: ChannelType
    /// Where to POST; without one, the integration's default (PagerDuty's public enqueue URL).
    public let url: Secret?
    public let routingKey: Secret?
    /// A mail provider's API key (`resend`), sent as a bearer token.
    public let apiKey: Secret?
    /// Where mail goes (`smtp`, `resend`): one or more addresses, `Name <a@b>` or `a@b`.
    public let recipients: [String]
    public let from: String?
    public let source: String?
    /// Per-request timeout, nanoseconds.
    public let timeout: Int64
    /// Slack's rate limit: messages per second.
    public let rate: Double
    /// Every `url` given (an Alertmanager cluster's peers; one for other types).
    public let peers: [Secret]
    /// How often a state-sync target (Alertmanager) is sent the whole state, nanoseconds.
    public let resend: Int64
    /// A webhook's `max_alerts`: alerts in one message at most (0: all), the rest counted.
    public let maxAlerts: Int
    /// The config's `external_url`, which `load` gives every channel (webhooks' `externalURL`,
    /// Alertmanager's `generatorURL`).
    public internal(set) var externalURL: String?
    /// An smtp channel's server and login.
    public var smtp: SMTPSettings?

    public init(name: String, type: ChannelType, url: Secret? = nil, routingKey: Secret? = nil, apiKey: Secret? = nil,
                recipients: [String] = [], from: String? = nil, source: String? = nil, timeout: Int64 = 10_000_000_000, rate: Double = 1,
                peers: [Secret]? = nil, resend: Int64 = 60_000_000_000, maxAlerts: Int = 0, externalURL: String? = nil) {
        self.name = name
        self.type = type
        self.url = url ?? type.integration.defaultURL.map(Secret.init)
        self.routingKey = routingKey
        self.apiKey = apiKey
        self.recipients = recipients
        self.from = from
        self.source = source
        self.timeout = timeout
        self.rate = rate
        self.peers = peers ?? self.url.map { [$0] } ?? []
        self.resend = resend
        self.maxAlerts = maxAlerts
        self.externalURL = externalURL
    }
}

/// An smtp channel's settings: `smarthost "HOST:PORT"` (465: implicit TLS), `hello`, `to`
/// (one or more), `require_tls` (default true: STARTTLS or no mail), `auth_username`,
/// `auth_password` (a secret), `ca_file`.
public struct SMTPSettings: Sendable, Equatable {
    public var smarthost: String
    public var hello: String = "vigil"
    public var requireTLS = true
    public var username: String?
    public var password: Secret?
    public var caFile: String?

    public init(smarthost: String) { self.smarthost = smarthost }

    /// libcurl's URL for the server: smtps:// on port 465, smtp:// (STARTTLS) otherwise; the
    /// path is the EHLO name.
    public var url: String {
        (smarthost.hasSuffix(":465") ? "smtps://" : "smtp://") + smarthost + "/" + hello
    }
}

/// Channels and routing defaults (SPEC §2).
public struct AlertingConfig: Sendable {
    public var channels: [String: ChannelConfig]
    public var escalationTarget: String
    public var fallback: String?
    /// `external_url`: where people and peers reach this vigil (Alertmanager's `generatorURL`).
    public var externalURL: String?
    /// `silences_from NAME`: the alertmanager channel whose cluster holds the silences, which
    /// every replica mirrors (an amtool silence mutes them all).
    public var silencesFrom: String?
    /// `cluster NAME`: replicas deliver through that alertmanager channel's cluster (`Cluster`):
    /// the channels it can deliver are relayed to it, and it holds silences and acks.
    public var cluster: String?

    /// The alertmanager channel whose cluster takes `channel`'s notifications, in cluster mode.
    public func relay(for channel: ChannelConfig) -> String? {
        guard let cluster, channel.name != cluster, Cluster.relays(channel.type) else { return nil }
        return cluster
    }

    /// With no config file: `pager`, `slack` and `email` are console channels (SPEC §2).
    public static let defaults = AlertingConfig(
        channels: Dictionary(uniqueKeysWithValues: Builtins.defaultChannels.map { ($0, ChannelConfig(name: $0, type: .console)) }),
        escalationTarget: "pager", fallback: nil)

    public init(channels: [String: ChannelConfig], escalationTarget: String, fallback: String?) {
        self.channels = channels
        self.escalationTarget = escalationTarget
        self.fallback = fallback
    }

    /// A secret that could not be resolved, naming the channel and the cause.
    public struct LoadError: Error, CustomStringConvertible, Sendable {
        public let channel: String
        public let message: String
        public var description: String { "channel \(channel): \(message)" }
    }

    /// Builds the config from a parsed (and linted) config file, resolving `env:` and `file:`
    /// secrets with `environment` and `readFile` (injected so tests need no real environment).
    /// `resolveSecrets: false` (replay, test: nothing is sent) leaves every secret unresolved.
    public static func load(_ file: RuleFile?, environment: [String: String] = ProcessInfo.processInfo.environment,
                            readFile: (String) -> String? = SecretFile.read,
                            resolveSecrets: Bool = true) throws(LoadError) -> AlertingConfig {
        guard let file else { return defaults }
        var config = AlertingConfig(channels: [:], escalationTarget: "pager", fallback: nil)
        for statement in file.statements {
            switch statement {
            case .block(let c) where c.kind == .channel:
                guard let channelName = c.name?.name else { continue }
                var values: [String: SettingValue] = [:]
                var lists: [String: [SettingValue]] = [:]
                for s in c.settings {
                    values[s.key.name] = s.value
                    lists[s.key.name] = s.values
                }
                func word(_ key: String) -> String? {
                    switch values[key] {
                    case .word(let w)?: w.name
                    case .string(let s)?: s.value
                    default: nil
                    }
                }
                func secret(_ key: String, _ value: SettingValue? = nil) throws(LoadError) -> Secret? {
                    switch value ?? values[key] {
                    case .string(let s)?: return Secret(s.value)
                    case .secret(let ref)?:
                        let text = ref.name
                        if !resolveSecrets { return Secret("<unresolved \(text)>") }
                        if text.hasPrefix("env:") {
                            let name = String(text.dropFirst(4))
                            guard let v = environment[name], !v.isEmpty else {
                                throw LoadError(channel: channelName, message: "\(key) comes from the environment variable \(name), which is not set")
                            }
                            return Secret(v)
                        }
                        let path = String(text.dropFirst(5))
                        guard let v = readFile(path)?.trimmingCharacters(in: .whitespacesAndNewlines), !v.isEmpty else {
                            throw LoadError(channel: channelName, message: "\(key) comes from the file \(path), which cannot be read or is empty")
                        }
                        return Secret(v)
                    default: return nil
                    }
                }
                func duration(_ key: String) -> Int64? {
                    if case .number(let n)? = values[key] { return n.quantity.nanoseconds }
                    return nil
                }
                let type = ChannelType.named(word("type") ?? "console") ?? .console
                var rate = 1.0
                if case .number(let n)? = values["rate"] { rate = n.quantity.value }
                var peers: [Secret] = []
                for v in lists["url"] ?? [] { if let p = try secret("url", v) { peers.append(p) } }
                var smtp: SMTPSettings?
                if type == .smtp, let host = word("smarthost") {
                    var m = SMTPSettings(smarthost: host)
                    if let h = word("hello") { m.hello = h }
                    m.requireTLS = word("require_tls") != "false"
                    m.username = word("auth_username")
                    m.password = try secret("auth_password")
                    m.caFile = word("ca_file")
                    smtp = m
                }
                config.channels[channelName] = ChannelConfig(
                    name: channelName, type: type, url: try secret("url"), routingKey: try secret("routing_key"), apiKey: try secret("api_key"),
                    recipients: (lists["to"] ?? []).compactMap { v -> String? in
                        switch v { case .string(let s): s.value; case .word(let w): w.name; default: nil }
                    },
                    from: word("from"), source: word("source"),
                    timeout: duration("timeout") ?? 10_000_000_000, rate: rate,
                    peers: peers,
                    resend: duration("resend") ?? 60_000_000_000,
                    maxAlerts: { if case .number(let n)? = values["max_alerts"] { Int(exactly: n.quantity.value) ?? 0 } else { 0 } }())
                config.channels[channelName]?.smtp = smtp
            case .setting(let s):
                if s.key.name == "escalation_target", case .word(let w)? = s.value { config.escalationTarget = w.name }
                if s.key.name == "fallback", case .word(let w)? = s.value { config.fallback = w.name }
                if s.key.name == "external_url", case .string(let u)? = s.value { config.externalURL = u.value.trimmingSuffix("/") }
                if s.key.name == "silences_from", case .word(let w)? = s.value { config.silencesFrom = w.name }
                if s.key.name == "cluster", case .word(let w)? = s.value { config.cluster = w.name }
            default:
                break
            }
        }
        for name in config.channels.keys { config.channels[name]?.externalURL = config.externalURL }
        if config.silencesFrom == nil { config.silencesFrom = config.cluster } // the cluster holds the silences
        return config
    }
}

/// Reads a secret or token file (`file:PATH`, `--api-token-file`): at most 64 KiB of UTF-8, so
/// a path that names /dev/zero or a log file cannot hang or flood vigil at start or reload.
public enum SecretFile {
    public static let limit = 64 * 1024

    /// The file's text, or nil when it cannot be read, is longer than `limit` or is not UTF-8.
    public static func read(_ path: String) -> String? {
        guard let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let data = try? handle.read(upToCount: limit + 1), data.count <= limit else { return nil }
        return String(data: data, encoding: .utf8)
    }
}

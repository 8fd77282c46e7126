/// What `probe`, `watch` and `system` blocks ask vigil to measure (SPEC §7), typed. `load`
/// reads a linted config; the checker (`Checker+Surroundings`) has already reported every
/// block that does not fit, and `load` skips such a block rather than guess.
public struct Surroundings: Sendable, Equatable {
    public struct Probe: Sendable, Equatable {
        public enum Target: Sendable, Equatable {
            /// `tcp "host:port"` or `tcp "[v6]:port"`: a name is resolved at each check.
            case tcp(host: String, port: UInt16)
            /// `tcp "unix:/path"` or `tcp "/path"`: a stream Unix socket.
            case unix(String)
            /// `http "http(s)://…"` (or `http env:NAME` / `http file:PATH`, see `urlSecret`): a GET.
            case http(String)
        }
        public var name: String
        public var target: Target
        public var interval: Int64
        public var timeout: Int64
        public var critical: Bool
        /// `expect N`: the one status that counts as up. nil: any 2xx.
        public var expect: Int?
        /// `env:NAME` or `file:PATH` when the HTTP URL is a secret (it may carry a token): the
        /// URL is filled in by `resolvingSecrets`, and this is all logs and the API show of it.
        public var urlSecret: String?

        public init(name: String, target: Target, interval: Int64, timeout: Int64? = nil, critical: Bool = false, expect: Int? = nil,
                    urlSecret: String? = nil) {
            self.name = name
            self.target = target
            self.urlSecret = urlSecret
            self.interval = interval
            self.timeout = timeout ?? Surroundings.defaultTimeout(interval: interval)
            self.critical = critical
            self.expect = expect
        }

        /// The target as logs and the API may show it: an HTTP URL loses its user, password
        /// and query (they can hold tokens), and a secret one shows only where it comes from.
        public var displayTarget: String {
            switch target {
            case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
            case .unix(let path): "unix:\(path)"
            case .http(let url): urlSecret ?? Surroundings.redacted(url)
            }
        }
    }

    public struct Watch: Sendable, Equatable {
        public enum Selector: Sendable, Equatable {
            case pid(Int32)
            /// Re-read at every check, so a restarted process is followed.
            case pidFile(String)
            /// The oldest process whose command line (arguments joined by spaces) contains it.
            case command(String)
        }
        public var name: String
        public var selector: Selector
        public var interval: Int64

        public init(name: String, selector: Selector, interval: Int64 = Surroundings.defaultInterval) {
            self.name = name
            self.selector = selector
            self.interval = interval
        }
    }

    public struct System: Sendable, Equatable {
        public var interval: Int64
        /// Mount points whose usage is reported; `/` unless `mounts` says otherwise.
        public var mounts: [String]

        public init(interval: Int64 = Surroundings.defaultInterval, mounts: [String] = ["/"]) {
            self.interval = interval
            self.mounts = mounts
        }
    }

    /// `scrape NAME { url "http://…/metrics" every 1s timeout 500ms }`: a Prometheus exposition
    /// endpoint read on the monitor's schedule, each answer one instant of the target's series.
    public struct Scrape: Sendable, Equatable {
        public var name: String
        /// The endpoint (filled in by `resolvingSecrets` when `urlSecret` is set).
        public var url: String
        public var interval: Int64
        public var timeout: Int64
        /// `env:NAME` or `file:PATH` when the URL is a secret; all that logs and the API show.
        public var urlSecret: String?

        public init(name: String, url: String, interval: Int64, timeout: Int64? = nil, urlSecret: String? = nil) {
            self.name = name
            self.url = url
            self.interval = interval
            self.timeout = timeout ?? Surroundings.defaultTimeout(interval: interval)
            self.urlSecret = urlSecret
        }

        public var displayTarget: String { urlSecret ?? Surroundings.redacted(url) }
    }

    /// `tail NAME { path "/var/log/trader/*.log" }`: log files followed as stream lines. The
    /// pattern (`fnmatch`) is in the file name only; the directory is a plain path.
    public struct Tail: Sendable, Equatable {
        public var name: String
        public var directory: String
        public var pattern: String

        public init(name: String, directory: String, pattern: String) {
            self.name = name
            self.directory = directory
            self.pattern = pattern
        }

        public var path: String { directory + "/" + pattern }
    }

    /// `heartbeat { url env:HEARTBEAT_URL every 30s grace 2m }`: a dead man's switch, pinged
    /// only while vigil reads the stream and its core answers. `grace` is the monitor's (for
    /// lint only: vigil must ping more often than that).
    public struct Heartbeat: Sendable, Equatable {
        public var url: String
        public var interval: Int64
        public var urlSecret: String?

        public init(url: String, interval: Int64 = Surroundings.defaultHeartbeatInterval, urlSecret: String? = nil) {
            self.url = url
            self.interval = interval
            self.urlSecret = urlSecret
        }

        /// A ping waits at most this long for its answer.
        public var timeout: Int64 { min(10_000_000_000, interval) }
        public var displayTarget: String { urlSecret ?? Surroundings.redacted(url) }
    }

    public var probes: [Probe]
    public var watches: [Watch]
    public var system: System?
    public var scrapes: [Scrape]
    public var tails: [Tail]
    public var heartbeat: Heartbeat?

    public init(probes: [Probe] = [], watches: [Watch] = [], system: System? = nil, scrapes: [Scrape] = [], tails: [Tail] = [],
                heartbeat: Heartbeat? = nil) {
        self.probes = probes
        self.watches = watches
        self.system = system
        self.scrapes = scrapes
        self.tails = tails
        self.heartbeat = heartbeat
    }

    /// Nothing for the monitor to check (tails are read by the stream side).
    public var isEmpty: Bool { probes.isEmpty && watches.isEmpty && system == nil && scrapes.isEmpty && heartbeat == nil }

    /// A heartbeat's `every` when it leaves it out.
    public static let defaultHeartbeatInterval: Int64 = 30_000_000_000

    /// A tail's `path`: absolute, with a pattern (`*`, `?`, `[…]`) in the file name only.
    public static func parseTailPath(_ text: String) -> Result<(directory: String, pattern: String), TargetError> {
        guard text.hasPrefix("/") else { return .failure(TargetError("a tail's path must be absolute, like \"/var/log/trader/*.log\"")) }
        guard let slash = text.lastIndex(of: "/"), slash != text.index(before: text.endIndex) else {
            return .failure(TargetError("a tail's path must end in a file name or pattern, like \"/var/log/trader/*.log\""))
        }
        let directory = slash == text.startIndex ? "/" : String(text[..<slash])
        let pattern = String(text[text.index(after: slash)...])
        guard !directory.contains(where: { "*?[".contains($0) }) else {
            return .failure(TargetError("a pattern may only be in the file name, not in the directory (\(directory))"))
        }
        return .success((directory == "/" ? "" : directory, pattern))
    }

    /// `every` when a block leaves it out.
    public static let defaultInterval: Int64 = 10_000_000_000
    /// `timeout` when a probe leaves it out: 5 s, or the interval if that is shorter.
    public static func defaultTimeout(interval: Int64) -> Int64 { min(5_000_000_000, interval) }

    /// The blocks of a linted config; nothing without one.
    public static func load(_ file: RuleFile?) -> Surroundings {
        var result = Surroundings()
        for case .block(let b) in file?.statements ?? [] {
            let interval = b.setting("every").flatMap { duration($0) } ?? defaultInterval
            switch b.kind {
            case .probe:
                guard let name = b.name?.name, let (target, secret) = probeTarget(b) else { continue }
                var expect: Int?
                if case .number(let n)? = b.setting("expect")?.value { expect = Int(exactly: n.quantity.value) }
                result.probes.append(Probe(name: name, target: target, interval: interval,
                                           timeout: b.setting("timeout").flatMap { duration($0) },
                                           critical: b.setting("critical") != nil, expect: expect, urlSecret: secret))
            case .watch:
                guard let name = b.name?.name, let selector = watchSelector(b) else { continue }
                result.watches.append(Watch(name: name, selector: selector, interval: interval))
            case .system:
                var mounts = ["/"]
                if case .string(let s)? = b.setting("mounts")?.value { mounts = s.value.split(separator: " ").map(String.init) }
                result.system = System(interval: interval, mounts: mounts)
            case .heartbeat:
                let every = b.setting("every").flatMap { duration($0) } ?? defaultHeartbeatInterval
                switch b.setting("url")?.value {
                case .string(let s)? where isHTTPURL(s.value): result.heartbeat = Heartbeat(url: s.value, interval: every)
                case .secret(let ref)?: result.heartbeat = Heartbeat(url: "", interval: every, urlSecret: ref.name)
                default: continue
                }
            case .tail:
                guard let name = b.name?.name, case .string(let s)? = b.setting("path")?.value,
                      case .success(let p) = parseTailPath(s.value) else { continue }
                result.tails.append(Tail(name: name, directory: p.directory, pattern: p.pattern))
            case .scrape:
                guard let name = b.name?.name else { continue }
                let timeout = b.setting("timeout").flatMap { duration($0) }
                switch b.setting("url")?.value {
                case .string(let s)? where isHTTPURL(s.value):
                    result.scrapes.append(Scrape(name: name, url: s.value, interval: interval, timeout: timeout))
                case .secret(let ref)?:
                    result.scrapes.append(Scrape(name: name, url: "", interval: interval, timeout: timeout, urlSecret: ref.name))
                default:
                    continue
                }
            case .channel:
                continue
            }
        }
        return result
    }

    static func duration(_ s: Setting) -> Int64? {
        guard case .number(let n)? = s.value, let ns = n.quantity.nanoseconds, ns > 0 else { return nil }
        return ns
    }

    static func probeTarget(_ b: BlockDecl) -> (Probe.Target, secret: String?)? {
        if case .string(let s)? = b.setting("tcp")?.value, case .success(let t) = parseTCP(s.value) { return (t, nil) }
        switch b.setting("http")?.value {
        case .string(let s)? where isHTTPURL(s.value): return (.http(s.value), nil)
        case .secret(let ref)?: return (.http(""), ref.name)
        default: return nil
        }
    }

    /// A probe or scrape URL that comes from the environment or a file and cannot be read.
    public struct SecretError: Error, Sendable, CustomStringConvertible {
        /// `probe NAME` or `scrape NAME`.
        public let probe: String
        public let message: String
        public var description: String { "\(probe): \(message)" }
    }

    /// The surroundings with every secret probe and scrape URL read (`env:NAME` from
    /// `environment`, `file:PATH` through `readFile`, trimmed), checked to be an http(s) URL.
    public func resolvingSecrets(environment: [String: String], readFile: (String) -> String?) throws(SecretError) -> Surroundings {
        func read(_ ref: String, for owner: String, key: String) throws(SecretError) -> String {
            let value: String?
            if ref.hasPrefix("env:") {
                let name = String(ref.dropFirst(4))
                value = environment[name]
                guard let value, !value.isEmpty else {
                    throw SecretError(probe: owner, message: "\(key) comes from the environment variable \(name), which is not set")
                }
            } else {
                let path = String(ref.dropFirst(5))
                value = readFile(path)?.trimmingCharacters(in: .whitespacesAndNewlines)
                guard let value, !value.isEmpty else {
                    throw SecretError(probe: owner, message: "\(key) comes from the file \(path), which cannot be read or is empty")
                }
            }
            guard let url = value, Surroundings.isHTTPURL(url) else {
                throw SecretError(probe: owner, message: "\(ref) does not hold a URL starting with http:// or https://")
            }
            return url
        }
        var out = self
        for (i, p) in probes.enumerated() {
            guard let ref = p.urlSecret else { continue }
            out.probes[i].target = .http(try read(ref, for: "probe " + p.name, key: "http"))
        }
        for (i, s) in scrapes.enumerated() {
            guard let ref = s.urlSecret else { continue }
            out.scrapes[i].url = try read(ref, for: "scrape " + s.name, key: "url")
        }
        if let ref = heartbeat?.urlSecret { out.heartbeat?.url = try read(ref, for: "heartbeat", key: "url") }
        return out
    }

    static func watchSelector(_ b: BlockDecl) -> Watch.Selector? {
        if case .number(let n)? = b.setting("pid")?.value, let pid = Int32(exactly: n.quantity.value), pid > 0, n.quantity.unit == nil { return .pid(pid) }
        if case .string(let s)? = b.setting("pid_file")?.value, !s.value.isEmpty { return .pidFile(s.value) }
        if case .string(let s)? = b.setting("command")?.value, !s.value.isEmpty { return .command(s.value) }
        return nil
    }

    /// `host:port`, `[v6]:port`, `unix:/path` or `/path`; the error says what is wrong.
    public static func parseTCP(_ text: String) -> Result<Probe.Target, TargetError> {
        if text.hasPrefix("unix:") || text.hasPrefix("/") {
            let path = text.hasPrefix("unix:") ? String(text.dropFirst(5)) : text
            guard path.hasPrefix("/") else { return .failure(TargetError("a Unix socket needs an absolute path, like `unix:/run/redis.sock`")) }
            guard path.utf8.count < 108 else { return .failure(TargetError("a Unix socket path is limited to 107 bytes")) }
            return .success(.unix(path))
        }
        let host: Substring, portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                return .failure(TargetError("an IPv6 address is written `[::1]:6379`"))
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                return .failure(TargetError(text.filter { $0 == ":" }.count > 1 ? "an IPv6 address is written `[::1]:6379`" : "a TCP target is `host:port`, like `127.0.0.1:6379`"))
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(where: { $0 == " " || $0 == "/" }) else { return .failure(TargetError("a TCP target needs a host before the port")) }
        guard let port = UInt16(portText), port > 0 else { return .failure(TargetError("the port must be a number from 1 to 65535")) }
        return .success(.tcp(host: String(host), port: port))
    }

    public struct TargetError: Error, Sendable, Equatable {
        public let message: String
        init(_ message: String) { self.message = message }
    }

    public static func isHTTPURL(_ text: String) -> Bool {
        guard let rest = ["http://", "https://"].first(where: text.hasPrefix).map({ text.dropFirst($0.count) }) else { return false }
        return !rest.isEmpty && !rest.hasPrefix("/") && !rest.contains(" ")
    }

    /// A URL without its user, password and query.
    public static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://") else { return url }
        var rest = url[scheme.upperBound...]
        if let at = rest.firstIndex(of: "@"), !rest[..<at].contains("/") { rest = rest[rest.index(after: at)...] }
        if let q = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<q] }
        return String(url[..<scheme.upperBound] + rest)
    }
}

/// What a name in a condition refers to.
public struct SeriesInfo: Sendable {
    public enum Kind: Sendable { case number, string, event }
    public let kind: Kind
    public let unit: Unit?
    /// The labels its series can carry; nil when anything may come from the stream.
    public let labels: Set<String>?
}

/// Built-in series: produced by vigil or by the stream's health lines (SPEC §1.1, §4).
public enum Builtins {
    public static let series: [String: SeriesInfo] = [
        "time_since_last_update": SeriesInfo(kind: .number, unit: .seconds, labels: []),
        "up": SeriesInfo(kind: .number, unit: nil, labels: []),
        "service_status": SeriesInfo(kind: .string, unit: nil, labels: ["service"]),
        "health_check": SeriesInfo(kind: .number, unit: nil, labels: ["service", "check"]),
        // What vigil measures itself (SPEC §7): `probe`, `watch` and `system` blocks.
        "probe_up": SeriesInfo(kind: .number, unit: nil, labels: ["probe"]),
        "probe_duration_seconds": SeriesInfo(kind: .number, unit: .seconds, labels: ["probe"]),
        // Each `scrape` target's health (its samples are the target's own names).
        "scrape_up": SeriesInfo(kind: .number, unit: nil, labels: ["scrape"]),
        "scrape_duration_seconds": SeriesInfo(kind: .number, unit: .seconds, labels: ["scrape"]),
        "scrape_samples": SeriesInfo(kind: .number, unit: nil, labels: ["scrape"]),
        "process_up": SeriesInfo(kind: .number, unit: nil, labels: ["process"]),
        "process_rss_mb": SeriesInfo(kind: .number, unit: .megabytes, labels: ["process"]),
        "process_vms_mb": SeriesInfo(kind: .number, unit: .megabytes, labels: ["process"]),
        "process_cpu_percent": SeriesInfo(kind: .number, unit: .percent, labels: ["process"]),
        "process_threads": SeriesInfo(kind: .number, unit: nil, labels: ["process"]),
        "process_open_fds": SeriesInfo(kind: .number, unit: nil, labels: ["process"]),
        "process_connections": SeriesInfo(kind: .number, unit: nil, labels: ["process"]),
        "cpu_percent": SeriesInfo(kind: .number, unit: .percent, labels: []),
        "memory_usage_mb": SeriesInfo(kind: .number, unit: .megabytes, labels: []),
        "disk_usage_percent": SeriesInfo(kind: .number, unit: .percent, labels: ["mount"]),
        "load_average": SeriesInfo(kind: .number, unit: nil, labels: []),
    ]

    /// Functions: arity and which argument carries the window (nil: instant function).
    public struct Function: Sendable {
        public let arity: Int
        public let windowArgument: Int?
        public let result: Result
        public enum Result: Sendable { case sameUnit, unitless, derived, seconds, bool }
    }

    public static let functions: [String: Function] = {
        var table: [String: Function] = [:]
        for name in ["avg", "min", "max", "sum", "last", "delta", "increase", "stddev", "p50", "p90", "p95", "p99"] {
            table[name] = Function(arity: 1, windowArgument: 0, result: .sameUnit)
        }
        table["count"] = Function(arity: 1, windowArgument: 0, result: .unitless)
        table["changes"] = Function(arity: 1, windowArgument: 0, result: .unitless)
        table["rate"] = Function(arity: 1, windowArgument: 0, result: .derived)
        table["quantile"] = Function(arity: 2, windowArgument: 1, result: .sameUnit)
        table["histogram_quantile"] = Function(arity: 2, windowArgument: 1, result: .sameUnit)
        table["age"] = Function(arity: 1, windowArgument: nil, result: .seconds)
        table["absent"] = Function(arity: 1, windowArgument: nil, result: .bool)
        table["abs"] = Function(arity: 1, windowArgument: nil, result: .sameUnit)
        table["clamp"] = Function(arity: 3, windowArgument: nil, result: .sameUnit)
        return table
    }()

    /// Channels when no config file is given: console channels under the seed's names.
    public static let defaultChannels = ["pager", "slack", "email"]
}

/// Everything `lint` found, and the parsed files for the commands that go on to use them.
public struct LintResult: Sendable {
    public var diagnostics: [Diagnostic]
    public var files: [RuleFile]
    public var config: RuleFile?

    public var alerts: [AlertRule] {
        files.flatMap { $0.statements.compactMap { if case .alert(let a) = $0 { a } else { nil } } }
    }
    public var errorCount: Int { diagnostics.filter { $0.severity == .error }.count }
    public var warningCount: Int { diagnostics.filter { $0.severity == .warning }.count }
}

/// Parses and checks a set of rule files together (names are global across them) against a config.
public enum Linter {
    public static func lint(ruleFiles: [SourceFile], config: SourceFile? = nil) -> LintResult {
        var diagnostics: [Diagnostic] = []
        var parsed: [RuleFile] = []
        for file in ruleFiles {
            let (rf, d) = Parser.parse(file)
            parsed.append(rf)
            diagnostics += d
        }
        var parsedConfig: RuleFile?
        if let config {
            let (rf, d) = Parser.parse(config)
            parsedConfig = rf
            diagnostics += d
        }
        var checker = Checker(files: parsed, config: parsedConfig)
        checker.run()
        diagnostics += checker.diagnostics
        let order = Dictionary((ruleFiles + (config.map { [$0] } ?? [])).enumerated().map { ($1.path, $0) },
                               uniquingKeysWith: { a, _ in a })
        diagnostics.sort {
            let fa = order[$0.file.path] ?? 0, fb = order[$1.file.path] ?? 0
            if fa != fb { return fa < fb }
            if $0.range.start != $1.range.start { return $0.range.start < $1.range.start }
            return $0.severity < $1.severity
        }
        return LintResult(diagnostics: diagnostics, files: parsed, config: parsedConfig)
    }
}

/// The semantic checks of SPEC §1–2 over parsed files.
struct Checker {
    let files: [RuleFile]
    let config: RuleFile?
    private(set) var diagnostics: [Diagnostic] = []

    private var consts: [String: (ConstDecl, SourceFile, SourceRange)] = [:]
    private var metrics: [String: (MetricDecl, SourceFile, SourceRange)] = [:]
    private var alerts: [String: (AlertRule, SourceFile, SourceRange)] = [:]
    private var usedConsts: Set<String> = []
    private var channels: [String: String] = [:]       // name → type
    private var channelsDeclared = false
    private var escalationTarget = "pager"
    private var escalationTargetSource: SourceLocation?

    init(files: [RuleFile], config: RuleFile?) {
        self.files = files
        self.config = config
    }

    mutating func run() {
        checkConfig()
        collectDeclarations()
        for file in files {
            for statement in file.statements {
                switch statement {
                case .alert(let a): checkAlert(a, in: file.source)
                case .inhibit(let i): checkInhibit(i, in: file.source)
                case .metric(let m): checkMetricDecl(m, in: file.source)
                case .const, .block, .setting: break
                }
            }
        }
        for (name, (decl, file, _)) in consts.sorted(by: { $0.key < $1.key }) where !usedConsts.contains(name) {
            warn(file, "unused-const", "const `\(name)` is never used", decl.name.range)
        }
    }

    mutating func error(_ file: SourceFile, _ code: String, _ message: String, _ range: SourceRange,
                                notes: [Diagnostic.Note] = [], fixIt: String? = nil) {
        diagnostics.append(Diagnostic(.error, code, message, file: file, range: range, notes: notes, fixIt: fixIt))
    }

    mutating func warn(_ file: SourceFile, _ code: String, _ message: String, _ range: SourceRange,
                               notes: [Diagnostic.Note] = [], fixIt: String? = nil) {
        diagnostics.append(Diagnostic(.warning, code, message, file: file, range: range, notes: notes, fixIt: fixIt))
    }

    // MARK: - Declarations

    private mutating func collectDeclarations() {
        for file in files {
            for statement in file.statements {
                let duplicate: Diagnostic?
                switch statement {
                case .const(let c):
                    duplicate = Self.declare(c, named: c.name, in: &consts, file: file.source, code: "duplicate-const", "const `\(c.name.name)` is already defined")
                case .metric(let m):
                    duplicate = Self.declare(m, named: m.name, in: &metrics, file: file.source, code: "duplicate-metric", "`\(m.name.name)` is already declared")
                case .alert(let a):
                    duplicate = Self.declare(a, named: a.name, in: &alerts, file: file.source, code: "duplicate-alert", "alert `\(a.name.name)` is already defined")
                case .inhibit, .block, .setting:
                    duplicate = nil
                }
                if let duplicate { diagnostics.append(duplicate) }
            }
        }
    }

    /// Records the first declaration of a name; a later one is an error pointing back at it.
    private static func declare<T>(_ value: T, named name: Identifier, in table: inout [String: (T, SourceFile, SourceRange)],
                                   file: SourceFile, code: String, _ message: String) -> Diagnostic? {
        if let (_, firstFile, firstRange) = table[name.name] {
            return Diagnostic(.error, code, message, file: file, range: name.range,
                              notes: [.init("first defined here", at: SourceLocation(firstFile, firstRange))])
        }
        table[name.name] = (value, file, name.range)
        return nil
    }

    private mutating func checkMetricDecl(_ m: MetricDecl, in file: SourceFile) {
        if let unit = m.unit, Unit.spellings[unit.name.lowercased()] == nil {
            let names = ["ms", "s", "min", "h", "d", "percent", "ratio", "cents", "dollars", "bytes", "kb", "mb", "gb"]
            error(file, "unknown-unit", "unknown unit `\(unit.name)`", unit.range,
                  notes: [.init("units are: \(names.joined(separator: ", "))")],
                  fixIt: closest(unit.name, in: Array(Unit.spellings.keys)))
        }
        if consts[m.name.name] != nil {
            warn(file, "shadowed-name", "`\(m.name.name)` is both a metric and a const; conditions read the metric", m.name.range)
        }
    }

    /// The series a name refers to, from its declaration, its suffix, or the built-ins.
    private func seriesInfo(_ name: String) -> SeriesInfo? {
        if let (decl, _, _) = metrics[name] {
            let unit = decl.unit.flatMap { Unit.spellings[$0.name.lowercased()] } ?? Unit.implied(byMetricName: name)
            var labels = decl.labels.map { Set($0.map(\.name)) }
            if decl.kind == .event { labels?.insert("service") }
            return SeriesInfo(kind: decl.kind == .event ? .event : .number, unit: unit, labels: labels)
        }
        if let b = Builtins.series[name] { return b }
        // An event's field (`daily_turnover_check.used`) is a number carrying the event's labels.
        if let dot = name.firstIndex(of: "."), let (event, _, _) = metrics[String(name[..<dot])], event.kind == .event {
            var labels = event.labels.map { Set($0.map(\.name)) }
            labels?.insert("service")
            return SeriesInfo(kind: .number, unit: Unit.implied(byMetricName: name), labels: labels)
        }
        return nil
    }

    private var knownNames: [String] { Array(metrics.keys) + Array(consts.keys) + Array(Builtins.series.keys) }

    // MARK: - Config

    private static let settingKinds: [String: String] = [
        "escalation_target": "channel", "fallback": "channel", "stale_after": "duration",
        "max_line": "size", "max_series": "count", "max_series_total": "count", "max_clock_skew": "duration",
        "external_url": "url", "silences_from": "channel", "cluster": "channel",
    ]
    private mutating func checkConfig() {
        guard let config else {
            for name in Builtins.defaultChannels { channels[name] = "console" }
            return
        }
        channelsDeclared = true
        let file = config.source
        var seenChannels: [String: SourceRange] = [:]
        var seenSettings: [String: SourceRange] = [:]
        var seenBlocks: [String: SourceRange] = [:]
        var targets: [(Setting, String)] = []
        for statement in config.statements {
            switch statement {
            case .block(let b):
                guard b.kind == .channel, let name = b.name else {
                    checkSurroundings(b, in: file, seen: &seenBlocks)
                    continue
                }
                if let first = seenChannels[name.name] {
                    error(file, "duplicate-channel", "channel `\(name.name)` is already declared", name.range,
                          notes: [.init("first declared here", at: SourceLocation(file, first))])
                    continue
                }
                seenChannels[name.name] = name.range
                channels[name.name] = checkChannel(b, named: name.name, in: file)
            case .setting(let s):
                let key = s.key.name
                guard let kind = Checker.settingKinds[key] else {
                    error(file, "unknown-key", "unknown setting `\(key)`", s.key.range,
                          notes: [.init("settings are: \(Checker.settingKinds.keys.sorted().joined(separator: ", "))")],
                          fixIt: closest(key, in: Array(Checker.settingKinds.keys)))
                    continue
                }
                if reportDuplicate(s, firstAt: seenSettings[key], of: nil, in: file) { continue }
                seenSettings[key] = s.key.range
                if rejectExtraValues(s, in: file) { continue }
                guard let value = s.value else {
                    error(file, "bad-value", "`\(key)` needs a value", s.key.range)
                    continue
                }
                switch (kind, value) {
                case ("channel", .word(let w)):
                    targets.append((s, w.name))
                case ("duration", .number(let n)) where n.quantity.nanoseconds != nil:
                    break
                case ("size", .number(let n)) where n.quantity.unit == nil || n.quantity.unit?.dimension == .bytes:
                    break
                case ("count", .number(let n)) where n.quantity.unit == nil && n.quantity.value >= 1:
                    break
                case ("url", .string(let lit)) where lit.value.hasPrefix("http://") || lit.value.hasPrefix("https://"):
                    break
                case ("duration", .number(let n)) where n.quantity.isTooLongADuration:
                    error(file, "bad-value", "`\(key)` is longer than the longest duration vigil takes (\(Quantity.longestDurationText))", value.range)
                default:
                    let expected = ["channel": "a channel name", "duration": "a duration like `5m`",
                                    "size": "a size like `1mb`", "count": "a positive number",
                                    "url": "a quoted http:// or https:// URL, like \"http://vigil.example:9177\""][kind] ?? kind
                    error(file, "bad-value", "`\(key)` takes \(expected)", value.range)
                }
            case .const, .metric, .alert, .inhibit:
                break // the parser already rejected these in a config file
            }
        }
        for (s, name) in targets {
            if channels[name] == nil {
                unknownChannel(name, s.valueRange, in: file)
            } else if s.key.name == "escalation_target" {
                escalationTarget = name
                escalationTargetSource = SourceLocation(file, s.value?.range ?? s.range)
            } else if s.key.name == "silences_from" || s.key.name == "cluster", let type = channels[name], type != "alertmanager" {
                let what = s.key.name == "cluster" ? "replicas deliver through the Alertmanager cluster" : "silences are read from the Alertmanager cluster"
                error(file, "bad-value", "`\(s.key.name)` names an alertmanager channel; `\(name)` is a \(type) channel", s.valueRange,
                      notes: [.init("\(what) a `type alertmanager` channel posts to")])
            }
        }
        checkCluster(targets, in: file, config: config)
    }

    /// Cluster mode (`cluster NAME`): the silences are that cluster's, and every channel is one
    /// Alertmanager can deliver (Resend is not: its mail goes through `type smtp` there).
    private mutating func checkCluster(_ targets: [(Setting, String)], in file: SourceFile, config: RuleFile) {
        guard let (cluster, name) = targets.first(where: { $0.0.key.name == "cluster" }), channels[name] == "alertmanager" else { return }
        if let (from, other) = targets.first(where: { $0.0.key.name == "silences_from" }), other != name {
            error(file, "bad-value", "in cluster mode the silences are the cluster's: `silences_from` must be `\(name)` or left out", from.valueRange,
                  notes: [.init("cluster mode is set here", at: SourceLocation(file, cluster.range))])
        }
        for case .block(let b) in config.statements where b.kind == .channel {
            guard let channel = b.name, channels[channel.name] == "resend" else { continue }
            error(file, "bad-value", "channel `\(channel.name)` is `type resend`, which Alertmanager cannot deliver in cluster mode",
                  b.setting("type")?.valueRange ?? channel.range,
                  notes: [.init("in cluster mode mail goes through Alertmanager's email receiver: use `type smtp`"),
                          .init("cluster mode is set here", at: SourceLocation(file, cluster.range))], fixIt: "smtp")
        }
    }

    /// Checks one channel block; returns its type.
    private mutating func checkChannel(_ c: BlockDecl, named channel: String, in file: SourceFile) -> String {
        var type = "console"
        var seen: [String: SourceRange] = [:]
        if let t = c.setting("type") {
            if case .word(let w)? = t.value, ChannelSchema.typeNames.contains(w.name) {
                type = w.name
            } else {
                let spelled: String
                if case .word(let w)? = t.value { spelled = w.name } else { spelled = file.text(t.value?.range ?? t.range) }
                // `email` posted JSON that no mail provider accepts; say where it went.
                let moved = spelled == "email" ? [Diagnostic.Note("mail is `type smtp` (a mail server) or `type resend` (Resend's HTTP API)")] : []
                error(file, "bad-value", "unknown channel type `\(spelled)`", t.value?.range ?? t.range,
                      notes: moved + [.init("types are: \(ChannelSchema.typeNames.joined(separator: ", "))")],
                      fixIt: spelled == "email" ? "smtp" : closest(spelled, in: ChannelSchema.typeNames))
                return "console"
            }
        } else {
            error(file, "missing-clause", "channel `\(channel)` has no `type`", c.name?.range ?? c.range,
                  notes: [.init("add one of: \(ChannelSchema.typeNames.map { "type \($0)" }.joined(separator: ", "))")])
            return "console"
        }
        let allowed = ["type"] + (ChannelSchema.named(type)?.settings ?? [])
        for s in c.settings {
            let key = s.key.name
            if reportDuplicate(s, firstAt: seen[key], of: "channel `\(channel)`", in: file) { continue }
            seen[key] = s.key.range
            guard allowed.contains(key) else {
                error(file, "unknown-key", "unknown key `\(key)` for a \(type) channel", s.key.range,
                      notes: [.init(allowed.count > 1 ? "\(type) channels take: \(allowed.joined(separator: ", "))" : "console channels take only `type`")],
                      fixIt: closest(key, in: allowed))
                continue
            }
            if ChannelSchema.named(type)?.lists.contains(key) == true {
                for v in s.values { checkChannelValue(key: key, Setting(key: s.key, value: v, range: v.range), channel: channel, type: type, in: file) }
                continue
            }
            if rejectExtraValues(s, in: file) { continue }
            checkChannelValue(key: key, s, channel: channel, type: type, in: file)
        }
        for key in ChannelSchema.named(type)?.required ?? [] where seen[key] == nil {
            error(file, "missing-clause", "\(type) channel `\(channel)` needs `\(key)`", c.name?.range ?? c.range)
        }
        // A login without TLS to another host: the password would cross the network in clear.
        if type == "smtp", case .word(let w)? = c.setting("require_tls")?.value, w.name == "false", c.setting("auth_username") != nil,
           case .string(let host)? = c.setting("smarthost")?.value,
           !["127.0.0.1", "localhost", "[::1]", "::1"].contains(String(host.value.split(separator: ":").dropLast().joined(separator: ":"))) {
            warn(file, "insecure-auth", "`require_tls false` with a login to \(host.value): the password would cross the network in clear",
                 w.range, notes: [.init("keep TLS (the default) for any host but this one's loopback")])
        }
        return type
    }

    private mutating func checkChannelValue(key: String, _ s: Setting, channel: String, type: String, in file: SourceFile) {
        switch key {
        case "url", "routing_key", "api_key":
            switch s.value {
            case .secret(let ref)?:
                checkSecretRef(ref, in: file)
            case .string(let lit)?:
                if let hint = Checker.literalSecret(key: key, value: lit.value) {
                    let envName = "\(channel.uppercased())_\(key == "url" ? "WEBHOOK_URL" : key.uppercased())"
                    warn(file, "literal-secret", "\(hint) is written into the config; secrets belong in the environment or a file",
                         lit.range, notes: [.init("configs end up in repositories and logs; use `env:\(envName)` or `file:PATH`")],
                         fixIt: "env:\(envName)")
                } else if key == "url", !(lit.value.hasPrefix("http://") || lit.value.hasPrefix("https://")) {
                    error(file, "bad-value", "`url` must start with http:// or https://", lit.range)
                }
            default:
                error(file, "bad-value", "`\(key)` takes a quoted string, `env:NAME` or `file:PATH`", s.valueRange)
            }
        case "auth_password":
            switch s.value {
            case .secret(let ref)?: checkSecretRef(ref, in: file)
            case .string(let lit)?:
                warn(file, "literal-secret", "a password is written into the config; secrets belong in the environment or a file", lit.range,
                     notes: [.init("configs end up in repositories and logs; use `env:\(channel.uppercased())_PASSWORD` or `file:PATH`")],
                     fixIt: "env:\(channel.uppercased())_PASSWORD")
            default:
                error(file, "bad-value", "`auth_password` takes `env:NAME`, `file:PATH` or a quoted string", s.valueRange)
            }
        case "smarthost":
            guard case .string(let lit)? = s.value, let colon = lit.value.lastIndex(of: ":"), colon != lit.value.startIndex,
                  let port = Int(lit.value[lit.value.index(after: colon)...]), (1...65535).contains(port) else {
                error(file, "bad-value", "`smarthost` takes \"HOST:PORT\", like \"smtp.example.com:587\" (465 for implicit TLS)", s.valueRange)
                return
            }
        case "require_tls":
            guard case .word(let w)? = s.value, w.name == "true" || w.name == "false" else {
                error(file, "bad-value", "`require_tls` takes `true` or `false`", s.valueRange)
                return
            }
        case "to", "from", "source", "hello", "auth_username", "ca_file":
            guard case .string? = s.value else {
                error(file, "bad-value", "`\(key)` takes a quoted string", s.valueRange)
                return
            }
        case "timeout":
            guard case .number(let n)? = s.value, let ns = n.quantity.nanoseconds, ns > 0 else {
                error(file, "bad-value", "`timeout` takes a duration like `5s`", s.valueRange)
                return
            }
        case "max_alerts":
            guard case .number(let n)? = s.value, n.quantity.unit == nil, n.quantity.value >= 0, n.quantity.value <= 1_000_000,
                  n.quantity.value == n.quantity.value.rounded() else {
                error(file, "bad-value", "`max_alerts` takes a whole number of alerts, 0 for all", s.valueRange)
                return
            }
        case "resend":
            guard case .number(let n)? = s.value, let ns = n.quantity.nanoseconds, ns >= 1_000_000_000, !n.quantity.isTooLongADuration else {
                error(file, "bad-value", "`resend` takes a duration of at least 1s, like `1m`", s.valueRange)
                return
            }
        case "rate":
            guard case .number(let n)? = s.value, n.quantity.unit == nil, n.quantity.value >= 0.001, n.quantity.value <= 1000 else {
                error(file, "bad-value", "`rate` takes messages per second, a number from 0.001 to 1000, like `1`", s.valueRange)
                return
            }
        default:
            break
        }
    }

    mutating func checkSecretRef(_ ref: Identifier, in file: SourceFile) {
        let text = ref.name
        if text.hasPrefix("env:") {
            let name = String(text.dropFirst(4))
            if !Template.isIdentifier(name) {
                error(file, "bad-value", "`env:` needs an environment variable name, like `env:SLACK_WEBHOOK_URL`", ref.range)
            }
        } else if text == "file:" {
            error(file, "bad-value", "`file:` needs a path, like `file:/run/secrets/slack_url`", ref.range)
        }
    }

    /// Names a literal value that looks like a secret, or nil.
    static func literalSecret(key: String, value: String) -> String? {
        if value.contains("hooks.slack.com/") { return "a Slack webhook URL" }
        if key == "routing_key", value.utf8.count == 32,
           value.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) }) {
            return "a PagerDuty routing key"
        }
        if key == "routing_key", !value.isEmpty { return "a routing key" }
        if key == "api_key", !value.isEmpty { return "an API key" }
        return nil
    }

    private mutating func unknownChannel(_ name: String, _ range: SourceRange, in file: SourceFile) {
        let known = channels.keys.sorted()
        let origin = channelsDeclared ? "declared in \(config?.source.path ?? "the config")" : "the defaults; pass --config to declare others"
        error(file, "unknown-channel", "unknown channel `\(name)`", range,
              notes: [.init("channels are: \(known.joined(separator: ", ")) (\(origin))")],
              fixIt: closest(name, in: known))
    }

    // MARK: - Alerts

    private mutating func checkAlert(_ a: AlertRule, in file: SourceFile) {
        var seen: [String: SourceRange] = [:]
        for clause in a.clauses where !clause.isRepeatable {
            let key = clause.name
            if let first = seen[key] {
                error(file, "duplicate-clause", "alert `\(a.name.name)` already has a `\(key)` clause", clause.keyword.range,
                      notes: [.init("the first one is here", at: SourceLocation(file, first))])
            } else {
                seen[key] = clause.keyword.range
            }
        }
        let hasNotify = a.clauses.contains { if case .notify = $0.body { true } else { false } }
        for (key, hint) in [("when", "when CONDITION"), ("severity", "severity critical|warning|info"), ("notify", "notify CHANNEL")]
        where seen[key] == nil && !(key == "notify" && hasNotify) && !a.brokenClauses.contains(key) {
            if file.kind == .seedJSON {
                let jsonKey = ["when": "condition", "notify": "notification"][key] ?? key
                error(file, "missing-clause", "alert `\(a.name.name)` has no `\(jsonKey)`", a.name.range)
            } else {
                error(file, "missing-clause", "alert `\(a.name.name)` has no `\(key)` clause", a.name.range,
                      notes: [.init("add `\(hint)`")])
            }
        }
        for channel in a.channels where channels[channel.name] == nil {
            unknownChannel(channel.name, channel.range, in: file)
        }
        var labels: Set<String>? = []
        if let condition = a.condition {
            labels = checkCondition(condition, in: file)
        }
        checkEscalation(a, in: file)
        for (name, _) in a.labels { labels?.insert(name.name) }
        for kind in AlertClause.TextKind.allCases where kind != .runbook {
            if let text = a.template(kind) { checkTemplate(text, labels: labels, alert: a.name.name, in: file) }
        }
    }

    private mutating func checkEscalation(_ a: AlertRule, in file: SourceFile) {
        let steps = a.escalation
        var previous: EscalationStep?
        for step in steps {
            if case .none = step.kind, steps.count > 1 {
                error(file, "escalation-order", "`escalate none` cannot be combined with other escalation steps", step.range)
                continue
            }
            if case .after(_, let to, _) = step.kind {
                for channel in to where channels[channel.name] == nil { unknownChannel(channel.name, channel.range, in: file) }
                if to.isEmpty, channels[escalationTarget] == nil {
                    error(file, "unknown-channel", "this step escalates to `\(escalationTarget)` (the escalation_target), which is not declared",
                          step.range, notes: [.init("declare a `\(escalationTarget)` channel, set `escalation_target` in the config, or add `to CHANNEL`")])
                }
            }
            if let p = previous, let pd = p.delay, let d = step.delay, d <= pd {
                error(file, "escalation-order",
                      "escalation steps must be strictly increasing: `\(file.text(step.range))` does not come after `\(file.text(p.range))`",
                      step.range, notes: [.init("the previous step is here", at: SourceLocation(file, p.range))])
            }
            previous = step
        }
    }

    private mutating func checkInhibit(_ i: InhibitRule, in file: SourceFile) {
        for name in [i.target, i.source] where alerts[name.name] == nil {
            error(file, "unknown-alert", "`inhibit` names unknown alert `\(name.name)`", name.range,
                  fixIt: closest(name.name, in: Array(alerts.keys)))
        }
        if i.target.name == i.source.name {
            error(file, "unknown-alert", "alert `\(i.target.name)` cannot inhibit itself", i.range)
        }
    }

    private mutating func checkTemplate(_ s: StringLiteral, labels: Set<String>?, alert: String, in file: SourceFile) {
        // Scan the spelling's bytes as they sit in the file (the value may differ by escapes, and
        // a String of them by replaced invalid UTF-8, which would shift every offset).
        let bytes = file.bytes
        let spelled = Array(bytes[min(s.range.start, bytes.count)..<min(s.range.end, bytes.count)])
        switch Template.parse(bytes: spelled) {
        case .failure(let e):
            error(file, "bad-template", e.message, SourceRange(s.range.start + e.range.lowerBound, s.range.start + e.range.upperBound))
        case .success(let (_, placeholders)):
            guard let labels else { return }
            for p in placeholders where !Template.builtins.contains(p.name) && !labels.contains(p.name) {
                let have = labels.isEmpty ? "it has no labels" : "its labels are: \(labels.sorted().joined(separator: ", "))"
                warn(file, "unknown-label", "placeholder `{{\(p.name)}}` names a label alert `\(alert)` cannot have",
                     SourceRange(s.range.start + p.range.lowerBound, s.range.start + p.range.upperBound),
                     notes: [.init("\(have); placeholders also take \(Template.builtins.sorted().joined(separator: ", "))")])
            }
        }
    }

    // MARK: - Conditions

    /// What the checker knows about an expression.
    struct Typed {
        enum Kind { case number, string, bool, unknown }
        enum UnitState: Equatable { case none, unit(Unit), derived }
        var kind: Kind
        var unit: UnitState = .none
        /// A declared metric with no unit: the unit a literal gives it is assumed.
        var unitless: Selector?
        var readsSeries = false
        /// True only at an event's instant, so it can never hold over a `for`.
        var instant = false
        var labels: Set<String>? = []

        static let unknown = Typed(kind: .unknown, labels: nil)
    }

    /// Checks a condition; returns the labels its instances can carry (nil: unknown).
    private mutating func checkCondition(_ c: Condition, in file: SourceFile) -> Set<String>? {
        let t = typeOf(c.expr, in: file)
        if t.kind == .string {
            error(file, "type-mismatch", "a string is not a condition; compare it, like `service_status == 'down'`", c.expr.range)
        }
        // `when true` is said on purpose: an always-firing watchdog alert (Prometheus' `vector(1)`).
        let watchdog: Bool = if case .bool(true, _) = c.expr { true } else { false }
        if !t.readsSeries, t.kind != .unknown, !watchdog {
            warn(file, "constant-condition", "this condition reads no series, so it is always true or always false", c.expr.range,
                 notes: [.init("compare a metric, like `daily_loss > max_daily_loss`")])
        }
        if let over = c.over, bareSelectors(c.expr).isEmpty {
            warn(file, "useless-window", "`over \(over.spelling)` applies to bare metrics, and this condition has none", over.range)
        }
        if let hold = c.hold, t.instant {
            warn(file, "for-on-event", "`for` on an event: an event holds only at the instant it arrives, so this can never hold for \(hold.duration.spelling)",
                 hold.range, notes: [.init("remove the `for` clause, or alert on a metric the event updates")])
        }
        return t.labels
    }

    private func bareSelectors(_ e: Expr) -> [Selector] {
        switch e {
        case .selector(let s): consts[s.name.name] == nil || metrics[s.qualifiedName] != nil ? [s] : []
        case .unary(_, let x, _): bareSelectors(x)
        case .binary(_, let l, let r, _): bareSelectors(l) + bareSelectors(r)
        case .number, .string, .bool, .call: []
        }
    }

    private mutating func typeOf(_ e: Expr, in file: SourceFile) -> Typed {
        switch e {
        case .number(let n):
            return Typed(kind: .number, unit: n.quantity.unit.map { .unit($0) } ?? .none)
        case .string:
            return Typed(kind: .string)
        case .bool:
            return Typed(kind: .bool)
        case .selector(let s):
            return typeOfSelector(s, in: file)
        case .call(let c):
            return typeOfCall(c, in: file)
        case .unary(.not, let x, _):
            var t = typeOf(x, in: file)
            t.kind = .bool
            t.unit = .none
            t.instant = false
            return t
        case .unary(.negate, let x, _):
            return typeOf(x, in: file)
        case .binary(let op, let l, let r, let range):
            let lt = typeOf(l, in: file), rt = typeOf(r, in: file)
            var result = Typed(kind: .bool)
            result.readsSeries = lt.readsSeries || rt.readsSeries
            result.labels = lt.labels.flatMap { a in rt.labels.map { a.union($0) } }
            switch op {
            case .and:
                result.instant = lt.instant || rt.instant
                return result
            case .or:
                result.instant = lt.instant && rt.instant
                return result
            case .greater, .greaterEqual, .less, .lessEqual, .equal, .notEqual:
                result.instant = lt.instant || rt.instant
                checkComparison(op, lt, rt, l, r, range, in: file)
                return result
            case .add, .subtract, .multiply, .divide:
                result.kind = lt.kind == .unknown || rt.kind == .unknown ? .unknown : .number
                for (t, x) in [(lt, l), (rt, r)] where t.kind == .string || t.kind == .bool {
                    error(file, "type-mismatch", "`\(op.rawValue)` needs numbers, and this is a \(t.kind == .string ? "string" : "condition")", x.range)
                }
                result.unitless = lt.unitless ?? rt.unitless
                switch (op, lt.unit, rt.unit) {
                case (_, .derived, _), (_, _, .derived): result.unit = .derived
                case (.add, .unit(let a), .unit(let b)), (.subtract, .unit(let a), .unit(let b)):
                    if a.dimension != b.dimension {
                        error(file, "unit-mismatch", "cannot \(op == .add ? "add" : "subtract") \(a) (\(a.dimension.rawValue)) and \(b) (\(b.dimension.rawValue))", range)
                    }
                    result.unit = .unit(a)
                case (.multiply, .unit, .unit), (.divide, .unit, .unit): result.unit = .derived
                case (_, .unit(let a), .none), (.add, .none, .unit(let a)), (.subtract, .none, .unit(let a)), (.multiply, .none, .unit(let a)):
                    result.unit = .unit(a)
                case (.divide, .none, .unit): result.unit = .derived
                default: result.unit = .none
                }
                return result
            }
        }
    }

    private mutating func checkComparison(_ op: BinaryOperator, _ lt: Typed, _ rt: Typed, _ l: Expr, _ r: Expr,
                                          _ range: SourceRange, in file: SourceFile) {
        if lt.kind == .unknown || rt.kind == .unknown { return }
        if (lt.kind == .string) != (rt.kind == .string) {
            let (str, other) = lt.kind == .string ? (l, r) : (r, l)
            error(file, "type-mismatch", "cannot compare a string with a \(lt.kind == .bool || rt.kind == .bool ? "condition" : "number")", range,
                  notes: [.init("`\(file.text(str.range))` is a string; `\(file.text(other.range))` is not")])
            return
        }
        if lt.kind == .string, op != .equal, op != .notEqual {
            error(file, "type-mismatch", "strings compare only with `==` and `!=`", range)
            return
        }
        guard lt.kind == .number, rt.kind == .number else { return }
        switch (lt.unit, rt.unit) {
        case (.unit(let a), .unit(let b)) where a.dimension != b.dimension:
            error(file, "unit-mismatch", "cannot compare \(a) (\(a.dimension.rawValue)) with \(b) (\(b.dimension.rawValue))", range,
                  notes: [.init("`\(file.text(l.range))` is in \(a), `\(file.text(r.range))` is in \(b)")])
        case (.unit(let u), .none), (.none, .unit(let u)):
            let unitless = lt.unit == .none ? lt.unitless : rt.unitless
            if let s = unitless {
                warn(file, "unit-assumed", "`\(s.qualifiedName)` has no declared unit; assuming \(u) from the comparison", s.range,
                     notes: [.init("declare it: `metric \(s.qualifiedName) unit \(u)`")])
            }
        default:
            break
        }
    }

    private mutating func typeOfSelector(_ s: Selector, in file: SourceFile) -> Typed {
        let name = s.qualifiedName
        if metrics[name] == nil, Builtins.series[name] == nil, s.field == nil, let (c, _, _) = consts[name] {
            usedConsts.insert(name)
            if !s.matchers.isEmpty {
                error(file, "type-mismatch", "`\(name)` is a const; it has no labels to match", s.range)
            }
            return Typed(kind: .number, unit: c.value.quantity.unit.map { .unit($0) } ?? .none)
        }
        guard let info = seriesInfo(name) else {
            warn(file, "unknown-name", "unknown name `\(name)`: not a declared metric, a const or a built-in",
                 s.name.range.union(s.field?.range ?? s.name.range),
                 notes: [.init("it evaluates as absent until the stream sends it; declare it with `metric \(name)`")],
                 fixIt: closest(name, in: knownNames))
            // SPEC §1.2: an undeclared metric still takes its unit from its name's suffix.
            guard let unit = Unit.implied(byMetricName: name) else {
                var t = Typed.unknown
                t.readsSeries = true
                return t
            }
            var t = Typed(kind: .number, unit: .unit(unit), labels: nil)
            t.readsSeries = true
            return t
        }
        var t = Typed(kind: info.kind == .string ? .string : info.kind == .event ? .bool : .number)
        t.unit = info.unit.map { .unit($0) } ?? .none
        if info.kind == .number, info.unit == nil, Builtins.series[name] == nil { t.unitless = s }
        t.readsSeries = true
        t.instant = info.kind == .event
        t.labels = info.labels
        return t
    }

    /// A histogram family `x`, read through `x_bucket{le}`: in the unit of its bucket bounds,
    /// `x`'s declared unit, else its name's suffix (`_seconds`). Its labels are the buckets'
    /// without `le`. Neither `x` nor `x_bucket` need be declared (a scrape brings them).
    private mutating func typeOfHistogram(_ s: Selector, in file: SourceFile) -> Typed {
        var name = s.qualifiedName
        if name.hasSuffix("_bucket") {
            name = String(name.dropLast(7))
            warn(file, "unknown-name", "`histogram_quantile` takes the histogram's name, without `_bucket`", s.range, fixIt: name)
        }
        var t = Typed(kind: .number)
        t.readsSeries = true
        let info = seriesInfo(name) ?? seriesInfo(name + "_bucket")
        if let u = info?.unit ?? Unit.implied(byMetricName: name) { t.unit = .unit(u) } else { t.unit = .none; t.unitless = s }
        t.labels = info?.labels?.filter { $0 != "le" }
        return t
    }

    private mutating func typeOfCall(_ c: Call, in file: SourceFile) -> Typed {
        let name = c.function.name
        guard let f = Builtins.functions[name] else {
            error(file, "unknown-function", "unknown function `\(name)`", c.function.range,
                  notes: [.init("functions are: \(Builtins.functions.keys.sorted().joined(separator: ", "))")],
                  fixIt: closest(name, in: Array(Builtins.functions.keys)))
            for a in c.arguments { _ = typeOf(a.expr, in: file) }
            var t = Typed.unknown
            t.readsSeries = true // unknown, so not provably constant
            return t
        }
        if c.arguments.count != f.arity {
            error(file, "arity", "`\(name)` takes \(f.arity) argument\(f.arity == 1 ? "" : "s"), found \(c.arguments.count)", c.range)
        }
        var args: [Typed] = []
        for (i, a) in c.arguments.enumerated() {
            if name == "histogram_quantile", i == 1, case .selector(let s) = a.expr {
                args.append(typeOfHistogram(s, in: file))
            } else {
                args.append(typeOf(a.expr, in: file))
            }
            if i == f.windowArgument {
                if a.over == nil {
                    error(file, "missing-window", "`\(name)` needs a window: `\(name)(\(file.text(a.expr.range)) over 5m)`", a.expr.range)
                }
            } else if let over = a.over {
                error(file, "unexpected-window", "`\(name)` does not take a window here", over.range)
            }
        }
        if name == "quantile" || name == "histogram_quantile", let q = c.arguments.first {
            if case .number(let n) = q.expr, n.quantity.unit == nil, (0...1).contains(n.quantity.value) {} else {
                error(file, "bad-value", "`\(name)` takes a number from 0 to 1 first, like `\(name)(0.95, x over 5m)`", q.expr.range)
            }
        }
        if name == "histogram_quantile", c.arguments.count == 2, case .selector = c.arguments[1].expr {} else if name == "histogram_quantile" {
            error(file, "type-mismatch", "`histogram_quantile` takes a histogram's name, like `histogram_quantile(0.95, feed_latency_seconds over 5m)`", c.range)
        }
        if f.windowArgument == nil, name == "age" || name == "absent", let a = c.arguments.first, case .selector = a.expr {} else if name == "age" || name == "absent" {
            error(file, "type-mismatch", "`\(name)` takes a metric, like `\(name)(feed_latency_p95)`", c.range)
        }
        let subject = f.windowArgument.flatMap { $0 < args.count ? args[$0] : nil } ?? args.first ?? Typed(kind: .number)
        var t = Typed(kind: .number)
        t.readsSeries = args.contains { $0.readsSeries }
        t.labels = subject.labels
        switch f.result {
        case .sameUnit:
            t.unit = subject.unit
            t.unitless = subject.unitless
            if subject.kind == .unknown { t.kind = .unknown }
        case .unitless: t.unit = .none
        case .derived: t.unit = .derived
        case .seconds: t.unit = .unit(.seconds)
        case .bool: t.kind = .bool
        }
        return t
    }
}

extension Checker {
    /// A `duplicate-setting` error when `s`'s key was set before, at `first` (of `owner`: a
    /// channel, a probe…; nil for the config's top level). True when it was.
    /// A setting that takes one value, given several (`timeout 1s, 2s`): an error at the second.
    mutating func rejectExtraValues(_ s: Setting, in file: SourceFile) -> Bool {
        guard let extra = s.more.first else { return false }
        error(file, "bad-value", "`\(s.key.name)` takes one value", extra.range,
              notes: [.init("only an alertmanager channel's `url` and a mail channel's `to` list several")])
        return true
    }

    mutating func reportDuplicate(_ s: Setting, firstAt first: SourceRange?, of owner: String?, in file: SourceFile) -> Bool {
        guard let first else { return false }
        error(file, "duplicate-setting", "`\(s.key.name)` is already set" + (owner.map { " for \($0)" } ?? ""), s.key.range,
              notes: [.init("first set here", at: SourceLocation(file, first))])
        return true
    }
}

/// Lint for `probe`, `watch`, `system`, `scrape` and `tail` blocks (SPEC §7, §4): unknown keys, bad values and
/// durations, a probe with no target or two, a timeout that is not shorter than the interval,
/// an interval not shorter than `stale_after`, credentials written into a probe URL, and
/// duplicate names.
extension Checker {
    private static let blockKeys: [BlockDecl.Kind: [String]] = [
        .probe: ["tcp", "http", "every", "timeout", "critical", "expect"],
        .watch: ["pid", "pid_file", "command", "every"],
        .system: ["every", "mounts"],
        .scrape: ["url", "every", "timeout"],
        .tail: ["path"],
        .heartbeat: ["url", "every", "grace"],
    ]
    /// Exactly one of these per block.
    private static let targetKeys: [BlockDecl.Kind: [String]] = [
        .probe: ["tcp", "http"],
        .watch: ["pid", "pid_file", "command"],
        .scrape: ["url"],
        .tail: ["path"],
        .heartbeat: ["url"],
    ]

    /// `seen` holds the names declared so far, keyed `kind name` (`system` has one, unnamed).
    mutating func checkSurroundings(_ b: BlockDecl, in file: SourceFile, seen: inout [String: SourceRange]) {
        let kind = b.kind.rawValue
        let key = kind + " " + (b.name?.name ?? "")
        let what = b.name.map { "\(kind) `\($0.name)`" } ?? "the \(kind) block"
        if let first = seen[key] {
            error(file, "duplicate-\(kind)", b.name == nil ? "there is already a `\(kind)` block" : "\(what) is already declared",
                  b.name?.range ?? SourceRange(b.range.start, b.range.start + kind.utf8.count),
                  notes: [.init("first declared here", at: SourceLocation(file, first))])
            return
        }
        seen[key] = b.name?.range ?? SourceRange(b.range.start, b.range.start + kind.utf8.count)

        let allowed = Checker.blockKeys[b.kind] ?? []
        var given: [String: Setting] = [:]
        for s in b.settings {
            let name = s.key.name
            if reportDuplicate(s, firstAt: given[name]?.key.range, of: what, in: file) { continue }
            if rejectExtraValues(s, in: file) { continue }
            guard allowed.contains(name) else {
                error(file, "unknown-key", "unknown key `\(name)` for a \(kind)", s.key.range,
                      notes: [.init("\(kind) blocks take: \(allowed.joined(separator: ", "))")],
                      fixIt: closest(name, in: allowed))
                continue
            }
            given[name] = s
            checkSurroundingValue(s, kind: b.kind, in: file)
        }

        if let targets = Checker.targetKeys[b.kind] {
            let present = targets.filter { given[$0] != nil }
            let anchor = b.name?.range ?? b.range
            if present.isEmpty, b.brokenSettings.isDisjoint(with: targets) {
                let (verb, fix) = switch b.kind {
                case .probe: ("check", "add `tcp \"host:port\"` or `http \"https://…\"`")
                case .scrape: ("scrape", "add `url \"http://127.0.0.1:8000/metrics\"`")
                case .tail: ("read", "add `path \"/var/log/trader/*.log\"`")
                case .heartbeat: ("ping", "add `url env:HEARTBEAT_URL` (the ping URL your dead man's switch gave you)")
                default: ("watch", "add `pid N`, `pid_file \"/run/trader.pid\"` or `command \"python3 trader.py\"`")
                }
                error(file, "missing-clause", "\(what) says nothing to \(verb)", anchor, notes: [.init(fix)])
            } else if present.count > 1, let second = given[present[1]] {
                error(file, "conflicting-clauses", "\(what) has both `\(present[0])` and `\(present[1])`", second.key.range,
                      notes: [.init("a \(kind) checks one target; declare another \(kind) for the other")])
            }
        }
        // A series not updated within `stale_after` is absent: a check must come more often.
        if let every = given["every"], let interval = Surroundings.duration(every), interval >= staleAfter {
            warn(file, "slower-than-stale", "\(what) runs every \(file.text(every.valueRange)), but its series go stale after "
                 + "\(formatSeconds(staleAfter)) without a sample", every.valueRange,
                 notes: [.init("between checks its alerts would resolve as absent; check more often or raise `stale_after`")])
        }
        // A monitor that expects a ping within `grace` must get one more often than that.
        if b.kind == .heartbeat, let g = given["grace"], let grace = Surroundings.duration(g) {
            let every = given["every"].flatMap(Surroundings.duration) ?? Surroundings.defaultHeartbeatInterval
            if every >= grace {
                warn(file, "slower-than-grace", "the heartbeat pings every \(formatSeconds(every)), not within its monitor's grace of \(file.text(g.valueRange))",
                     given["every"]?.valueRange ?? g.valueRange,
                     notes: [.init("one late ping would page; ping at least twice per grace period")])
            }
        }
        if b.kind == .probe || b.kind == .scrape {
            if let expect = given["expect"], given["http"] == nil {
                error(file, "bad-value", "`expect` is an HTTP status; \(what) is not an HTTP probe", expect.key.range)
            }
            let interval = given["every"].flatMap(Surroundings.duration) ?? Surroundings.defaultInterval
            if let t = given["timeout"], let timeout = Surroundings.duration(t), timeout >= interval {
                warn(file, "timeout-not-below-interval", "the timeout of \(what) is not shorter than its interval", t.valueRange,
                     notes: [.init("a check still waiting when the next is due makes that next check skip; make `timeout` shorter than `every`")])
            }
        }
    }

    /// The config's `stale_after` (5 minutes unless set).
    private var staleAfter: Int64 { EngineSettings(config: config).staleAfter ?? EngineSettings.defaultStaleAfter }

    private func formatSeconds(_ ns: Int64) -> String {
        let s = ns / 1_000_000_000
        return s % 60 == 0 ? "\(s / 60)m" : "\(s)s"
    }

    /// What in an HTTP URL looks like a credential (a user and password, or a token-like query
    /// parameter), or nil.
    static func credentialsInURL(_ url: String) -> String? {
        let rest = url.drop { $0 != "/" }.dropFirst(2)
        if let at = rest.firstIndex(of: "@"), !rest[..<at].contains("/") { return "a user and password" }
        guard let q = url.firstIndex(of: "?") else { return nil }
        let names = url[url.index(after: q)...].split(separator: "&").map { $0.prefix { $0 != "=" }.lowercased() }
        let secretish = ["token", "key", "apikey", "api_key", "secret", "password", "auth", "signature", "sig"]
        return names.first { name in secretish.contains { name == $0 || name.hasSuffix("_" + $0) } }.map { "a `\($0)` parameter" }
    }

    private mutating func checkSurroundingValue(_ s: Setting, kind: BlockDecl.Kind, in file: SourceFile) {
        let key = s.key.name
        func string() -> String? {
            guard case .string(let lit)? = s.value else {
                error(file, "bad-value", "`\(key)` takes a quoted string", s.valueRange)
                return nil
            }
            return lit.value
        }
        switch key {
        case "every", "timeout", "grace":
            if Surroundings.duration(s) == nil {
                error(file, "bad-value", "`\(key)` takes a duration like `10s`", s.valueRange)
            }
        case "critical":
            break // a flag: the parser never gives it a value
        case "expect":
            guard case .number(let n)? = s.value, n.quantity.unit == nil, let code = Int(exactly: n.quantity.value), (100...599).contains(code) else {
                error(file, "bad-value", "`expect` takes an HTTP status from 100 to 599, like `200`", s.valueRange)
                return
            }
        case "tcp":
            guard let text = string() else { return }
            if case .failure(let e) = Surroundings.parseTCP(text) { error(file, "bad-value", e.message, s.valueRange) }
        case "http", "url":
            if case .secret(let ref)? = s.value {
                checkSecretRef(ref, in: file)
                return
            }
            guard let text = string() else { return }
            if !Surroundings.isHTTPURL(text) {
                error(file, "bad-value", "`\(key)` takes a URL starting with http:// or https://, `env:NAME` or `file:PATH`", s.valueRange)
            } else if let hint = Checker.credentialsInURL(text) {
                warn(file, "literal-secret", "this \(kind.rawValue) URL carries \(hint); secrets belong in the environment or a file", s.valueRange,
                     notes: [.init("configs end up in repositories and logs; use `\(key) env:NAME` or `\(key) file:PATH`")])
            }
        case "pid":
            guard case .number(let n)? = s.value, n.quantity.unit == nil, let pid = Int32(exactly: n.quantity.value), pid > 0 else {
                error(file, "bad-value", "`pid` takes a process id, a positive whole number", s.valueRange)
                return
            }
        case "path":
            guard let text = string() else { return }
            if case .failure(let e) = Surroundings.parseTailPath(text) { error(file, "bad-value", e.message, s.valueRange) }
        case "pid_file", "command":
            guard let text = string() else { return }
            if text.isEmpty { error(file, "bad-value", "`\(key)` cannot be empty", s.valueRange) }
        case "mounts":
            guard let text = string() else { return }
            let mounts = text.split(separator: " ")
            if mounts.isEmpty || mounts.contains(where: { !$0.hasPrefix("/") }) {
                error(file, "bad-value", "`mounts` takes absolute paths separated by spaces, like \"/ /var/lib/trader\"", s.valueRange)
            }
        default:
            break
        }
    }
}

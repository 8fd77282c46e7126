/// A small, fast, seedable generator, so generated tests and benchmarks are reproducible.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Generates valid rule files: uniform ones for the lint benchmark, messy ones (odd spacing,
/// shuffled clauses, one-line blocks, comments, parentheses, both quote styles) for the
/// formatter's round-trip tests.
public enum SyntheticRules {
    public static func file(alerts: Int, seed: UInt64, messy: Bool) -> String {
        var g = Generator(rng: SplitMix64(seed: seed), messy: messy)
        return g.file(alerts: alerts)
    }
}

private struct Generator {
    var rng: SplitMix64
    let messy: Bool
    let metrics: [(String, String?)] = [
        ("feed_latency_p95", "ms"), ("order_response_ms", nil), ("fill_rate", "ratio"), ("daily_pnl", "dollars"),
        ("position_exposure", "dollars"), ("memory_usage_mb", nil), ("book_updates", nil), ("edge_captured_cents", nil),
    ]
    let literals: [String: [String]] = [
        "ms": ["2000ms", "2s", "1_500ms", "0.5s"], "ratio": ["0.7", "85%", "0.25"], "dollars": ["5_000dollars", "100dollars"],
        "mb": ["512mb", "1_000"], "": ["0", "10", "1e3", "50_000"], "cents": ["300cents", "3dollars"],
    ]

    mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    mutating func chance(_ p: Double) -> Bool { Double(rng.next() % 1000) / 1000 < p }
    mutating func space() -> String { messy ? pick([" ", " ", "  ", "\t", "   "]) : " " }

    mutating func file(alerts: Int) -> String {
        var out = messy && chance(0.5) ? "# generated rules\n\n" : ""
        for (name, unit) in metrics {
            out += "metric\(space())\(name)" + (unit.map { " unit \($0)" } ?? "") + (chance(0.5) ? " labels venue, market" : "")
            out += messy && chance(0.2) ? "  # a metric\n" : "\n"
        }
        out += "event spec_validation_changed labels market\n"
        out += "const limit = 250_000dollars\nconst edge = 300cents\nconst ratio_floor = 0.7\n\n"
        for i in 0..<alerts {
            out += alert(i)
            out += messy && chance(0.3) ? "\n\n\n" : "\n"
        }
        if alerts > 1 { out += "inhibit alert_1 when alert_0" + (chance(0.5) ? " on venue\n" : "\n") }
        return out
    }

    mutating func alert(_ i: Int) -> String {
        var clauses = [
            ("when", condition()),
            ("severity", pick(["critical", "warning", "info"])),
            ("notify", pick(["slack", "pager, slack", "slack, email", "pager,slack,email"])),
        ]
        let extras: [(String, String)] = [
            ("escalate", pick(["immediate", "none", "after 15min", "after 5m to pager", "30min", "after 1h30m to pager, email"])),
            ("repeat", pick(["every 1h", "never", "every 4hours"])),
            ("resolve", pick(["after 1min", "after 30s"])),
            ("group", pick(["by venue", "by venue, market wait 5s", "wait 10s"])),
            ("label", pick(["team = \"trading\"", "tier = 'one'"])),
            ("summary", pick(["\"value {{value}} on {{venue}}\"", "'{{alert}} since {{since}}'", "\"plain \\\"quoted\\\" text\""])),
            ("runbook", "\"https://runbooks.example/\(i)\""),
        ]
        for e in extras where chance(0.5) { clauses.append(e) }
        if messy { clauses.shuffle(using: &rng) }
        if messy && chance(0.25) {
            return "alert alert_\(i) { " + clauses.map { "\($0.0) \($0.1)" }.joined(separator: pick(["; ", " ;", ";"])) + " }\n"
        }
        var out = "alert alert_\(i)\(space()){" + (messy && chance(0.2) ? "  # opens\n" : "\n")
        for (k, v) in clauses {
            if messy && chance(0.1) { out += "  # about \(k)\n" }
            out += (messy ? pick(["  ", "    ", "\t", " "]) : "  ") + k + space() + v
            out += messy && chance(0.15) ? "   # note\n" : "\n"
        }
        if messy && chance(0.1) { out += "  # last words\n" }
        return out + "}\n"
    }

    mutating func condition() -> String {
        var c = expr(depth: 0)
        if chance(0.2) { c += " over " + pick(["1hour", "5m", "30s"]) }
        if chance(0.4) { c += " for " + pick(["", "> ", ">= "]) + pick(["2min", "30s", "1h30m"]) }
        return c
    }

    mutating func expr(depth: Int) -> String {
        let r = rng.next() % 10
        if depth < 2, r < 2 { return "\(expr(depth: depth + 1)) \(pick(["and", "or"])) \(expr(depth: depth + 1))" }
        if depth < 2, r == 2 { return "not " + wrapped(expr(depth: depth + 1)) }
        if depth < 2, r == 3 { return "(" + expr(depth: depth + 1) + ")" }
        if r == 4 { return "spec_validation_changed" }
        return comparison()
    }

    mutating func wrapped(_ s: String) -> String { "(" + s + ")" }

    mutating func comparison() -> String {
        let (name, unit) = pick(metrics)
        let lits = literals[unit ?? ""] ?? ["0"]
        var left = selector(name)
        switch rng.next() % 6 {
        case 0: left = "\(pick(["avg", "max", "p95", "rate", "last"]))(\(left) over \(pick(["5m", "1h", "30s"])))"
        case 1: left = "quantile(0.9, \(left) over 10m)"
        case 2: left = "abs(\(left))"
        case 3: left = "\(left) \(pick(["+", "-", "*"])) \(pick(lits))"
        case 4: left = "-" + left
        default: break
        }
        var right = pick(lits)
        if chance(0.2) { right = "(\(right) * 1.1)" }
        if unit == "dollars", chance(0.3) { right = "limit" + (chance(0.5) ? " * 1.1" : "") }
        return "\(left) \(pick([">", ">=", "<", "<=", "==", "!="])) \(right)"
    }

    mutating func selector(_ name: String) -> String {
        guard chance(0.3) else { return name }
        let q = pick(["\"", "'"])
        let m = [("venue", pick(["=", "!=", "=~", "!~"]), "kal.*"), ("market", "=", "FED-25MAR19")]
        return name + "{" + m.prefix(1 + Int(rng.next() % 2)).map { "\($0.0)\($0.1)\(q)\($0.2)\(q)" }.joined(separator: ", ") + "}"
    }
}

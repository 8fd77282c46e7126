import Foundation
import VigilAlerting
import VigilEngine
import VigilRules

/// A `.test` file: rule files to load, and cases of input series with expectations.
///
///     rules ../warning.rules                      # relative to this file; default: ..
///     stale_after 5m                              # optional
///     case high latency fires after two minutes
///     series feed_latency_p95{venue="kalshi"} every 10s: 100 2500x20 100x5
///     expect at 3m: firing high_latency{venue="kalshi"}
///     ack at 10m high_latency{venue="kalshi"}                  # optional `for DURATION`
///     expect at 15m: no notify pager escalation high_latency   # notify CHANNEL [KIND] ALERT{labels}
///
/// Values use promtool's expanding notation: `a`, `_` (no sample), `a+bxN` and `a-bxN` (N+1
/// values from a in steps of b), `axN` (a, N+1 times), `_xN` (N gaps), and quoted strings
/// (`'down'x5`) for string series. An event series' every present value is one occurrence.
package struct RuleTestFile {
    package struct Series {
        let metric: String
        let labels: [Label]
        let interval: Int64
        package let values: [Value?]
        let line: Int
    }

    package enum Value: Equatable {
        case number(Double)
        case string(String)
    }

    struct Expectation {
        let at: Int64
        /// firing | pending | inactive, or notify / no notify.
        let state: String
        let alert: String
        let labels: [Label]
        let line: Int
        let text: String
        var channel: String? = nil
        var kind: String? = nil
    }

    struct Ack {
        let at: Int64
        let alert: String
        let labels: [Label]
        let duration: Int64?
        let line: Int
    }

    package struct Case {
        let name: String
        let line: Int
        package var series: [Series] = []
        var expectations: [Expectation] = []
        var acks: [Ack] = []
    }

    package struct ParseError: Error {
        package let line: Int
        package let message: String
    }

    var rules: [String] = []
    var config: String?
    var staleAfter: Int64?
    package var cases: [Case] = []

    package static func parse(_ text: String) -> Result<RuleTestFile, ParseError> {
        var file = RuleTestFile()
        for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = n + 1
            let content = stripComment(String(raw)).trimmingCharacters(in: .whitespaces)
            if content.isEmpty { continue }
            let (word, rest) = splitWord(content)
            do throws(ParseError) {
                switch word {
                case "rules":
                    file.rules += rest.split(separator: " ").map(String.init)
                case "stale_after":
                    file.staleAfter = try duration(rest, line)
                case "config":
                    file.config = rest
                case "ack":
                    guard !file.cases.isEmpty else { throw ParseError(line: line, message: "`ack` comes after a `case NAME` line") }
                    file.cases[file.cases.count - 1].acks.append(try ack(rest, line))
                case "case":
                    file.cases.append(Case(name: rest.isEmpty ? "case \(file.cases.count + 1)" : rest, line: line))
                case "series":
                    guard !file.cases.isEmpty else { throw ParseError(line: line, message: "`series` comes after a `case NAME` line") }
                    file.cases[file.cases.count - 1].series.append(try series(rest, line))
                case "expect":
                    guard !file.cases.isEmpty else { throw ParseError(line: line, message: "`expect` comes after a `case NAME` line") }
                    file.cases[file.cases.count - 1].expectations.append(try expectation(rest, line))
                default:
                    throw ParseError(line: line, message: "expected `rules`, `config`, `stale_after`, `case`, `series`, `ack` or `expect`, found `\(word)`")
                }
            } catch {
                return .failure(error)
            }
        }
        return .success(file)
    }

    private static func stripComment(_ s: String) -> String {
        var quote: Character?
        for (i, c) in s.enumerated() {
            if let q = quote { if c == q { quote = nil } } else if c == "'" || c == "\"" { quote = c } else if c == "#" {
                return String(s.prefix(i))
            }
        }
        return s
    }

    private static func splitWord(_ s: String) -> (String, String) {
        guard let space = s.firstIndex(of: " ") else { return (s, "") }
        return (String(s[..<space]), s[space...].trimmingCharacters(in: .whitespaces))
    }

    static func duration(_ s: String, _ line: Int) throws(ParseError) -> Int64 {
        if s == "0" { return 0 }
        let ns: Int64
        switch Quantity.duration(s) {
        case .success(let d): ns = d
        case .failure(.notADuration): throw ParseError(line: line, message: "expected a duration like `30s`, found `\(s)`")
        case .failure(.tooLong):
            throw ParseError(line: line, message: "`\(s)` is longer than the longest duration vigil takes (\(Quantity.longestDurationText))")
        }
        guard ns >= 0 else { throw ParseError(line: line, message: "a duration cannot be negative, found `\(s)`") }
        return ns
    }

    /// `name{a="b", c='d'}` → name and labels; returns the rest of the text.
    static func selector(_ s: String, _ line: Int) throws(ParseError) -> (String, [Label], Substring) {
        var rest = Substring(s)
        let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." || $0 == ":" }
        guard !name.isEmpty else { throw ParseError(line: line, message: "expected a metric or alert name, found `\(s)`") }
        rest = rest.dropFirst(name.count)
        var labels: [Label] = []
        if rest.first == "{" {
            rest = rest.dropFirst()
            while true {
                rest = rest.drop { $0 == " " }
                if rest.first == "}" { rest = rest.dropFirst(); break }
                let key = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
                rest = rest.dropFirst(key.count).drop { $0 == " " }
                guard !key.isEmpty, rest.first == "=" else { throw ParseError(line: line, message: "expected `label=\"value\"` in `\(s)`") }
                rest = rest.dropFirst().drop { $0 == " " }
                guard let q = rest.first, q == "\"" || q == "'", let close = rest.dropFirst().firstIndex(of: q) else {
                    throw ParseError(line: line, message: "expected a quoted label value in `\(s)`")
                }
                labels.append(Label(String(key), String(rest[rest.index(after: rest.startIndex)..<close])))
                rest = rest[rest.index(after: close)...].drop { $0 == " " }
                if rest.first == "," { rest = rest.dropFirst() }
            }
        }
        return (String(name), labels, rest)
    }

    private static func series(_ s: String, _ line: Int) throws(ParseError) -> Series {
        let (name, labels, rest) = try selector(s, line)
        let text = rest.trimmingCharacters(in: .whitespaces)
        guard text.hasPrefix("every "), let colon = text.firstIndex(of: ":") else {
            throw ParseError(line: line, message: "expected `every DURATION: VALUES` after the series name")
        }
        let interval = try duration(String(text[text.index(text.startIndex, offsetBy: 6)..<colon]).trimmingCharacters(in: .whitespaces), line)
        guard interval > 0 else { throw ParseError(line: line, message: "the interval must be more than 0") }
        var values: [Value?] = []
        for token in tokens(String(text[text.index(after: colon)...])) {
            values += try expand(token, line)
            guard values.count <= maxValues else {
                throw ParseError(line: line, message: "a series holds at most \(maxValues) values")
            }
        }
        // Its last sample's time must be one vigil takes (a series spans at most 3650 days).
        let span = interval.multipliedReportingOverflow(by: Int64(max(0, values.count - 1)))
        guard !span.overflow, span.partialValue <= Quantity.longestDuration else {
            throw ParseError(line: line, message: "the series spans more than \(Quantity.longestDurationText) (\(values.count) values every \(formatDuration(interval)))")
        }
        return Series(metric: name, labels: labels, interval: interval, values: values, line: line)
    }

    /// Values one `series` line may expand to (promtool's notation makes a few bytes many).
    static let maxValues = 1_000_000

    private static func tokens(_ s: String) -> [String] {
        var out: [String] = []
        var current = ""
        var quote: Character?
        for c in s {
            if let q = quote {
                current.append(c)
                if c == q { quote = nil }
            } else if c == " " || c == "\t" {
                if !current.isEmpty { out.append(current); current = "" }
            } else {
                if c == "'" || c == "\"" { quote = c }
                current.append(c)
            }
        }
        if !current.isEmpty { out.append(current) }
        return out
    }

    /// promtool's expanding notation for one token.
    static func expand(_ token: String, _ line: Int) throws(ParseError) -> [Value?] {
        var base = token
        var times: Int?
        if let x = token.lastIndex(of: "x"), let n = Int(token[token.index(after: x)...]), n >= 0, n <= 1_000_000 {
            base = String(token[..<x])
            times = n
        }
        if base == "_" { return Array(repeating: nil, count: times ?? 1) }
        if let q = base.first, q == "'" || q == "\"", base.count >= 2, base.last == q {
            return Array(repeating: .string(String(base.dropFirst().dropLast())), count: (times ?? 0) + 1)
        }
        guard !base.isEmpty else { throw ParseError(line: line, message: "expected a value before `x` (`1x3`, `_x3`), found `\(token)`") }
        // a, a+b, a-b (the step form needs xN); a leading minus belongs to a.
        var split: String.Index?
        var i = base.index(after: base.startIndex)
        while i < base.endIndex {
            if (base[i] == "+" || base[i] == "-"), base[base.index(before: i)] != "e" { split = i; break }
            i = base.index(after: i)
        }
        let start: Double?
        var step = 0.0
        if let split {
            guard times != nil, let a = Double(base[..<split]), let b = Double(base[base.index(after: split)...]) else {
                throw ParseError(line: line, message: "`\(token)`: expected `a+bxN` or `a-bxN`, like `1+2x3`")
            }
            start = a
            step = base[split] == "+" ? b : -b
        } else {
            start = Double(base)
        }
        guard let a = start else { throw ParseError(line: line, message: "expected a value (`1`, `_`, `1+2x3`, `'down'`), found `\(token)`") }
        return (0...(times ?? 0)).map { .number(a + Double($0) * step) }
    }

    private static let kinds = ["firing", "escalation", "repeat", "resolved", "flapping", "acknowledge"]

    private static func expectation(_ s: String, _ line: Int) throws(ParseError) -> Expectation {
        guard s.hasPrefix("at "), let colon = s.firstIndex(of: ":") else {
            throw ParseError(line: line, message: "expected `expect at DURATION: STATE ALERT{labels}` or `… notify CHANNEL [KIND] ALERT{labels}`")
        }
        let at = try duration(String(s[s.index(s.startIndex, offsetBy: 3)..<colon]).trimmingCharacters(in: .whitespaces), line)
        let body = s[s.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        var (state, rest) = splitWord(body)
        if state == "no" {
            let (word, after) = splitWord(rest)
            guard word == "notify" else { throw ParseError(line: line, message: "expected `no notify`, found `no \(word)`") }
            state = "no notify"
            rest = after
        }
        var channel: String?, kind: String?
        if state == "notify" || state == "no notify" {
            let (c, afterChannel) = splitWord(rest)
            guard !c.isEmpty else { throw ParseError(line: line, message: "expected a channel after `notify`") }
            channel = c
            rest = afterChannel
            let (k, afterKind) = splitWord(rest)
            if kinds.contains(k) { kind = k; rest = afterKind }
        } else if !["firing", "pending", "inactive"].contains(state) {
            throw ParseError(line: line, message: "expected `firing`, `pending`, `inactive`, `notify` or `no notify`, found `\(state)`")
        }
        let (alert, labels, tail) = try selector(rest, line)
        guard tail.trimmingCharacters(in: .whitespaces).isEmpty else { throw ParseError(line: line, message: "unexpected `\(tail)`") }
        return Expectation(at: at, state: state, alert: alert, labels: labels, line: line, text: body, channel: channel, kind: kind)
    }

    /// `at DURATION ALERT{labels} [for DURATION]`
    private static func ack(_ s: String, _ line: Int) throws(ParseError) -> Ack {
        let (word, rest) = splitWord(s)
        let (time, afterTime) = splitWord(rest)
        guard word == "at", !time.isEmpty else { throw ParseError(line: line, message: "expected `ack at DURATION ALERT{labels} [for DURATION]`") }
        let (alert, labels, tail) = try selector(afterTime, line)
        var duration: Int64?
        let t = tail.trimmingCharacters(in: .whitespaces)
        if t.hasPrefix("for ") { duration = try self.duration(String(t.dropFirst(4)).trimmingCharacters(in: .whitespaces), line) }
        else if !t.isEmpty { throw ParseError(line: line, message: "unexpected `\(t)`") }
        return Ack(at: try self.duration(time, line), alert: alert, labels: labels, duration: duration, line: line)
    }
}

/// Runs a case: feeds its series to a fresh engine (and router) from t = 0 and checks each
/// expectation at its time, after every sample and ack up to and including that time.
package enum RuleTestRunner {
    /// Failure messages (empty when the case passes).
    package static func run(_ c: RuleTestFile.Case, rules: LintResult, routing: AlertingConfig, staleAfter: Int64?, path: String) -> [String] {
        var config = EngineConfig(config: rules.config)
        if let staleAfter { config.staleAfter = staleAfter } // the test file's own setting wins
        let core = Core(rules: rules, config: routing, engine: config, start: Instant(nanoseconds: 0))
        let engine = core.engine
        var sent: [AlertNotification] = []
        var failures: [String] = []
        // Samples by time.
        var points: [Int64: [Sample]] = [:]
        for s in c.series {
            for (i, v) in s.values.enumerated() {
                guard let v else { continue }
                let t = Instant(nanoseconds: Int64(i) * s.interval)
                let value: Engine.SampleValue
                switch v {
                case .string(let text): value = .string(text)
                case .number(let x): value = engine.kind(ofMetric: s.metric) == .event ? .event : .number(x)
                }
                guard let sample = engine.sample(metric: s.metric, labels: s.labels, value: value, at: t) else {
                    return ["\(path):\(s.line): `\(s.metric)` cannot take this value (its kind is fixed by the rules)\n"]
                }
                points[t.nanoseconds, default: []].append(sample)
            }
        }
        let times = Set(points.keys).union(c.acks.map(\.at)).union(c.expectations.map(\.at)).sorted()
        for t in times {
            let at = Instant(nanoseconds: t)
            sent += core.step(points[t].map { [.samples($0, fromStream: true)] } ?? [], at: at).notifications
            var acks: [Core.Input] = []
            for a in c.acks where a.at == t {
                let fps = core.router.firing(alert: a.alert, labels: a.labels)
                if fps.isEmpty { failures.append("\(path):\(a.line): case \"\(c.name)\": at \(formatDuration(t)) there is no firing \(a.alert) to acknowledge\n") }
                acks += fps.map { .command(.ack(fingerprint: $0, for: a.duration)) }
            }
            if !acks.isEmpty { sent += core.step(acks, at: at).notifications }
            for x in c.expectations where x.at == t {
                if let failure = check(x, engine, sent, c, path) { failures.append(failure) }
            }
        }
        return failures
    }

    private static func check(_ x: RuleTestFile.Expectation, _ engine: Engine, _ sent: [AlertNotification],
                              _ c: RuleTestFile.Case, _ path: String) -> String? {
        let head = "\(path):\(x.line): case \"\(c.name)\": at \(formatDuration(x.at)) expected \(x.text)\n"
        if let channel = x.channel {
            let matching = sent.filter { n in
                n.at.nanoseconds == x.at && n.channel == channel && (x.kind == nil || n.kind.rawValue == x.kind)
                    && n.alerts.contains { a in a.name == x.alert && x.labels.allSatisfy { a.labels.contains($0) } }
            }
            if (x.state == "notify") == !matching.isEmpty { return nil }
            let around = sent.filter { $0.alerts.contains { $0.name == x.alert } }
            if around.isEmpty { return head + "  actual: no notification about \(x.alert)\n" }
            return head + around.map { n in
                "  actual: at \(formatDuration(n.at.nanoseconds)) \(n.channel) \(n.kind.rawValue)\(n.step > 0 ? " step \(n.step)" : "")\n"
            }.joined()
        }
        let all = engine.instances(of: x.alert)
        let matching = all.filter { inst in x.labels.allSatisfy { inst.labels.contains($0) } }
        let ok: Bool
        switch x.state {
        case "inactive": ok = matching.isEmpty
        default: ok = matching.contains { $0.state.rawValue == x.state }
        }
        if ok { return nil }
        var message = head
        if all.isEmpty {
            message += "  actual: no pending or firing instance of \(x.alert)\n"
        } else {
            for inst in all {
                message += "  actual: \(x.alert)\(ReplayCommand.labelsText(inst.labels)) \(inst.state.rawValue) since \(formatDuration(inst.activeAt.nanoseconds)), value \(formatNumber(inst.value))\n"
            }
        }
        return message
    }
}

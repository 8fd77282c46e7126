import Foundation
import VigilEngine
import VigilRules

/// A `.test` file: rule files to load, and cases of input series with expectations.
///
///     rules ../warning.rules                      # relative to this file; default: ..
///     stale_after 5m                              # optional
///     case high latency fires after two minutes
///     series feed_latency_p95{venue="kalshi"} every 10s: 100 2500x20 100x5
///     expect at 3m: firing high_latency{venue="kalshi"}
///
/// Values use promtool's expanding notation: `a`, `_` (no sample), `a+bxN` and `a-bxN` (N+1
/// values from a in steps of b), `axN` (a, N+1 times), `_xN` (N gaps), and quoted strings
/// (`'down'x5`) for string series. An event series' every present value is one occurrence.
struct RuleTestFile {
    struct Series {
        let metric: String
        let labels: [Label]
        let interval: Int64
        let values: [Value?]
        let line: Int
    }

    enum Value: Equatable {
        case number(Double)
        case string(String)
    }

    struct Expectation {
        let at: Int64
        let state: String        // firing | pending | inactive
        let alert: String
        let labels: [Label]
        let line: Int
        let text: String
    }

    struct Case {
        let name: String
        let line: Int
        var series: [Series] = []
        var expectations: [Expectation] = []
    }

    struct ParseError: Error {
        let line: Int
        let message: String
    }

    var rules: [String] = []
    var staleAfter: Int64?
    var cases: [Case] = []

    static func parse(_ text: String) -> Result<RuleTestFile, ParseError> {
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
                case "case":
                    file.cases.append(Case(name: rest.isEmpty ? "case \(file.cases.count + 1)" : rest, line: line))
                case "series":
                    guard !file.cases.isEmpty else { throw ParseError(line: line, message: "`series` comes after a `case NAME` line") }
                    file.cases[file.cases.count - 1].series.append(try series(rest, line))
                case "expect":
                    guard !file.cases.isEmpty else { throw ParseError(line: line, message: "`expect` comes after a `case NAME` line") }
                    file.cases[file.cases.count - 1].expectations.append(try expectation(rest, line))
                default:
                    throw ParseError(line: line, message: "expected `rules`, `stale_after`, `case`, `series` or `expect`, found `\(word)`")
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
        guard case .success(let q) = Quantity.parse(s), let ns = q.nanoseconds, ns >= 0 else {
            throw ParseError(line: line, message: "expected a duration like `30s`, found `\(s)`")
        }
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
        }
        return Series(metric: name, labels: labels, interval: interval, values: values, line: line)
    }

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

    private static func expectation(_ s: String, _ line: Int) throws(ParseError) -> Expectation {
        guard s.hasPrefix("at "), let colon = s.firstIndex(of: ":") else {
            throw ParseError(line: line, message: "expected `expect at DURATION: STATE ALERT{labels}`")
        }
        let at = try duration(String(s[s.index(s.startIndex, offsetBy: 3)..<colon]).trimmingCharacters(in: .whitespaces), line)
        let (state, rest) = splitWord(s[s.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        guard ["firing", "pending", "inactive"].contains(state) else {
            throw ParseError(line: line, message: "expected `firing`, `pending` or `inactive`, found `\(state)`")
        }
        let (alert, labels, tail) = try selector(rest, line)
        guard tail.trimmingCharacters(in: .whitespaces).isEmpty else { throw ParseError(line: line, message: "unexpected `\(tail)`") }
        return Expectation(at: at, state: state, alert: alert, labels: labels, line: line, text: "\(state) \(rest)")
    }
}

/// Runs a case: feeds its series to a fresh engine from t = 0 and checks each expectation.
enum RuleTestRunner {
    /// Failure messages (empty when the case passes).
    static func run(_ c: RuleTestFile.Case, rules: LintResult, staleAfter: Int64?, path: String) -> [String] {
        var config = EngineConfig()
        if let staleAfter { config.staleAfter = staleAfter }
        let engine = Engine(rules: rules, config: config, start: Instant(nanoseconds: 0))
        var failures: [String] = []
        // Samples by time.
        var points: [(Int64, Int, Sample)] = []
        for (k, s) in c.series.enumerated() {
            for (i, v) in s.values.enumerated() {
                guard let v else { continue }
                let t = Instant(nanoseconds: Int64(i) * s.interval)
                let value: Engine.SampleValue
                switch v {
                case .string(let text): value = .string(text)
                case .number(let x): value = engine.kind(ofMetric: s.metric) == .event ? .event : .number(x)
                }
                guard let sample = engine.sample(metric: s.metric, labels: s.labels, value: value, at: t) else {
                    failures.append("\(path):\(s.line): `\(s.metric)` cannot take this value (its kind is fixed by the rules)")
                    return failures
                }
                points.append((t.nanoseconds, k, sample))
            }
        }
        points.sort { ($0.0, $0.1) < ($1.0, $1.1) }
        let expectations = c.expectations.sorted { $0.at < $1.at }
        var e = 0
        var p = 0
        while p < points.count || e < expectations.count {
            let nextSample = p < points.count ? points[p].0 : .max
            if e < expectations.count, expectations[e].at < nextSample {
                engine.advance(through: Instant(nanoseconds: expectations[e].at))
                if let failure = check(expectations[e], engine, c, path) { failures.append(failure) }
                e += 1
                continue
            }
            var batch: [Sample] = []
            while p < points.count, points[p].0 == nextSample { batch.append(points[p].2); p += 1 }
            engine.apply(batch)
        }
        return failures
    }

    private static func check(_ x: RuleTestFile.Expectation, _ engine: Engine, _ c: RuleTestFile.Case, _ path: String) -> String? {
        let all = engine.instances(of: x.alert)
        let matching = all.filter { inst in x.labels.allSatisfy { inst.labels.contains($0) } }
        let ok: Bool
        switch x.state {
        case "inactive": ok = matching.isEmpty
        default: ok = matching.contains { $0.state.rawValue == x.state }
        }
        if ok { return nil }
        var message = "\(path):\(x.line): case \"\(c.name)\": at \(formatDuration(x.at)) expected \(x.text)\n"
        if all.isEmpty {
            message += "  actual: no pending or firing instance of \(x.alert)\n"
        } else {
            for inst in all {
                message += "  actual: \(x.alert)\(ReplayCommand.labelsText(inst.labels)) \(inst.state.rawValue) since \(formatDuration(inst.activeAt.nanoseconds)), value \(ReplayCommand.numberText(inst.value))\n"
            }
        }
        return message
    }
}

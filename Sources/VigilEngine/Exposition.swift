/// Prometheus' text exposition format (0.0.4) and OpenMetrics 1.0, read from bytes into samples
/// of one instant (a scrape). No Foundation: names and label values are interned straight from
/// the body (unescaped into a reused scratch only when they carry a backslash).
///
/// As Prometheus does, any syntax error fails the whole scrape: nothing of it is applied, so a
/// half-read target never looks like one whose series vanished. Exposition timestamps are
/// parsed and not used: one scrape is one instant, stamped when it began (Prometheus'
/// `honor_timestamps: false`), which keeps every sample of a target consistent with the others.
public struct ExpositionParser {
    public enum Format: Sendable, Equatable {
        /// `text/plain; version=0.0.4`.
        case prometheus
        /// `application/openmetrics-text; version=1.0.0`: `# EOF` required and last, `# UNIT`,
        /// exemplars after ` # `, and `_created` samples of counters, histograms and summaries
        /// (start times, not values) dropped.
        case openMetrics

        /// The format a response's Content-Type names (the text format when it names neither).
        public init(contentType: String?) {
            self = contentType.map { $0.lowercased().hasPrefix("application/openmetrics-text") } == true ? .openMetrics : .prometheus
        }
    }

    /// Why a scrape was refused, with its line (1-based).
    public struct Failure: Error, Equatable, Sendable, CustomStringConvertible {
        public let line: Int
        public let message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// What one scrape gave.
    public struct Outcome: Sendable, Equatable {
        /// Samples produced (into `out`).
        public var samples = 0
        /// Samples dropped: a new series over a cap, a value that is NaN or infinite, a metric
        /// the stream already made an event or a string.
        public var capped = 0
        public var nonFinite = 0
        public var wrongKind = 0
    }

    /// Label values longer than this fail the scrape (a target cannot grow one value without end).
    public static let maxLabelValue = 4096
    public static let maxLabels = 64

    private var scratch: [UInt8] = []
    private var pairs: [(name: Int32, value: Int32)] = []
    /// OpenMetrics families whose `_created` samples are dropped, by name.
    private var startTimed: Set<[UInt8]> = []

    public init() {}

    /// Parses `body` into `out` (appended), every sample stamped `time`. On a failure nothing is
    /// appended and every name, label set and series it interned is forgotten.
    public mutating func parse(_ body: UnsafeRawBufferPointer, format: Format, time: Instant, symbols: Symbols,
                               into out: inout [Sample]) -> Result<Outcome, Failure> {
        let mark = symbols.checkpoint
        let start = out.count
        startTimed.removeAll(keepingCapacity: true)
        var outcome = Outcome()
        var sawEOF = false
        var lineNumber = 0
        var i = 0
        let n = body.count
        while i < n {
            var end = i
            while end < n, body[end] != 0x0A { end += 1 }
            lineNumber += 1
            var stop = end, first = i
            if format == .prometheus {
                // The text format allows blanks around a line and a CRLF ending.
                if stop > first, body[stop - 1] == 0x0D { stop -= 1 }
                while first < stop, body[first] == 0x20 || body[first] == 0x09 { first += 1 }
            }
            let line = UnsafeRawBufferPointer(rebasing: body[first..<stop])
            i = end + 1
            if sawEOF {
                return fail(Failure(line: lineNumber, message: "content after # EOF"), mark, start, symbols, &out)
            }
            do {
                if line.isEmpty {
                    if format == .openMetrics { throw Failure(line: lineNumber, message: "an empty line (OpenMetrics allows none)") }
                    continue
                }
                if line[0] == UInt8(ascii: "#") {
                    if try comment(line, format: format, lineNumber: lineNumber) { sawEOF = true }
                    continue
                }
                try sample(line, format: format, time: time, lineNumber: lineNumber, symbols: symbols, out: &out, outcome: &outcome)
            } catch let f as Failure {
                return fail(f, mark, start, symbols, &out)
            } catch {
                return fail(Failure(line: lineNumber, message: "unreadable"), mark, start, symbols, &out)
            }
        }
        if format == .openMetrics, !sawEOF {
            return fail(Failure(line: max(1, lineNumber), message: "no # EOF at the end (a truncated OpenMetrics answer)"), mark, start, symbols, &out)
        }
        outcome.samples = out.count - start
        return .success(outcome)
    }

    private func fail(_ f: Failure, _ mark: Symbols.Checkpoint, _ start: Int, _ symbols: Symbols, _ out: inout [Sample]) -> Result<Outcome, Failure> {
        out.removeSubrange(start...)
        symbols.rollback(to: mark)
        return .failure(f)
    }

    // MARK: - Lines

    /// `# HELP`, `# TYPE`, `# UNIT`, `# EOF` or (text format) any other comment. True at `# EOF`.
    private mutating func comment(_ line: UnsafeRawBufferPointer, format: Format, lineNumber: Int) throws -> Bool {
        var c = Cursor(line)
        if format == .openMetrics, line.count == 5, c.matches("# EOF") { return true }
        c.i = 1
        guard c.skip(0x20) else {
            if format == .openMetrics { throw Failure(line: lineNumber, message: "a comment must be # HELP, # TYPE, # UNIT or # EOF") }
            return false
        }
        let keyword = c.word()
        let isType = c.equals(keyword, "TYPE"), isHelp = c.equals(keyword, "HELP"), isUnit = c.equals(keyword, "UNIT")
        guard isType || isHelp || isUnit && format == .openMetrics else {
            if format == .openMetrics { throw Failure(line: lineNumber, message: "a comment must be # HELP, # TYPE, # UNIT or # EOF") }
            return false
        }
        guard c.skip(0x20) else { throw Failure(line: lineNumber, message: "# \(c.text(keyword)) needs a metric name") }
        let name = c.metricName()
        guard !name.isEmpty else { throw Failure(line: lineNumber, message: "# \(c.text(keyword)) needs a metric name") }
        guard isType else { return false } // HELP and UNIT text is not used
        guard c.skip(0x20) else { throw Failure(line: lineNumber, message: "# TYPE needs a type") }
        let type = c.word()
        let known = format == .openMetrics
            ? ["counter", "gauge", "histogram", "gaugehistogram", "summary", "info", "stateset", "unknown"]
            : ["counter", "gauge", "histogram", "summary", "untyped"]
        guard c.i == line.count, known.contains(where: { c.equals(type, $0) }) else {
            throw Failure(line: lineNumber, message: "unknown metric type `\(c.text(type))`")
        }
        if format == .openMetrics, c.equals(type, "counter") || c.equals(type, "histogram") || c.equals(type, "summary") {
            startTimed.insert(Array(UnsafeRawBufferPointer(rebasing: line[name])))
        }
        return false
    }

    /// `name[{labels}] value [timestamp][ # exemplar]`.
    private mutating func sample(_ line: UnsafeRawBufferPointer, format: Format, time: Instant, lineNumber: Int, symbols: Symbols,
                                 out: inout [Sample], outcome: inout Outcome) throws {
        var c = Cursor(line)
        let name = c.metricName()
        guard !name.isEmpty else { throw Failure(line: lineNumber, message: "a sample must start with a metric name") }
        let mark = symbols.checkpoint
        pairs.removeAll(keepingCapacity: true)
        // The text format allows blanks around the labels; OpenMetrics one space before the value.
        var blanks = format == .prometheus ? c.skipBlanks() : 0
        var labelled = false
        if c.peek == UInt8(ascii: "{") {
            c.i += 1
            try labels(&c, lineNumber: lineNumber, symbols: symbols)
            labelled = true
            blanks = format == .prometheus ? c.skipBlanks() : (c.skip(0x20) ? 1 : 0)
        } else if format == .openMetrics {
            blanks = c.skip(0x20) ? 1 : 0
        }
        guard blanks > 0 || labelled && format == .prometheus, c.i < line.count else {
            throw Failure(line: lineNumber, message: "a sample needs a value after its name and labels")
        }
        let valueToken = c.token()
        guard let value = ExpositionParser.float(UnsafeRawBufferPointer(rebasing: line[valueToken])) else {
            throw Failure(line: lineNumber, message: "`\(c.text(valueToken))` is not a number")
        }
        if format == .prometheus { _ = c.skipBlanks() } else { _ = c.skip(0x20) }
        if c.i < line.count, c.peek != UInt8(ascii: "#") {
            let stamp = c.token()
            guard ExpositionParser.float(UnsafeRawBufferPointer(rebasing: line[stamp])) != nil else {
                throw Failure(line: lineNumber, message: "`\(c.text(stamp))` is not a timestamp")
            }
            if format == .prometheus { _ = c.skipBlanks() } else { _ = c.skip(0x20) }
        }
        if c.i < line.count {
            // An exemplar (` # {trace_id="…"} 1.0`): OpenMetrics only, and not used.
            guard format == .openMetrics, c.matches("# {") else { throw Failure(line: lineNumber, message: "unexpected text after the value") }
        }
        if format == .openMetrics, isStartTime(UnsafeRawBufferPointer(rebasing: line[name])) {
            symbols.rollback(to: mark)
            return
        }
        guard value.isFinite else {
            outcome.nonFinite += 1
            symbols.rollback(to: mark)
            return
        }
        guard let metric = symbols.metric(UnsafeRawBufferPointer(rebasing: line[name]), kind: .number) else {
            outcome.wrongKind += 1
            symbols.rollback(to: mark)
            return
        }
        // Insertion sort by name id (label sets are small); a repeated name fails the scrape.
        if pairs.count > 1 {
            for a in 1..<pairs.count {
                var b = a
                while b > 0, pairs[b - 1].name > pairs[b].name { pairs.swapAt(b - 1, b); b -= 1 }
            }
            for a in 1..<pairs.count where pairs[a].name == pairs[a - 1].name {
                throw Failure(line: lineNumber, message: "a label name is repeated")
            }
        }
        let labelSet = pairs.withUnsafeBufferPointer { symbols.internLabelSet($0) }
        guard !symbols.internersFull, let series = symbols.series(metric: metric, labelSet: labelSet) else {
            outcome.capped += 1
            symbols.rollback(to: mark)
            return
        }
        out.append(Sample(series: series, value: value, time: time))
    }

    /// `NAME_created` of a counter, histogram or summary family declared earlier.
    private func isStartTime(_ name: UnsafeRawBufferPointer) -> Bool {
        guard name.count > 8, !startTimed.isEmpty, name.suffix(8).elementsEqual("_created".utf8) else { return false }
        return startTimed.contains(Array(name.prefix(name.count - 8)))
    }

    /// `name="value", …}` after the `{`, into `pairs`.
    private mutating func labels(_ c: inout Cursor, lineNumber: Int, symbols: Symbols) throws {
        while true {
            while c.skip(0x20) {}
            if c.skip(UInt8(ascii: "}")) { return }
            let name = c.labelName()
            guard !name.isEmpty else { throw Failure(line: lineNumber, message: "a label name must match [a-zA-Z_][a-zA-Z0-9_]*") }
            while c.skip(0x20) {}
            guard c.skip(UInt8(ascii: "=")) else { throw Failure(line: lineNumber, message: "a label needs `=` after its name") }
            while c.skip(0x20) {}
            guard c.skip(UInt8(ascii: "\"")) else { throw Failure(line: lineNumber, message: "a label value must be quoted") }
            let valueStart = c.i
            var escaped = false
            while c.i < c.p.count, c.p[c.i] != UInt8(ascii: "\"") {
                if c.p[c.i] == UInt8(ascii: "\\") { escaped = true; c.i += 1 }
                c.i += 1
            }
            guard c.i < c.p.count else { throw Failure(line: lineNumber, message: "a label value is not closed") }
            let valueRange = valueStart..<c.i
            c.i += 1
            guard valueRange.count <= ExpositionParser.maxLabelValue else {
                throw Failure(line: lineNumber, message: "a label value is longer than \(ExpositionParser.maxLabelValue) bytes")
            }
            guard pairs.count < ExpositionParser.maxLabels else {
                throw Failure(line: lineNumber, message: "more than \(ExpositionParser.maxLabels) labels")
            }
            // `__name__` and other reserved names are the target's business, not a series' label.
            let nameID = symbols.strings.intern(UnsafeRawBufferPointer(rebasing: c.p[name]))
            let valueID: Int32
            if escaped {
                scratch.removeAll(keepingCapacity: true)
                var k = valueRange.lowerBound
                while k < valueRange.upperBound {
                    let b = c.p[k]
                    if b == UInt8(ascii: "\\"), k + 1 < valueRange.upperBound {
                        let e = c.p[k + 1]
                        switch e {
                        case UInt8(ascii: "n"): scratch.append(0x0A)
                        case UInt8(ascii: "\\"), UInt8(ascii: "\""): scratch.append(e)
                        default: scratch.append(b); scratch.append(e) // the text format keeps an unknown escape as is
                        }
                        k += 2
                    } else {
                        scratch.append(b)
                        k += 1
                    }
                }
                valueID = scratch.withUnsafeBytes { symbols.strings.intern($0) }
            } else {
                valueID = symbols.strings.intern(UnsafeRawBufferPointer(rebasing: c.p[valueRange]))
            }
            pairs.append((nameID, valueID))
            while c.skip(0x20) {}
            if c.skip(UInt8(ascii: ",")) { continue }
            guard c.skip(UInt8(ascii: "}")) else { throw Failure(line: lineNumber, message: "labels must be separated by `,` and closed by `}`") }
            return
        }
    }

    // MARK: - Numbers

    private static let pow10: [Double] = (0...22).map { Double("1e\($0)") ?? 1 }

    /// A Go `ParseFloat` number as the formats write it: decimal with optional exponent, `NaN`,
    /// `Inf`, `+Inf`, `-Inf` (any case). Exact fast path for ≤ 15 digits and |exponent| ≤ 22,
    /// else the standard library's parser on the token.
    public static func float(_ p: UnsafeRawBufferPointer) -> Double? {
        guard !p.isEmpty, p.count <= 64 else { return nil }
        var i = 0
        var negative = false
        if p[0] == UInt8(ascii: "-") || p[0] == UInt8(ascii: "+") { negative = p[0] == UInt8(ascii: "-"); i = 1 }
        let rest = UnsafeRawBufferPointer(rebasing: p[i...])
        func word(_ w: String) -> Bool { rest.count == w.utf8.count && zip(rest, w.utf8).allSatisfy { $0 | 0x20 == $1 | 0x20 } }
        if word("inf") || word("infinity") { return negative ? -.infinity : .infinity }
        if word("nan") { return .nan }
        var mantissa: UInt64 = 0
        var digits = 0, exponent = 0, seen = 0
        while i < p.count, p[i] &- 48 <= 9 {
            if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(p[i] - 48); digits += mantissa == 0 ? 0 : 1 } else { exponent += 1 }
            i += 1
            seen += 1
        }
        if i < p.count, p[i] == UInt8(ascii: ".") {
            i += 1
            while i < p.count, p[i] &- 48 <= 9 {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(p[i] - 48); digits += mantissa == 0 ? 0 : 1; exponent -= 1 }
                i += 1
                seen += 1
            }
        }
        guard seen > 0 else { return nil }
        if i < p.count, p[i] | 0x20 == UInt8(ascii: "e") {
            i += 1
            var expNegative = false
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { expNegative = p[i] == UInt8(ascii: "-"); i += 1 }
            guard i < p.count else { return nil }
            var e = 0
            while i < p.count, p[i] &- 48 <= 9 {
                if e < 100_000 { e = e * 10 + Int(p[i] - 48) }
                i += 1
            }
            exponent += expNegative ? -e : e
        }
        guard i == p.count else { return nil }
        if digits <= 15, abs(exponent) <= 22 {
            var v = Double(mantissa)
            v = exponent < 0 ? v / pow10[-exponent] : v * pow10[exponent]
            return negative ? -v : v
        }
        return Double(String(decoding: p, as: UTF8.self))
    }
}

/// A read position in one line.
private struct Cursor {
    let p: UnsafeRawBufferPointer
    var i = 0

    init(_ p: UnsafeRawBufferPointer) { self.p = p }

    var peek: UInt8? { i < p.count ? p[i] : nil }

    /// Spaces and tabs; how many.
    mutating func skipBlanks() -> Int {
        let start = i
        while i < p.count, p[i] == 0x20 || p[i] == 0x09 { i += 1 }
        return i - start
    }

    mutating func skip(_ b: UInt8) -> Bool {
        guard i < p.count, p[i] == b else { return false }
        i += 1
        return true
    }

    func matches(_ s: String) -> Bool {
        s.utf8.count <= p.count - i && zip(p[i...], s.utf8).allSatisfy { $0 == $1 }
    }

    func equals(_ r: Range<Int>, _ s: String) -> Bool { r.count == s.utf8.count && zip(p[r], s.utf8).allSatisfy { $0 == $1 } }

    func text(_ r: Range<Int>) -> String { String(decoding: UnsafeRawBufferPointer(rebasing: p[r.prefix(64)]), as: UTF8.self) }

    /// Up to the next space or tab.
    mutating func token() -> Range<Int> {
        let start = i
        while i < p.count, p[i] != 0x20, p[i] != 0x09 { i += 1 }
        return start..<i
    }

    /// Letters only (a comment's keyword, a type).
    mutating func word() -> Range<Int> {
        let start = i
        while i < p.count, (p[i] | 0x20) &- 97 < 26 { i += 1 }
        return start..<i
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    mutating func metricName() -> Range<Int> { name(colon: true) }

    /// `[a-zA-Z_][a-zA-Z0-9_]*`.
    mutating func labelName() -> Range<Int> { name(colon: false) }

    private mutating func name(colon: Bool) -> Range<Int> {
        let start = i
        while i < p.count {
            let b = p[i]
            let letter = (b | 0x20) &- 97 < 26 || b == UInt8(ascii: "_") || colon && b == UInt8(ascii: ":")
            guard letter || i > start && b &- 48 <= 9 else { break }
            i += 1
        }
        return start..<i
    }
}

import Foundation

/// Why a stream line was dropped (`vigil_stream_rejected_total{reason=…}`).
public enum RejectReason: String, CaseIterable, Sendable {
    case notJSON = "not_json"
    case unknownShape = "unknown_shape"
    case badValue = "bad_value"
    case tooLong = "too_long"
    case badTimestamp = "bad_timestamp"
    case seriesCap = "series_cap"
    /// Stamped more than `max_clock_skew` ahead of the wall clock (`run` only).
    case futureTimestamp = "future_timestamp"
    /// Older than its series' last sample (counted per sample).
    case outOfOrder = "out_of_order"
}

/// One decoded observation: a series, its value (a string series holds a string id), and when.
public struct Sample: Sendable, Equatable {
    public var series: SeriesID
    public var value: Double
    public var time: Instant
}

/// Decodes one NDJSON line of SPEC §4 straight from bytes into samples.
///
/// Everything it needs per line lives in scratch buffers it reuses, and names, label sets and
/// series are interned in `Symbols`, so a line whose names were seen before allocates nothing.
/// Numbers are parsed by hand (locale-independent; exact for up to 15 significant digits, then
/// Swift's own C-locale parser).
public struct LineDecoder {
    public var maxLine: Int
    /// `run`'s clock rule (`EngineConfig.maxClockSkew`): a line stamped more than this ahead of
    /// its arrival is `future_timestamp`; one stamped ahead by less arrives at its arrival. nil:
    /// the stream's timestamps stand (`replay`, `test`).
    public var maxClockSkew: Int64?

    private var scratch: [UInt8] = []
    private var fields: [Field] = []
    private var pairs: [(name: Int32, value: Int32)] = []
    private var p = UnsafeRawBufferPointer(start: nil, count: 0)
    private var i = 0

    /// A key/value seen in the line, with strings as ranges into `scratch`.
    private struct Field {
        enum Group: UInt8 { case top, labels, metrics, details }
        enum Kind: UInt8 { case number, string, bool, skipped }
        var group: Group
        var kind: Kind
        var key: Range<Int>
        var known: Known = .other
        var string: Range<Int> = 0..<0
        var number: Double = 0
        var integer: Int64? = nil
    }

    private struct Failure: Error { let reason: RejectReason }

    /// The top-level keys SPEC §4 gives a meaning, recognised once while parsing.
    enum Known: UInt8 {
        case other, ts, timestamp, timestampNs, metric, metrics, value, labels, service, status, details, event, data
        case message, traceID, level
    }

    private static let knownKeys: [(String, Known)] = [
        ("ts", .ts), ("timestamp", .timestamp), ("timestamp_ns", .timestampNs), ("metric", .metric), ("metrics", .metrics),
        ("value", .value), ("labels", .labels), ("service", .service), ("status", .status), ("details", .details),
        ("event", .event), ("data", .data), ("message", .message), ("trace_id", .traceID), ("level", .level),
    ]

    private static let knownBytes: [([UInt8], Known)] = knownKeys.map { (Array($0.0.utf8), $0.1) }

    fileprivate static func classify(_ key: UnsafeRawBufferPointer) -> Known {
        guard key.count >= 2, key.count <= 12, let base = key.baseAddress else { return .other }
        for (word, known) in knownBytes where word.count == key.count && word[0] == key[0] {
            if memcmp(word, base, word.count) == 0 { return known }
        }
        return .other
    }

    /// Raw spans of the current line, for the series cache: the metric name and the labels object.
    private var metricRaw: Range<Int>?
    private var labelsRaw: Range<Int>?
    /// The metric name and labels object as spelled → series: a known series costs one hash.
    fileprivate var seriesCache = SeriesCache(capacity: 1024)
    /// The minute of the last stamp the fast path read.
    fileprivate var stampMemo = RFC3339Memo()

    public init(maxLine: Int = 1 << 20) {
        self.maxLine = maxLine
        scratch.reserveCapacity(4096)
        fields.reserveCapacity(64)
        pairs.reserveCapacity(16)
    }

    /// Decodes `line` (without its newline). Samples are appended to `out`; series over the cap are
    /// counted in `capped`. Returns the reason when the whole line is rejected. Nothing is interned
    /// for a sample that is dropped, nor for a line that yields none (a cardinality attack leaves
    /// no trace in memory).
    public mutating func decode(_ line: UnsafeRawBufferPointer, arrival: Instant, symbols: Symbols,
                                into out: inout [Sample], capped: inout Int) -> RejectReason? {
        if let sample = knownMetricLine(line, arrival: arrival) {
            out.append(sample)
            return nil
        }
        return decodeGeneral(line, arrival: arrival, symbols: symbols, into: &out, capped: &capped)
    }

    /// `decode` without the fast path: the general parser alone, which decides every line the
    /// fast path declines. The `decode` fuzz harness checks the two agree.
    public mutating func decodeGeneral(_ line: UnsafeRawBufferPointer, arrival: Instant, symbols: Symbols,
                                       into out: inout [Sample], capped: inout Int) -> RejectReason? {
        let mark = symbols.checkpoint
        let start = out.count
        let reason = decodeLine(line, arrival: arrival, symbols: symbols, into: &out, capped: &capped)
        if reason != nil || out.count == start {
            out.removeSubrange(start...)
            symbols.rollback(to: mark)
        }
        return reason
    }

    private mutating func decodeLine(_ line: UnsafeRawBufferPointer, arrival: Instant, symbols: Symbols,
                                     into out: inout [Sample], capped: inout Int) -> RejectReason? {
        guard line.count <= maxLine else { return .tooLong }
        scratch.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        metricRaw = nil
        labelsRaw = nil
        p = line
        i = 0
        do {
            skipSpace()
            guard i < p.count, p[i] == UInt8(ascii: "{") else { return .notJSON }
            try object(group: .top, prefix: nil, depth: 0)
            skipSpace()
            guard i == p.count else { return .notJSON }
            return try build(arrival: arrival, symbols: symbols, into: &out, capped: &capped)
        } catch let f as Failure {
            return f.reason
        } catch {
            return .notJSON
        }
    }

    /// The timestamp a line carries (`ts`, `timestamp`, `timestamp_ns`), without applying it; nil
    /// when it has none or does not parse. `replay` merges recordings by it.
    public mutating func peekTimestamp(_ line: UnsafeRawBufferPointer) -> Instant? {
        guard line.count <= maxLine else { return nil }
        scratch.removeAll(keepingCapacity: true)
        fields.removeAll(keepingCapacity: true)
        p = line
        i = 0
        skipSpace()
        guard i < p.count, p[i] == UInt8(ascii: "{") else { return nil }
        do {
            try object(group: .top, prefix: nil, depth: 0)
            return try stamped()
        } catch {
            return nil
        }
    }

    /// Convenience for tests and tools: decodes a String line.
    public mutating func decode(_ line: String, arrival: Instant, symbols: Symbols, into out: inout [Sample], capped: inout Int) -> RejectReason? {
        var line = line
        return line.withUTF8 { decode(UnsafeRawBufferPointer($0), arrival: arrival, symbols: symbols, into: &out, capped: &capped) }
    }

    // MARK: - JSON

    private mutating func skipSpace() {
        while i < p.count, p[i] == 0x20 || p[i] == 0x09 || p[i] == 0x0A || p[i] == 0x0D { i += 1 }
    }

    private static let maxDepth = 8

    /// Parses an object; members land in `fields` (nested objects flattened with dotted keys,
    /// except the known ones, which get their own group).
    private mutating func object(group: Field.Group, prefix: Range<Int>?, depth: Int) throws {
        guard depth < LineDecoder.maxDepth else { throw Failure(reason: .notJSON) }
        i += 1 // {
        skipSpace()
        if i < p.count, p[i] == UInt8(ascii: "}") { i += 1; return }
        while true {
            skipSpace()
            guard i < p.count, p[i] == UInt8(ascii: "\"") else { throw Failure(reason: .notJSON) }
            var key = try string()
            if let prefix {
                // Flattened key: prefix.key
                let start = scratch.count
                appendBytes(prefix)
                scratch.append(UInt8(ascii: "."))
                appendBytes(key)
                key = start..<scratch.count
            }
            skipSpace()
            guard i < p.count, p[i] == UInt8(ascii: ":") else { throw Failure(reason: .notJSON) }
            i += 1
            skipSpace()
            guard i < p.count else { throw Failure(reason: .notJSON) }
            let known: Known = group == .top && depth == 0 && prefix == nil ? bytes(key) { LineDecoder.classify($0) } : .other
            let valueStart = i
            let before = fields.count
            try value(key: key, group: group, depth: depth, known: known)
            if known != .other, fields.count > before { fields[before].known = known }
            if known == .metric, p[valueStart] == UInt8(ascii: "\""), i - 1 > valueStart { metricRaw = (valueStart + 1)..<(i - 1) }
            if known == .labels {
                guard p[valueStart] == UInt8(ascii: "{") else { throw Failure(reason: .badValue) }
                labelsRaw = valueStart..<i
            }
            skipSpace()
            guard i < p.count else { throw Failure(reason: .notJSON) }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "}") { i += 1; return }
            throw Failure(reason: .notJSON)
        }
    }

    private mutating func value(key: Range<Int>, group: Field.Group, depth: Int, known: Known = .other) throws {
        switch p[i] {
        case UInt8(ascii: "\""):
            let s = try string()
            fields.append(Field(group: group, kind: .string, key: key, string: s))
        case UInt8(ascii: "{"):
            if known == .labels {
                // Skimmed now, parsed only if the series cache misses (see `parseLabels`).
                try skipObject()
                return
            }
            let sub: Field.Group? = switch known {
            case .metrics: .metrics
            case .details: .details
            default: nil
            }
            if let sub {
                try object(group: sub, prefix: nil, depth: depth + 1)
            } else if known == .data {
                try object(group: .top, prefix: nil, depth: depth + 1) // `data` is flattened into the line
            } else {
                try object(group: group, prefix: key, depth: depth + 1)
            }
        case UInt8(ascii: "["):
            try skipArray(depth: depth + 1)
            fields.append(Field(group: group, kind: .skipped, key: key))
        case UInt8(ascii: "t"):
            try literal("true")
            fields.append(Field(group: group, kind: .bool, key: key, number: 1))
        case UInt8(ascii: "f"):
            try literal("false")
            fields.append(Field(group: group, kind: .bool, key: key, number: 0))
        case UInt8(ascii: "n"):
            try literal("null")
            fields.append(Field(group: group, kind: .skipped, key: key))
        default:
            let (number, integer) = try self.number()
            fields.append(Field(group: group, kind: .number, key: key, number: number, integer: integer))
        }
    }

    /// Skips an object, strings and all, checking only its brackets and quotes; its contents are
    /// validated when parsed (`parseLabels`), or were validated when their spelling was cached.
    private mutating func skipObject() throws {
        var depth = 0
        while i < p.count {
            let c = p[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                while i < p.count, p[i] != UInt8(ascii: "\"") {
                    if p[i] == UInt8(ascii: "\\") { i += 1 }
                    i += 1
                }
                guard i < p.count else { throw Failure(reason: .notJSON) }
            } else if c == UInt8(ascii: "{") || c == UInt8(ascii: "[") {
                depth += 1
                guard depth < LineDecoder.maxDepth else { throw Failure(reason: .notJSON) }
            } else if c == UInt8(ascii: "}") || c == UInt8(ascii: "]") {
                depth -= 1
                if depth == 0 { i += 1; return }
            }
            i += 1
        }
        throw Failure(reason: .notJSON)
    }

    /// Parses the skimmed `labels` object into fields.
    private mutating func parseLabels() throws {
        guard let raw = labelsRaw else { return }
        let saved = i
        i = raw.lowerBound
        try object(group: .labels, prefix: nil, depth: 1)
        guard i == raw.upperBound else { throw Failure(reason: .notJSON) }
        i = saved
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= p.count, memcmp(p.baseAddress! + i, word.utf8Start, n) == 0 else { throw Failure(reason: .notJSON) }
        i += n
    }

    private mutating func skipArray(depth: Int) throws {
        guard depth < LineDecoder.maxDepth else { throw Failure(reason: .notJSON) }
        i += 1
        skipSpace()
        if i < p.count, p[i] == UInt8(ascii: "]") { i += 1; return }
        let mark = fields.count
        let scratchMark = scratch.count
        while true {
            skipSpace()
            guard i < p.count else { throw Failure(reason: .notJSON) }
            switch p[i] {
            case UInt8(ascii: "["): try skipArray(depth: depth + 1)
            case UInt8(ascii: "{"): try object(group: .top, prefix: 0..<0, depth: depth + 1)
            default: try value(key: 0..<0, group: .top, depth: depth)
            }
            skipSpace()
            guard i < p.count else { throw Failure(reason: .notJSON) }
            if p[i] == UInt8(ascii: ",") { i += 1; continue }
            if p[i] == UInt8(ascii: "]") { i += 1; break }
            throw Failure(reason: .notJSON)
        }
        // Array contents are validated, not used.
        fields.removeSubrange(mark...)
        scratch.removeSubrange(scratchMark...)
    }

    /// Ranges from `inLine` up point into the line itself (strings without escapes are not copied);
    /// lower ones into `scratch`. Read them through `bytes`, copy them with `appendBytes`.
    private static let inLine = 1 << 40

    private func bytes<R>(_ r: Range<Int>, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        if r.lowerBound >= LineDecoder.inLine {
            return body(UnsafeRawBufferPointer(rebasing: p[(r.lowerBound - LineDecoder.inLine)..<(r.upperBound - LineDecoder.inLine)]))
        }
        return scratch.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[r])) }
    }

    private mutating func appendBytes(_ r: Range<Int>) {
        if r.lowerBound >= LineDecoder.inLine {
            scratch.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[(r.lowerBound - LineDecoder.inLine)..<(r.upperBound - LineDecoder.inLine)]))
        } else {
            scratch.append(contentsOf: scratch[r])
        }
    }

    /// Decodes a string; returns its range (see `inLine`). Rejects control characters and invalid UTF-8.
    private mutating func string() throws -> Range<Int> {
        i += 1
        let start = scratch.count
        // Fast path: plain ASCII up to the closing quote, copied at once.
        var j = i
        while j < p.count {
            let c = p[j]
            if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") || c < 0x20 || c >= 0x80 { break }
            j += 1
        }
        if j < p.count, p[j] == UInt8(ascii: "\"") {
            let raw = (LineDecoder.inLine + i)..<(LineDecoder.inLine + j) // read in place, no copy
            i = j + 1
            return raw
        }
        while true {
            guard i < p.count else { throw Failure(reason: .notJSON) }
            let c = p[i]
            if c == UInt8(ascii: "\"") { i += 1; break }
            if c < 0x20 { throw Failure(reason: .notJSON) }
            if c == UInt8(ascii: "\\") {
                guard i + 1 < p.count else { throw Failure(reason: .notJSON) }
                let e = p[i + 1]
                i += 2
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(e)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 1 < p.count, p[i] == UInt8(ascii: "\\"), p[i + 1] == UInt8(ascii: "u") else { throw Failure(reason: .notJSON) }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw Failure(reason: .notJSON) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw Failure(reason: .notJSON)
                    }
                    appendUTF8(scalar)
                default:
                    throw Failure(reason: .notJSON)
                }
                continue
            }
            if c < 0x80 {
                scratch.append(c)
                i += 1
            } else {
                let n = try utf8Length(at: i)
                for k in 0..<n { scratch.append(p[i + k]) }
                i += n
            }
        }
        return start..<scratch.count
    }

    /// Validates one UTF-8 sequence starting at `at` (RFC 3629: no overlongs, no surrogates).
    private func utf8Length(at: Int) throws -> Int {
        let c = p[at]
        let n: Int
        var lo: UInt8 = 0x80, hi: UInt8 = 0xBF
        switch c {
        case 0xC2...0xDF: n = 2
        case 0xE0: n = 3; lo = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: n = 3
        case 0xED: n = 3; hi = 0x9F
        case 0xF0: n = 4; lo = 0x90
        case 0xF1...0xF3: n = 4
        case 0xF4: n = 4; hi = 0x8F
        default: throw Failure(reason: .notJSON)
        }
        guard at + n <= p.count else { throw Failure(reason: .notJSON) }
        guard p[at + 1] >= lo, p[at + 1] <= hi else { throw Failure(reason: .notJSON) }
        for k in 2..<max(2, n) where p[at + k] & 0xC0 != 0x80 { throw Failure(reason: .notJSON) }
        return n
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= p.count else { throw Failure(reason: .notJSON) }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = p[i + k]
            let d: UInt8
            switch c {
            case 48...57: d = c - 48
            case 65...70: d = c - 55
            case 97...102: d = c - 87
            default: throw Failure(reason: .notJSON)
            }
            v = v << 4 | UInt32(d)
        }
        i += 4
        return v
    }

    private mutating func appendUTF8(_ s: UInt32) {
        switch s {
        case 0..<0x80: scratch.append(UInt8(s))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | s >> 6)); scratch.append(UInt8(0x80 | s & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | s >> 12)); scratch.append(UInt8(0x80 | s >> 6 & 0x3F)); scratch.append(UInt8(0x80 | s & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | s >> 18)); scratch.append(UInt8(0x80 | s >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | s >> 6 & 0x3F)); scratch.append(UInt8(0x80 | s & 0x3F))
        }
    }

    fileprivate static let pow10: [Double] = (0...22).map { Double("1e\($0)") ?? 1 }

    /// A JSON number: exact fast path for up to 15 significant digits and |exponent| ≤ 22, else
    /// Swift's C-locale parser. Also returns the exact integer when the number is one.
    private mutating func number() throws -> (Double, Int64?) {
        let start = i
        var negative = false
        if p[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        guard i < p.count, p[i] &- 48 <= 9 else { throw Failure(reason: .notJSON) }
        var mantissa: UInt64 = 0
        var digits = 0
        var exponent = 0
        if p[i] == 48 {
            i += 1
        } else {
            while i < p.count, p[i] &- 48 <= 9 {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(p[i] - 48); digits += 1 } else { exponent += 1 }
                i += 1
            }
        }
        var integral = true
        if i < p.count, p[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard i < p.count, p[i] &- 48 <= 9 else { throw Failure(reason: .notJSON) }
            while i < p.count, p[i] &- 48 <= 9 {
                if digits < 19 { mantissa = mantissa &* 10 &+ UInt64(p[i] - 48); digits += 1; exponent -= 1 }
                i += 1
            }
        }
        if i < p.count, p[i] == UInt8(ascii: "e") || p[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            var expNegative = false
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { expNegative = p[i] == UInt8(ascii: "-"); i += 1 }
            guard i < p.count, p[i] &- 48 <= 9 else { throw Failure(reason: .notJSON) }
            var e = 0
            while i < p.count, p[i] &- 48 <= 9 {
                if e < 100_000 { e = e * 10 + Int(p[i] - 48) }
                i += 1
            }
            exponent += expNegative ? -e : e
        }
        let integer: Int64? = integral && exponent == 0 && mantissa <= UInt64(Int64.max) ? (negative ? -Int64(mantissa) : Int64(mantissa)) : nil
        if digits <= 15, abs(exponent) <= 22 {
            var v = Double(mantissa)
            v = exponent < 0 ? v / LineDecoder.pow10[-exponent] : v * LineDecoder.pow10[exponent]
            return (negative ? -v : v, integer)
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: p[start..<i]), as: UTF8.self)
        guard let v = Double(text) else { throw Failure(reason: .notJSON) }
        return (v, integer)
    }

    // MARK: - Shapes

    private static let kServiceStatus = Array("service_status".utf8), kHealthCheck = Array("health_check".utf8)
    private static let kCheck = Array("check".utf8), kLog = Array("log".utf8)
    private static let statuses = ["healthy", "degraded", "down"].map { Array($0.utf8) }

    private func equalKeys(_ a: Range<Int>, _ b: Range<Int>) -> Bool {
        a.count == b.count && bytes(a) { x in bytes(b) { y in x.elementsEqual(y) } }
    }

    private func top(_ known: Known) -> Int? {
        for k in fields.indices where fields[k].known == known { return k }
        return nil
    }

    /// The series of this metric line if its exact spelling was seen before.
    private mutating func cachedSeries() -> SeriesID? {
        guard let m = metricRaw else { return nil }
        let labels = labelsRaw.map { UnsafeRawBufferPointer(rebasing: p[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        return seriesCache.lookup(metric: UnsafeRawBufferPointer(rebasing: p[m]), labels: labels)
    }

    private mutating func cacheSeries(_ series: SeriesID, symbols: Symbols) {
        // Bounded: spellings beyond four per allowed series are not cached (they still decode).
        guard let m = metricRaw, seriesCache.count < 4 * symbols.seriesCount + 1024 else { return }
        let labels = labelsRaw.map { UnsafeRawBufferPointer(rebasing: p[$0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        seriesCache.insert(metric: UnsafeRawBufferPointer(rebasing: p[m]), labels: labels, series: series)
    }

    private func withScratch<R>(_ r: Range<Int>, _ body: (UnsafeRawBufferPointer) -> R) -> R { bytes(r, body) }

    private mutating func build(arrival: Instant, symbols: Symbols, into out: inout [Sample], capped: inout Int) throws -> RejectReason? {
        // Duplicate top-level keys make a line ambiguous: reject it.
        var seen: UInt32 = 0
        var others = 0
        for f in fields where f.group == .top {
            if f.known == .other { others += 1; continue }
            let bit: UInt32 = 1 << f.known.rawValue
            if seen & bit != 0 { return .badValue }
            seen |= bit
        }
        if others > 1 {
            for a in fields.indices where fields[a].group == .top && fields[a].known == .other {
                for b in fields.indices where b > a && fields[b].group == .top && fields[b].known == .other && equalKeys(fields[a].key, fields[b].key) {
                    return .badValue
                }
            }
        }
        let time = try timestamp(arrival)
        let start = out.count
        if let m = top(.metric) {
            guard fields[m].kind == .string, let v = top(.value) else { return .unknownShape }
            guard fields[v].kind == .number || fields[v].kind == .bool, fields[v].number.isFinite else { return .badValue }
            if let series = cachedSeries() {
                out.append(Sample(series: series, value: fields[v].number, time: time))
                return nil
            }
            let labels = try labelSet(symbols, extra: nil)
            let before = out.count
            try emit(fields[m].string, kind: .number, labels: labels, value: fields[v].number, time: time, symbols, &out, &capped)
            if out.count > before { cacheSeries(out[before].series, symbols: symbols) }
        } else if fields.contains(where: { $0.group == .metrics }) {
            let labels = try labelSet(symbols, extra: nil)
            for f in fields where f.group == .metrics {
                guard f.kind == .number, f.number.isFinite else { out.removeSubrange(start...); return .badValue }
                try emit(f.key, kind: .number, labels: labels, value: f.number, time: time, symbols, &out, &capped)
            }
        } else if let e = top(.event) {
            guard fields[e].kind == .string, !fields[e].string.isEmpty else { return .badValue }
            try event(name: fields[e].string, time: time, symbols, &out, &capped)
        } else if let s = top(.service), let st = top(.status) {
            guard fields[s].kind == .string, fields[st].kind == .string,
                  bytes(fields[st].string, { status in LineDecoder.statuses.contains { status.elementsEqual($0) } }) else { return .badValue }
            try health(service: fields[s].string, status: fields[st].string, time: time, symbols, &out, &capped)
        } else if top(.service) != nil, top(.message) != nil {
            // A structured log line of the seed's format: the event `log{service, level}`.
            let name = scratch.count
            scratch.append(contentsOf: LineDecoder.kLog)
            try event(name: name..<scratch.count, time: time, symbols, &out, &capped)
        } else {
            return .unknownShape
        }
        return nil
    }

    /// The line's time: its stamp, between 1970 and 2200 (`Instant.isAccepted`), held to
    /// `maxClockSkew` when set; else its arrival.
    private func timestamp(_ arrival: Instant) throws -> Instant {
        guard let stamp = try stamped() else { return arrival }
        guard let skew = maxClockSkew else { return stamp }
        if stamp.nanoseconds > arrival.nanoseconds.addingSaturated(skew) { throw Failure(reason: .futureTimestamp) }
        return min(stamp, arrival)
    }

    private func stamped() throws -> Instant? {
        if let t = top(.ts) ?? top(.timestamp) {
            guard fields[t].kind == .string, let v = withScratch(fields[t].string, { Instant.parseRFC3339($0) }), v.isAccepted else {
                throw Failure(reason: .badTimestamp)
            }
            return v
        }
        if let t = top(.timestampNs) {
            guard fields[t].kind == .number, let ns = fields[t].integer, Instant(nanoseconds: ns).isAccepted else { throw Failure(reason: .badTimestamp) }
            return Instant(nanoseconds: ns)
        }
        return nil
    }

    /// The label set of the `labels` object plus an optional extra pair.
    private mutating func labelSet(_ symbols: Symbols, extra: (Int32, Int32)?) throws -> Int32 {
        try parseLabels()
        pairs.removeAll(keepingCapacity: true)
        for f in fields where f.group == .labels {
            guard f.kind == .string, isName(f.key) else { throw Failure(reason: .badValue) }
            pairs.append((withScratch(f.key) { symbols.strings.intern($0) }, withScratch(f.string) { symbols.strings.intern($0) }))
        }
        if let extra { pairs.append(extra) }
        return try internPairs(symbols)
    }

    private mutating func internPairs(_ symbols: Symbols) throws -> Int32 {
        // Insertion sort: label sets are small.
        if pairs.count > 1 {
            for a in 1..<pairs.count {
                var b = a
                while b > 0, pairs[b - 1].name > pairs[b].name { pairs.swapAt(b - 1, b); b -= 1 }
            }
            for a in 1..<pairs.count where pairs[a].name == pairs[a - 1].name { throw Failure(reason: .badValue) }
        }
        return pairs.withUnsafeBufferPointer { symbols.internLabelSet($0) }
    }

    /// Metric and label names: `[A-Za-z_][A-Za-z0-9_.:]*` (dots come from flattened event fields).
    private func isName(_ r: Range<Int>) -> Bool {
        bytes(r) { b in
            guard let first = b.first, !(first >= 48 && first <= 57) else { return false }
            for c in b {
                guard (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c == 95 || c == 46 || c == 58 else { return false }
            }
            return true
        }
    }

    /// Appends the sample of `name{labels}`; a series over a cap is counted in `capped`, and what
    /// was interned for it alone (since `mark`, by default its metric name) is forgotten.
    private func emit(_ name: Range<Int>, kind: SeriesKind, labels: Int32, value: Double, time: Instant,
                      _ symbols: Symbols, _ out: inout [Sample], _ capped: inout Int, since mark: Symbols.Checkpoint? = nil) throws {
        let mark = mark ?? symbols.checkpoint
        guard isName(name), let metric = withScratch(name, { symbols.metric($0, kind: kind) }) else { throw Failure(reason: .badValue) }
        guard let series = symbols.series(metric: metric, labelSet: labels) else {
            capped += 1
            symbols.rollback(to: mark)
            return
        }
        out.append(Sample(series: series, value: value, time: time))
    }

    private mutating func health(service: Range<Int>, status: Range<Int>, time: Instant, _ symbols: Symbols,
                                 _ out: inout [Sample], _ capped: inout Int) throws {
        let serviceName = symbols.strings.intern("service")
        let serviceValue = withScratch(service) { symbols.strings.intern($0) }
        pairs.removeAll(keepingCapacity: true)
        pairs.append((serviceName, serviceValue))
        let labels = try internPairs(symbols)
        let statusID = withScratch(status) { symbols.strings.intern($0) }
        let nameRange = appendScratch(LineDecoder.kServiceStatus)
        try emit(nameRange, kind: .string, labels: labels, value: Double(statusID), time: time, symbols, &out, &capped)
        let checkName = symbols.strings.intern("check")
        let healthRange = appendScratch(LineDecoder.kHealthCheck)
        for f in fields where f.group == .details && f.kind == .bool {
            let mark = symbols.checkpoint
            pairs.removeAll(keepingCapacity: true)
            pairs.append((serviceName, serviceValue))
            pairs.append((checkName, withScratch(f.key) { symbols.strings.intern($0) }))
            let l = try internPairs(symbols)
            try emit(healthRange, kind: .number, labels: l, value: f.number, time: time, symbols, &out, &capped, since: mark)
        }
    }


    private mutating func event(name: Range<Int>, time: Instant, _ symbols: Symbols, _ out: inout [Sample], _ capped: inout Int) throws {
        pairs.removeAll(keepingCapacity: true)
        let isLog = top(.event) == nil
        for f in fields where f.group == .top && f.kind == .string {
            switch f.known {
            case .message, .traceID, .ts, .timestamp, .event, .timestampNs: continue
            case .level where !isLog: continue
            default: break
            }
            guard isName(f.key) else { throw Failure(reason: .badValue) }
            pairs.append((withScratch(f.key) { symbols.strings.intern($0) }, withScratch(f.string) { symbols.strings.intern($0) }))
        }
        let labels = try internPairs(symbols)
        try emit(name, kind: .event, labels: labels, value: 1, time: time, symbols, &out, &capped)
        for f in fields where f.group == .top && (f.kind == .number || f.kind == .bool) {
            if f.known == .timestampNs { continue }
            guard f.number.isFinite else { throw Failure(reason: .badValue) }
            let start = scratch.count
            appendBytes(name)
            scratch.append(UInt8(ascii: "."))
            appendBytes(f.key)
            try emit(start..<scratch.count, kind: .number, labels: labels, value: f.number, time: time, symbols, &out, &capped)
        }
    }

    private mutating func appendScratch(_ bytes: [UInt8]) -> Range<Int> {
        let start = scratch.count
        scratch.append(contentsOf: bytes)
        return start..<scratch.count
    }
}

// MARK: - Fast path

extension LineDecoder {
    /// The sample of the common metric line, `{"ts":"…","metric":"…","labels":{…},"value":…}`
    /// (keys in any order; `ts`, `timestamp`, `timestamp_ns` or no stamp; `labels` optional),
    /// when this spelling of its metric and labels was decoded before: one pass, strings eight
    /// bytes at a time, one lookup in the series cache, nothing interned.
    ///
    /// nil for anything else (another key, a repeated one, an escape or a byte ≥ 0x80 in a key,
    /// the metric or the stamp, a `}` inside the labels, a bool value, a number the general
    /// parser must read, a stamp it rejects, a spelling not yet cached): the general path then
    /// decides. A line
    /// either path accepts gets the same sample from both.
    mutating func knownMetricLine(_ line: UnsafeRawBufferPointer, arrival: Instant) -> Sample? {
        guard line.count <= maxLine, let base = line.baseAddress else { return nil }
        var s = PlainScanner(p: LineBytes(base: base, count: line.count))
        guard s.take(0x7B) else { return nil } // {
        var metric: (Range<Int>, UInt64)?, labels: (Range<Int>, UInt64)?, value: Double?, stamp: Instant?
        var stamps = 0
        repeat {
            guard let key = s.key() else { return nil }
            switch key {
            case .metric:
                guard metric == nil, let m = s.plainString() else { return nil }
                metric = m
            case .labels:
                guard labels == nil, let l = s.labelsExtent() else { return nil }
                labels = l
            case .value:
                guard value == nil, let v = s.decimal() else { return nil }
                value = v
            case .ts, .timestamp:
                guard let v = s.stamp(memo: &stampMemo), v.isAccepted else { return nil }
                stamp = v
                stamps += 1
            case .timestampNs:
                guard let ns = s.integer(), Instant(nanoseconds: ns).isAccepted else { return nil }
                stamp = Instant(nanoseconds: ns)
                stamps += 1
            default:
                return nil
            }
        } while s.take(0x2C) // ,
        guard s.take(0x7D), s.atEnd, stamps <= 1, let metric, let value else { return nil } // }
        var time = arrival
        if let stamp {
            if let skew = maxClockSkew {
                guard stamp.nanoseconds <= arrival.nanoseconds.addingSaturated(skew) else { return nil }
                time = min(stamp, arrival)
            } else {
                time = stamp
            }
        }
        let metricBytes = UnsafeRawBufferPointer(rebasing: line[metric.0])
        let labelBytes = labels.map { UnsafeRawBufferPointer(rebasing: line[$0.0]) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        let hash = SeriesCache.hash(metric: metric.1, labels: labels?.1 ?? ByteInterner.Mixer.hash(labelBytes))
        guard let series = seriesCache.lookup(metric: metricBytes, labels: labelBytes, hash: hash) else { return nil }
        return Sample(series: series, value: value, time: time)
    }
}

/// The fast path's reader: JSON whitespace, plain strings, a labels object's extent, and
/// decimals. Every method returns nil (or false) rather than decide anything hard.
private struct PlainScanner {
    let p: LineBytes
    var i = 0

    var atEnd: Bool {
        mutating get { space(); return i == p.count }
    }

    /// Skips JSON whitespace; most calls meet a byte above 0x20 and return after one compare.
    @inline(__always)
    mutating func space() {
        while i < p.count {
            let c = p[i]
            guard c <= 0x20, c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D else { return }
            i += 1
        }
    }

    /// Takes `byte` after any whitespace.
    mutating func take(_ byte: UInt8) -> Bool { takeInline(byte) }

    /// `take`, inlined where a string opens (the call costs as much as the take).
    @inline(__always)
    mutating func takeInline(_ byte: UInt8) -> Bool {
        space()
        guard i < p.count, p[i] == byte else { return false }
        i += 1
        return true
    }

    /// The bytes of each of a word's eight that ends a plain string: `"`, `\`, a control
    /// character, or one ≥ 0x80 (the high bit of each such byte; exact for the lowest one, which
    /// is the one used: a borrow can only flag bytes above a true one).
    @inline(__always)
    static func stops(_ w: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = w ^ (ones &* 0x22), backslash = w ^ (ones &* 0x5C)
        return ((quote &- ones) & ~quote | (backslash &- ones) & ~backslash | (w &- ones &* 0x20) & ~w | w) & (ones &* 0x80)
    }

    /// The contents of a string of printable ASCII without escapes, after any whitespace, and
    /// their `ByteInterner.Mixer` hash, mixed from the words the search loads anyway.
    mutating func plainString() -> (Range<Int>, UInt64)? {
        guard takeInline(0x22) else { return nil }
        let start = i
        var j = i
        var mixer = ByteInterner.Mixer()
        while j + 8 <= p.count {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: j, as: UInt64.self))
            let stop = PlainScanner.stops(w)
            if stop != 0 {
                let used = stop.trailingZeroBitCount >> 3 // bytes of this word in the string
                j += used
                guard p[j] == 0x22 else { return nil }
                i = j + 1
                let tail: UInt64 = w & ((1 << (UInt64(used) << 3)) &- 1)
                return (start..<j, mixer.finish(tail: tail, count: j - start))
            }
            mixer.mixWord(w)
            j += 8
        }
        while j < p.count {
            let c = p[j]
            if c == 0x22 {
                i = j + 1
                return (start..<j, ByteInterner.Mixer.hash(p.buffer(0..<p.count), start..<j))
            }
            guard c >= 0x20, c < 0x80, c != 0x5C else { return nil }
            j += 1
        }
        return nil
    }

    /// A quoted RFC 3339 stamp, after any whitespace, parsed in place (no byte of the syntax
    /// is a quote or a backslash, so the string ends right after it).
    mutating func stamp(memo: inout RFC3339Memo) -> Instant? {
        guard takeInline(0x22), let (t, end) = Instant.parseRFC3339(prefixOf: p.buffer(i..<p.count), memo: &memo),
              i + end < p.count, p[i + end] == 0x22 else { return nil }
        i += end + 1
        return t
    }

    /// The extent of a `labels` object, braces included: up to the first `}` after its `{`,
    /// and its `ByteInterner.Mixer` hash, mixed from the words the search loads anyway.
    /// Its contents are not checked here: the series cache compares the bytes with spellings
    /// the general parser validated, and bytes equal to a valid object are that object. When
    /// that first `}` is inside a string or closes a nested object, the bytes up to it are no
    /// valid object, so no cached spelling equals them and the general path decides.
    mutating func labelsExtent() -> (Range<Int>, UInt64)? {
        space()
        guard i < p.count, p[i] == 0x7B else { return nil }
        let start = i
        var j = i
        var mixer = ByteInterner.Mixer()
        let ones: UInt64 = 0x0101_0101_0101_0101
        while j + 8 <= p.count {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: j, as: UInt64.self))
            let c = w ^ (ones &* 0x7D)
            let found = (c &- ones) & ~c & (ones &* 0x80) // exact for the lowest flag
            if found != 0 {
                let used = (found.trailingZeroBitCount >> 3) + 1 // bytes of this word in the object
                i = j + used
                if used == 8 {
                    mixer.mixWord(w)
                    return (start..<i, mixer.finish(tail: 0, count: i - start))
                }
                return (start..<i, mixer.finish(tail: w & ((1 << (UInt64(used) << 3)) - 1), count: i - start))
            }
            mixer.mixWord(w)
            j += 8
        }
        while j < p.count {
            if p[j] == 0x7D {
                i = j + 1
                return (start..<i, ByteInterner.Mixer.hash(p.buffer(start..<i)))
            }
            j += 1
        }
        return nil
    }

    /// A JSON number of at most 15 digits and no exponent, read exactly as the general parser
    /// reads it (the mantissa over a power of ten). The index lives in a local while it runs.
    mutating func decimal() -> Double? {
        space()
        let n = p.count
        var j = i
        var negative = false
        if j < n, p[j] == 0x2D { negative = true; j += 1 }
        var mantissa: UInt64 = 0
        guard j < n, p[j] &- 48 <= 9 else { return nil }
        let first = j
        if p[j] == 48 {
            j += 1
        } else {
            while j < n, case let d = p[j] &- 48, d <= 9 { mantissa = mantissa &* 10 &+ UInt64(d); j += 1 }
        }
        var digits = p[first] == 48 ? 0 : j - first, scale = 0
        if j < n, p[j] == 0x2E {
            j += 1
            let fraction = j
            while j < n, case let d = p[j] &- 48, d <= 9 { mantissa = mantissa &* 10 &+ UInt64(d); j += 1 }
            scale = j - fraction
            guard scale > 0 else { return nil }
            digits += scale
        }
        guard digits <= 15, j == n || (p[j] | 0x20) != 0x65 else { return nil } // e E
        i = j
        let v = scale == 0 ? Double(mantissa) : Double(mantissa) / LineDecoder.pow10[scale]
        return negative ? -v : v
    }

    /// A non-negative or negative integer of at most 18 digits (`timestamp_ns`).
    mutating func integer() -> Int64? {
        space()
        var negative = false
        if i < p.count, p[i] == 0x2D { negative = true; i += 1 }
        var v: Int64 = 0, digits = 0
        while i < p.count, p[i] &- 48 <= 9 { v = v &* 10 &+ Int64(p[i] &- 48); digits += 1; i += 1 }
        guard digits >= 1, digits <= 18, digits == 1 || p[i - digits] != 48 else { return nil }
        guard i == p.count || (p[i] != 0x2E && (p[i] | 0x20) != 0x65) else { return nil }
        return negative ? -v : v
    }

    /// A member's key and its colon. The usual four, spelled plainly, are one load and a compare.
    mutating func key() -> LineDecoder.Known? {
        space()
        if i + 9 <= p.count {
            let w = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self))
            if w & 0xFF_FFFF_FFFF == 0x3A_2273_7422 { i += 5; return .ts } // "ts":
            if w == 0x3A22_6575_6C61_7622 { i += 8; return .value } // "value":
            if p[i + 8] == 0x3A {
                if w == 0x2263_6972_7465_6D22 { i += 9; return .metric } // "metric":
                if w == 0x2273_6C65_6261_6C22 { i += 9; return .labels } // "labels":
            }
        }
        guard let (r, _) = plainString(), take(0x3A) else { return nil }
        return LineDecoder.classify(p.buffer(r))
    }
}

/// A line's bytes by a base address that is never nil, so that no check the scanner makes
/// carries the nil test an `UnsafeRawBufferPointer`'s count and subscript do.
private struct LineBytes {
    let base: UnsafeRawPointer
    let count: Int

    @inline(__always) subscript(_ k: Int) -> UInt8 { base.load(fromByteOffset: k, as: UInt8.self) }

    @inline(__always) func loadUnaligned<T: BitwiseCopyable>(fromByteOffset k: Int, as: T.Type) -> T {
        base.loadUnaligned(fromByteOffset: k, as: T.self)
    }

    func buffer(_ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base + r.lowerBound, count: r.count) }
}

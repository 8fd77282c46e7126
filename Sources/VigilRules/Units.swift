/// What a unit measures; only units of one dimension convert into each other.
public enum Dimension: String, Sendable {
    case time, fraction, money, bytes
}

/// A unit a literal or a metric can carry, with its factor to the dimension's base
/// (seconds, ratio, cents, bytes).
public struct Unit: Hashable, Sendable, CustomStringConvertible {
    public let name: String
    public let dimension: Dimension
    public let factor: Double

    public var description: String { name }

    /// Converts `value` in this unit into `other` (same dimension).
    public func convert(_ value: Double, to other: Unit) -> Double { value * factor / other.factor }

    public static let milliseconds = Unit(name: "ms", dimension: .time, factor: 0.001)
    public static let seconds = Unit(name: "s", dimension: .time, factor: 1)
    public static let minutes = Unit(name: "min", dimension: .time, factor: 60)
    public static let hours = Unit(name: "h", dimension: .time, factor: 3600)
    public static let days = Unit(name: "d", dimension: .time, factor: 86_400)
    public static let percent = Unit(name: "percent", dimension: .fraction, factor: 0.01)
    public static let ratio = Unit(name: "ratio", dimension: .fraction, factor: 1)
    public static let cents = Unit(name: "cents", dimension: .money, factor: 1)
    public static let dollars = Unit(name: "dollars", dimension: .money, factor: 100)
    public static let bytes = Unit(name: "bytes", dimension: .bytes, factor: 1)
    public static let kilobytes = Unit(name: "kb", dimension: .bytes, factor: 1024)
    public static let megabytes = Unit(name: "mb", dimension: .bytes, factor: 1024 * 1024)
    public static let gigabytes = Unit(name: "gb", dimension: .bytes, factor: 1024 * 1024 * 1024)

    /// Every spelling vigil accepts, literal suffix or `metric … unit` name.
    public static let spellings: [String: Unit] = {
        var table: [String: Unit] = [:]
        func add(_ unit: Unit, _ names: String...) { for n in names { table[n] = unit } }
        add(.milliseconds, "ms", "msec", "millisecond", "milliseconds")
        add(.seconds, "s", "sec", "secs", "second", "seconds")
        add(.minutes, "m", "min", "mins", "minute", "minutes")
        add(.hours, "h", "hr", "hrs", "hour", "hours")
        add(.days, "d", "day", "days")
        add(.percent, "%", "percent")
        add(.ratio, "ratio")
        add(.cents, "cent", "cents")
        add(.dollars, "dollar", "dollars")
        add(.bytes, "b", "byte", "bytes")
        add(.kilobytes, "kb")
        add(.megabytes, "mb")
        add(.gigabytes, "gb")
        return table
    }()

    /// The unit a metric name implies by its suffix (`_ms`, `_seconds`, …), if any.
    public static func implied(byMetricName name: String) -> Unit? {
        let suffixes: [(String, Unit)] = [
            ("_ms", .milliseconds), ("_seconds", .seconds), ("_cents", .cents), ("_percent", .percent),
            ("_ratio", .ratio), ("_bytes", .bytes), ("_mb", .megabytes),
        ]
        return suffixes.first { name.hasSuffix($0.0) }?.1
    }
}

/// A number as written, with its optional unit: `2000ms`, `0.7`, `50_000`, `85%`, `1h30m`.
public struct Quantity: Sendable, Hashable {
    /// The value in `unit` (compound durations are summed into seconds).
    public let value: Double
    public let unit: Unit?

    /// The value converted into `target`, or as written when either side has no unit.
    public func value(in target: Unit?) -> Double {
        guard let unit, let target, unit.dimension == target.dimension else { return value }
        return unit.convert(value, to: target)
    }

    /// The longest duration vigil takes from outside (rules, config, API, command line, test
    /// files): 3650 days. Stream times end at 2200 (`Instant.latestAccepted`), so an instant plus
    /// several such durations stays far inside Int64 nanoseconds (which end in 2262).
    public static let longestDuration: Int64 = 3650 * 86_400 * 1_000_000_000
    /// How the limit reads in an error message.
    public static let longestDurationText = "3650d"

    /// Nanoseconds, for a time quantity within ±`longestDuration`.
    public var nanoseconds: Int64? {
        guard let unit, unit.dimension == .time else { return nil }
        let ns = (value * unit.factor * 1e9).rounded()
        guard ns.isFinite, abs(ns) <= Double(Quantity.longestDuration) else { return nil }
        return Int64(ns)
    }

    /// A time quantity too long to take (beyond `longestDuration`).
    public var isTooLongADuration: Bool {
        guard let unit, unit.dimension == .time else { return false }
        let ns = value * unit.factor * 1e9
        return !ns.isFinite || abs(ns) > Double(Quantity.longestDuration)
    }

    /// A positive duration from outside (`"2h"` in an API body or on the command line), or the
    /// reason in words, naming `field` and the limit.
    public static func positiveDuration(_ text: String, field: String, example: String) -> Result<Int64, QuantityError> {
        switch duration(text) {
        case .success(let ns) where ns > 0: .success(ns)
        case .success: .failure(QuantityError(message: "`\(field)` must be longer than 0"))
        case .failure(.notADuration): .failure(QuantityError(message: "`\(field)` must be a duration like \(example)"))
        case .failure(.tooLong): .failure(QuantityError(message: "`\(field)` is longer than the longest duration vigil takes (\(longestDurationText))"))
        }
    }

    /// Why text from outside is not a duration vigil takes.
    public enum DurationProblem: Error, Sendable {
        case notADuration
        case tooLong
    }

    /// A duration from outside (`"2h"`, `"-5s"`), within ±`longestDuration`; each caller words
    /// the problem for its field.
    public static func duration(_ text: String) -> Result<Int64, DurationProblem> {
        guard case .success(let q) = parse(text), q.unit?.dimension == .time else { return .failure(.notADuration) }
        guard let ns = q.nanoseconds else { return .failure(.tooLong) }
        return .success(ns)
    }

    /// Parses a number token's text; the error says what is wrong in words.
    public static func parse(_ text: String) -> Result<Quantity, QuantityError> {
        let bytes = Array(text.utf8)
        var i = 0
        var parts: [(Double, Unit?, String)] = []
        while i < bytes.count {
            guard let (number, next) = scanNumber(bytes, from: i) else {
                return .failure(QuantityError(message: "malformed number `\(text)`"))
            }
            i = next
            let unitStart = i
            while i < bytes.count, !isDigit(bytes[i]) { i += 1 }
            let unitText = String(decoding: bytes[unitStart..<i], as: UTF8.self)
            if unitText.isEmpty {
                parts.append((number, nil, unitText))
            } else if let unit = Unit.spellings[unitText.lowercased()] {
                parts.append((number, unit, unitText))
            } else {
                return .failure(QuantityError(message: "unknown unit `\(unitText)` in `\(text)`",
                                              suggestion: closest(unitText, in: Array(Unit.spellings.keys))))
            }
        }
        guard let first = parts.first else { return .failure(QuantityError(message: "malformed number `\(text)`")) }
        if parts.count == 1 { return .success(Quantity(value: first.0, unit: first.1)) }
        // A compound like 1h30m: every part needs a time unit, largest first.
        var seconds = 0.0
        var previousFactor = Double.infinity
        for (value, unit, spelling) in parts {
            guard let unit, unit.dimension == .time else {
                return .failure(QuantityError(message: "`\(text)`: only durations can be compound, like `1h30m`"))
            }
            guard unit.factor < previousFactor else {
                return .failure(QuantityError(message: "`\(text)`: units of a compound duration go from largest to smallest (`\(spelling)` is out of order)"))
            }
            previousFactor = unit.factor
            seconds += value * unit.factor
        }
        return .success(Quantity(value: seconds, unit: .seconds))
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    /// `digits[_digits][.digits][e[+-]digits]`; underscores only between digits.
    private static func scanNumber(_ b: [UInt8], from start: Int) -> (Double, Int)? {
        var i = start
        var digits: [UInt8] = []
        func scanDigits() -> Bool {
            guard i < b.count, isDigit(b[i]) else { return false }
            while i < b.count {
                if isDigit(b[i]) { digits.append(b[i]); i += 1 }
                else if b[i] == UInt8(ascii: "_"), i + 1 < b.count, isDigit(b[i + 1]), i > start, isDigit(b[i - 1]) { i += 1 }
                else { break }
            }
            return true
        }
        guard scanDigits() else { return nil }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            digits.append(b[i]); i += 1
            guard scanDigits() else { return nil }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            var j = i + 1
            if j < b.count, b[j] == UInt8(ascii: "+") || b[j] == UInt8(ascii: "-") { j += 1 }
            if j < b.count, isDigit(b[j]) {
                digits.append(UInt8(ascii: "e"))
                digits.append(contentsOf: b[(i + 1)..<j])
                i = j
                _ = scanDigits()
            }
        }
        guard let value = Double(String(decoding: digits, as: UTF8.self)), value.isFinite else { return nil }
        return (value, i)
    }
}

/// Why a number token does not read as a quantity.
public struct QuantityError: Error, Sendable {
    public let message: String
    public var suggestion: String? = nil
}

/// The candidate nearest to `word` by edit distance, when it is close enough to be a typo.
public func closest(_ word: String, in candidates: [String]) -> String? {
    let w = Array(word.lowercased())
    var best: (String, Int)?
    for c in candidates.sorted() {
        let d = editDistance(w, Array(c.lowercased()))
        guard d <= max(1, w.count / 3) else { continue }
        if let current = best, current.1 <= d { continue }
        best = (c, d)
    }
    return best?.0
}

/// Optimal string alignment distance: insertions, deletions, substitutions and adjacent
/// transpositions (`alret` → `alert`) each cost one.
private func editDistance(_ a: [Character], _ b: [Character]) -> Int {
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var d = Array(repeating: Array(repeating: 0, count: b.count + 1), count: a.count + 1)
    for i in 0...a.count { d[i][0] = i }
    for j in 0...b.count { d[0][j] = j }
    for i in 1...a.count {
        for j in 1...b.count {
            let cost = a[i - 1] == b[j - 1] ? 0 : 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1, j > 1, a[i - 1] == b[j - 2], a[i - 2] == b[j - 1] {
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
            }
        }
    }
    return d[a.count][b.count]
}

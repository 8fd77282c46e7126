/// A point in time: nanoseconds since the Unix epoch. The engine takes time as a value and never
/// reads a clock; `run` passes the wall clock, `replay` and `test` the stream's timestamps.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible, Codable {
    public var nanoseconds: Int64

    public init(from decoder: any Decoder) throws { nanoseconds = try decoder.singleValueContainer().decode(Int64.self) }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(nanoseconds)
    }

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }
    public init(seconds: Double) { nanoseconds = Int64((seconds * 1e9).rounded()) }

    public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
    /// Saturating: an instant plus a duration never wraps past the ends of Int64 nanoseconds.
    public static func + (a: Instant, ns: Int64) -> Instant { Instant(nanoseconds: a.nanoseconds.addingSaturated(ns)) }
    /// Saturating, like `+`.
    public static func - (a: Instant, b: Instant) -> Int64 { a.nanoseconds.subtractingSaturated(b.nanoseconds) }

    /// The earliest time a stream line may carry: 1970-01-01T00:00:00Z.
    public static let earliestAccepted = Instant(nanoseconds: 0)
    /// The latest time a stream line may carry: 2200-01-01T00:00:00Z. Int64 nanoseconds end in
    /// April 2262; the 62 years between leave room for every deadline vigil adds to a time
    /// from outside (durations from outside are at most 3650 days, `Quantity.longestDuration`).
    public static let latestAccepted = Instant(nanoseconds: 7_258_118_400 * 1_000_000_000)

    /// Whether a time from outside is one vigil takes.
    public var isAccepted: Bool { self >= Instant.earliestAccepted && self <= Instant.latestAccepted }

    public var seconds: Double { Double(nanoseconds) / 1e9 }
    public var description: String { rfc3339 }

    /// RFC 3339 in UTC with the fraction's trailing zeros trimmed (`2025-01-15T14:23:45.123456Z`).
    public var rfc3339: String {
        var secs = nanoseconds / 1_000_000_000
        var frac = nanoseconds % 1_000_000_000
        if frac < 0 { frac += 1_000_000_000; secs -= 1 }
        var days = secs / 86_400
        var rem = secs % 86_400
        if rem < 0 { rem += 86_400; days -= 1 }
        let (y, m, d) = civil(fromDays: days)
        func pad(_ v: Int64, _ w: Int) -> String {
            let s = String(v)
            return String(repeating: "0", count: max(0, w - s.count)) + s
        }
        var out = "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))T\(pad(rem / 3600, 2)):\(pad(rem % 3600 / 60, 2)):\(pad(rem % 60, 2))"
        if frac != 0 {
            var f = pad(frac, 9)
            while f.hasSuffix("0") { f.removeLast() }
            out += "." + f
        }
        return out + "Z"
    }

    /// Parses RFC 3339 (`2025-01-15T14:23:45.123456789Z`, `…+02:00`, a space for `T`, up to 9
    /// fractional digits) from bytes without allocating; nil when malformed.
    public static func parseRFC3339(_ p: UnsafeRawBufferPointer) -> Instant? {
        guard p.count >= 20, let minute = minuteOf(p), let second = secondOf(p, minute), let (t, end) = afterSecond(p, second),
              end == p.count else { return nil }
        return t
    }

    /// The stamp `p` starts with (`parseRFC3339`'s syntax, followed by anything), and where it
    /// ends; remembering the minute its first 16 bytes name (`2025-01-15T14:23`) from one call
    /// to the next: a stream's stamps share it, and the date is most of the work. The decoder's
    /// fast path reads a quoted stamp so, in place, and checks the quote after it.
    static func parseRFC3339(prefixOf p: UnsafeRawBufferPointer, memo: inout RFC3339Memo) -> (Instant, end: Int)? {
        guard p.count >= 20 else { return nil }
        let head = (p.loadUnaligned(fromByteOffset: 0, as: UInt64.self), p.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        let colonSecond: UInt32 = p.loadUnaligned(fromByteOffset: 16, as: UInt32.self) & 0xFF_FFFF // `:SS`
        if memo.head == head, let minute = memo.minute {
            if memo.colonSecond == colonSecond, let second = memo.second { return afterSecond(p, second) }
            guard let second = secondOf(p, minute) else { return nil }
            memo.colonSecond = colonSecond
            memo.second = second
            return afterSecond(p, second)
        }
        guard let minute = minuteOf(p), let second = secondOf(p, minute) else { return nil }
        memo = RFC3339Memo(head: head, minute: minute, colonSecond: colonSecond, second: second)
        return afterSecond(p, second)
    }

    /// What a fraction of `k` digits is multiplied by to give nanoseconds.
    private static let fractionScale: [Int64] = [1, 100_000_000, 10_000_000, 1_000_000, 100_000, 10_000, 1000, 100, 10, 1]

    /// `YYYY-MM-DDTHH:MM` (the first 16 bytes) as seconds since the epoch; nil when invalid.
    private static func minuteOf(_ p: UnsafeRawBufferPointer) -> Int64? {
        func digits(_ at: Int, _ count: Int) -> Int64? {
            var v: Int64 = 0
            for i in at..<(at + count) {
                let c = p[i] &- 48
                guard c <= 9 else { return nil }
                v = v * 10 + Int64(c)
            }
            return v
        }
        guard let year = digits(0, 4), p[4] == 45, let month = digits(5, 2), p[7] == 45, let day = digits(8, 2),
              p[10] == 84 || p[10] == 116 || p[10] == 32, let hour = digits(11, 2), p[13] == 58, let minute = digits(14, 2),
              (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour < 24, minute < 60
        else { return nil }
        return daysFromCivil(year, month, day) * 86_400 + hour * 3600 + minute * 60
    }

    /// The whole second bytes 16..<19 (`:SS`) name after `minute`: a leap second is the second
    /// before it, as a parser without a leap table must read it.
    @inline(__always)
    private static func secondOf(_ p: UnsafeRawBufferPointer, _ minute: Int64) -> Int64? {
        let s1 = p[17] &- 48, s2 = p[18] &- 48
        guard p[16] == 58, s1 <= 9, s2 <= 9 else { return nil }
        let second = Int64(s1) * 10 + Int64(s2)
        guard second <= 60 else { return nil }
        return minute + min(second, 59)
    }

    /// The stamp whose first 19 bytes name `second` (in its own zone): a fraction, and `Z` or an
    /// offset; with the index of the byte after it.
    private static func afterSecond(_ p: UnsafeRawBufferPointer, _ second: Int64) -> (Instant, end: Int)? {
        let n = p.count
        var i = 19
        var frac: Int64 = 0
        if i < n, p[i] == 46 {
            i += 1
            let first = i
            while i < n, i - first < 10, p[i] &- 48 <= 9 {
                frac = frac &* 10 &+ Int64(p[i] &- 48)
                i += 1
            }
            let count = i - first
            guard count >= 1, count <= 9 else { return nil }
            frac *= Instant.fractionScale[count]
        }
        guard i < n else { return nil }
        var offset: Int64 = 0
        switch p[i] {
        case 90, 122: // Z z
            i += 1
        case 43, 45: // + -
            guard i + 6 <= n, p[i + 3] == 58 else { return nil }
            let h1 = p[i + 1] &- 48, h2 = p[i + 2] &- 48, m1 = p[i + 4] &- 48, m2 = p[i + 5] &- 48
            guard h1 <= 9, h2 <= 9, m1 <= 9, m2 <= 9 else { return nil }
            let oh = Int64(h1) * 10 + Int64(h2), om = Int64(m1) * 10 + Int64(m2)
            guard oh < 24, om < 60 else { return nil }
            offset = (oh * 3600 + om * 60) * (p[i] == 43 ? 1 : -1)
            i += 6
        default:
            return nil
        }
        let secs = second - offset
        // Int64 nanoseconds span 1677-09-21 to 2262-04-11; anything outside is not a stream time.
        let (ns, overflow) = secs.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, ns <= Int64.max - frac else { return nil }
        return (Instant(nanoseconds: ns + frac), i)
    }

    public static func parseRFC3339(_ s: String) -> Instant? {
        var s = s
        return s.withUTF8 { parseRFC3339(UnsafeRawBufferPointer($0)) }
    }
}

/// The minute and the second of the last stamp `parseRFC3339(prefixOf:memo:)` read, by its
/// first 16 bytes and the 3 after them: lines of one second share all but the fraction.
struct RFC3339Memo {
    var head: (UInt64, UInt64) = (0, 0)
    var minute: Int64?
    var colonSecond: UInt32 = 0
    /// Seconds since the epoch before the zone's offset: `minute` plus `:SS`.
    var second: Int64?
}

private func isLeap(_ y: Int64) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

private func daysIn(month: Int64, year: Int64) -> Int64 {
    switch month {
    case 2: isLeap(year) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
private func daysFromCivil(_ y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
    let y = m <= 2 ? y0 - 1 : y0
    let era = (y >= 0 ? y : y - 399) / 400
    let yoe = y - era * 400
    let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
    return era * 146_097 + doe - 719_468
}

private func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
    let z = z0 + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let doe = z - era * 146_097
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
    let mp = (5 * doy + 2) / 153
    let d = doy - (153 * mp + 2) / 5 + 1
    let m = mp < 10 ? mp + 3 : mp - 9
    return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
}

/// Formats a duration in nanoseconds as an operator reads it: `2m30s`, `1h`, `250ms`.
public func formatDuration(_ ns: Int64) -> String {
    if ns == 0 { return "0s" }
    if ns < 0 { return "-" + formatDuration(-ns) }
    if ns < 1_000 { return "\(ns)ns" }
    if ns < 1_000_000 { return ns % 1_000 == 0 ? "\(ns / 1_000)µs" : "\(Double(ns) / 1e3)µs" }
    if ns < 1_000_000_000 { return ns % 1_000_000 == 0 ? "\(ns / 1_000_000)ms" : "\(Double(ns) / 1e6)ms" }
    var s = ns / 1_000_000_000
    let frac = ns % 1_000_000_000
    var out = ""
    if s >= 86_400 { out += "\(s / 86_400)d"; s %= 86_400 }
    if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
    if s >= 60 { out += "\(s / 60)m"; s %= 60 }
    if s > 0 || frac > 0 {
        out += frac == 0 ? "\(s)s" : "\(Double(s) + Double(frac) / 1e9)s"
    }
    return out
}

extension Int64 {
    /// `self + other`, clamped to `Int64.min...Int64.max` instead of trapping.
    @inlinable public func addingSaturated(_ other: Int64) -> Int64 {
        let (r, overflow) = addingReportingOverflow(other)
        return overflow ? (other > 0 ? .max : .min) : r
    }

    /// `self × other`, clamped to `Int64.min...Int64.max` instead of trapping.
    @inlinable public func multipliedSaturated(by other: Int64) -> Int64 {
        let (r, overflow) = multipliedReportingOverflow(by: other)
        return overflow ? ((self < 0) != (other < 0) ? .min : .max) : r
    }

    /// `self - other`, clamped to `Int64.min...Int64.max` instead of trapping.
    @inlinable public func subtractingSaturated(_ other: Int64) -> Int64 {
        let (r, overflow) = subtractingReportingOverflow(other)
        return overflow ? (other < 0 ? .max : .min) : r
    }
}

/// For people (templates, payloads): `2600`, `0.85`, `30` (not `30.000000001`), `2.333`.
public func formatHuman(_ v: Double) -> String {
    guard v.isFinite else { return formatNumber(v) }
    let rounded = (v * 1000).rounded() / 1000
    return formatNumber(rounded)
}

/// Exact, for machines (replay's JSON): `2600`, `0.85`, `30.000000001`, integers without `.0`.
public func formatNumber(_ v: Double) -> String {
    if v.isNaN { return "NaN" }
    if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
    return "\(v)"
}

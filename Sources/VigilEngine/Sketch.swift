import Foundation

/// Logarithmic value codes for windowed quantiles (DDSketch's mapping): a value x ≠ 0 falls in
/// bin ⌈log_γ |x|⌉, and a bin stands for 2γ^i/(γ+1), within `relativeAccuracy` of every value in
/// it. A window stores 16-bit codes, ordered as the values are (negatives, zero, positives),
/// relative to a base bin fixed at its first value: 2¹³ − 1 bins either side of it, a factor of
/// about 10⁵⁷. A value beyond that (10⁵⁷ times the window's first value, or below 10⁻⁵⁷ of it)
/// counts as the last bin on its side: it still ranks as the most extreme, and quantiles away
/// from it keep their accuracy.
enum LogCode {
    static let relativeAccuracy = 0.008
    static let gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
    static let logGamma = log(gamma)
    /// Codes: 0x4000 is zero, 0x4001…0x7FFF positives, 0x0001…0x3FFF negatives.
    static let zero: UInt16 = 0x4000
    static let span: Int32 = 0x3FFF
    /// The code space, for a dense histogram over it.
    static let count = 0x8000

    /// The bin of |x| (x finite and non-zero).
    static func bin(_ x: Double) -> Int32 {
        let i = ceil(log(abs(x)) / logGamma)
        return Int32(max(-1_000_000, min(1_000_000, i))) // |log_γ| of a finite double is < 45,000
    }

    static func code(_ x: Double, base: Int32) -> UInt16 {
        if x == 0 || x.isNaN { return zero }
        if x.isInfinite { return x > 0 ? zero + UInt16(span) : zero - UInt16(span) }
        let offset = UInt16(max(1, min(span, bin(x) - base + (span + 1) / 2)))
        return x > 0 ? zero + offset : zero - offset
    }

    static func value(_ code: UInt16, base: Int32) -> Double {
        if code == zero { return 0 }
        let offset = Int32(code > zero ? code - zero : zero - code)
        let v = 2 * pow(gamma, Double(offset + base - (span + 1) / 2)) / (gamma + 1)
        return code > zero ? v : -v
    }
}

import Foundation

/// A mergeable quantile sketch (DDSketch): values fall into logarithmic bins of ratio γ, so any
/// quantile it returns is within `relativeAccuracy` of the true sample value at that rank.
/// Bins are a sorted sparse array, so memory grows with the spread of values, not their count.
struct QuantileSketch {
    static let relativeAccuracy = 0.005
    static let gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy)
    static let logGamma = log(gamma)
    private static let offset: Int32 = 1 << 20

    /// (key, count) sorted by key; the key order is the value order (negatives, zero, positives).
    private(set) var bins: [(key: Int32, count: UInt32)] = []
    private(set) var count: Int = 0

    static func key(_ x: Double) -> Int32 {
        if x == 0 { return 0 }
        let index = Int32(clamping: Int(ceil(log(abs(x)) / logGamma)))
        let k = max(-offset + 1, min(offset - 1, index)) + offset
        return x > 0 ? k : -k
    }

    static func value(_ key: Int32) -> Double {
        if key == 0 { return 0 }
        let index = Double(abs(key) - offset)
        let v = 2 * pow(gamma, index) / (gamma + 1)
        return key > 0 ? v : -v
    }

    mutating func add(_ x: Double) {
        let k = QuantileSketch.key(x)
        count += 1
        var lo = 0, hi = bins.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bins[mid].key < k { lo = mid + 1 } else { hi = mid }
        }
        if lo < bins.count, bins[lo].key == k { bins[lo].count += 1 } else { bins.insert((k, 1), at: lo) }
    }

    /// The value at rank ⌊q·(n−1)⌋ (0-based) of all samples in `sketches`, merged.
    static func quantile(_ q: Double, of sketches: [QuantileSketch], scratch: inout [(key: Int32, count: UInt32)]) -> Double? {
        scratch.removeAll(keepingCapacity: true)
        var n = 0
        for s in sketches {
            scratch.append(contentsOf: s.bins)
            n += s.count
        }
        guard n > 0 else { return nil }
        scratch.sort { $0.key < $1.key }
        let rank = Int((q * Double(n - 1)).rounded(.down))
        var seen = 0
        for b in scratch {
            seen += Int(b.count)
            if seen > rank { return value(b.key) }
        }
        return scratch.last.map { value($0.key) }
    }

    var memoryBytes: Int { bins.capacity * 8 }
}

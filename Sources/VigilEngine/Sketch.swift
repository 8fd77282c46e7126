import Foundation

/// A mergeable quantile sketch (DDSketch): values fall into logarithmic bins of ratio γ, so any
/// quantile it returns is within `relativeAccuracy` of the true sample value at that rank.
/// Bins are a sorted sparse array, so memory grows with the spread of values, not their count.
struct QuantileSketch {
    static let relativeAccuracy = 0.008
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

    mutating func add(_ x: Double) { add(key: QuantileSketch.key(x), count: 1) }

    /// Adds every bin of `other` (merging).
    mutating func add(_ other: QuantileSketch) {
        for b in other.bins { add(key: b.key, count: b.count) }
    }

    /// Removes every bin of `other`, which must have been added before (a bucket leaving a window).
    mutating func subtract(_ other: QuantileSketch) {
        for b in other.bins {
            guard let i = index(of: b.key) else { continue }
            let left = bins[i].count - min(bins[i].count, b.count)
            if left == 0 { bins.remove(at: i) } else { bins[i].count = left }
        }
        count = max(0, count - other.count)
    }

    private func index(of key: Int32) -> Int? {
        var lo = 0, hi = bins.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bins[mid].key < key { lo = mid + 1 } else { hi = mid }
        }
        return lo < bins.count && bins[lo].key == key ? lo : nil
    }

    private mutating func add(key k: Int32, count n: UInt32) {
        count += Int(n)
        var lo = 0, hi = bins.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if bins[mid].key < k { lo = mid + 1 } else { hi = mid }
        }
        if lo < bins.count, bins[lo].key == k { bins[lo].count += n } else { bins.insert((k, n), at: lo) }
    }

    /// The value at rank ⌊q·(n−1)⌋ (0-based); nil when empty.
    func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = Int((q * Double(count - 1)).rounded(.down))
        var seen = 0
        for b in bins {
            seen += Int(b.count)
            if seen > rank { return QuantileSketch.value(b.key) }
        }
        return bins.last.map { QuantileSketch.value($0.key) }
    }

    var memoryBytes: Int { bins.capacity * 8 }
}

/// The functions of `f(x over W)` (SPEC §1.1).
public enum WindowFunction: Hashable, Sendable {
    case avg, min, max, sum, count, last, rate, increase, delta, changes, stddev
    case quantile(Double)

    /// `p95` → quantile(0.95), `avg` → avg, …
    public init?(name: String) {
        switch name {
        case "avg": self = .avg
        case "min": self = .min
        case "max": self = .max
        case "sum": self = .sum
        case "count": self = .count
        case "last": self = .last
        case "rate": self = .rate
        case "increase": self = .increase
        case "delta": self = .delta
        case "changes": self = .changes
        case "stddev": self = .stddev
        case "p50": self = .quantile(0.5)
        case "p90": self = .quantile(0.9)
        case "p95": self = .quantile(0.95)
        case "p99": self = .quantile(0.99)
        default: return nil
        }
    }

    /// Samples the window must hold for a value: `rate`, `increase` and `delta` need two (with
    /// one they are absent, as in Prometheus, not 0: `rate(x over 30s) < 1` must not fire on
    /// the first sample); the rest need one.
    var samplesNeeded: Int {
        switch self {
        case .rate, .increase, .delta: 2
        default: 1
        }
    }
}

/// The samples of one series over a sliding window (t − W, t], in bounded memory.
///
/// It starts exact: a ring of up to `rawCapacity` raw samples. If more samples than that fall
/// inside one window, it switches for good to time buckets of W/60 each, holding count, sum, sum
/// of squares, min, max, first, last, in-bucket increase and changes, and (when the rules ask
/// for quantiles) a sketch per bucket plus a running total sketch that buckets are subtracted
/// from as they leave. Bucket mode's error bound: the oldest bucket may hold samples up to W/60
/// older than the window (so it covers at most (t − W − W/60, t]); quantiles are within 0.8% of
/// the sample at their rank (the sketch's relative accuracy).
struct Window {
    static let rawCapacity = 256
    static let bucketCount = 60

    let width: Int64
    let quantiles: Bool
    private var times: [Int64] = []
    private var values: [Double] = []
    private var head = 0          // index of the oldest raw sample
    private var buckets: [Bucket] = []
    private var sketches: [QuantileSketch] = []   // per bucket slot, when quantiles are asked
    private var total = QuantileSketch()          // the sum of the live bucket sketches

    struct Bucket {
        var index: Int64 = .min   // floor(time / bucketWidth); .min when empty
        var count: Int32 = 0
        var changes: Int32 = 0
        var sum = 0.0, sumSquares = 0.0
        var min = Double.infinity, max = -Double.infinity
        var first = 0.0, last = 0.0
        var lastTime: Int64 = 0
        var increase = 0.0
    }

    init(width: Int64, quantiles: Bool) {
        self.width = max(1, width)
        self.quantiles = quantiles
    }

    var isBucketed: Bool { !buckets.isEmpty }
    private var bucketWidth: Int64 { max(1, width / Int64(Window.bucketCount)) }

    mutating func add(time: Int64, value: Double) {
        if isBucketed { addToBucket(time: time, value: value); return }
        expire(before: time)
        if times.count - head >= Window.rawCapacity {
            convertToBuckets()
            addToBucket(time: time, value: value)
            return
        }
        if head > 0, head * 2 >= times.count {
            times.removeFirst(head)
            values.removeFirst(head)
            head = 0
        }
        times.append(time)
        values.append(value)
    }

    /// Drops raw samples that left the window at `t`.
    mutating func expire(before t: Int64) {
        while head < times.count, times[head] <= t.subtractingSaturated(width) { head += 1 }
    }

    private mutating func convertToBuckets() {
        // A window touches 61 bucket indices (the oldest one partly), so the ring holds 61.
        buckets = Array(repeating: Bucket(), count: Window.bucketCount + 1)
        if quantiles { sketches = Array(repeating: QuantileSketch(), count: buckets.count) }
        for k in head..<times.count { addToBucket(time: times[k], value: values[k]) }
        times = []
        values = []
        head = 0
    }

    private mutating func addToBucket(time: Int64, value: Double) {
        let index = floorDiv(time, bucketWidth)
        let slot = Int(floorMod(index, Int64(buckets.count)))
        if buckets[slot].index != index {
            guard index > buckets[slot].index else { return } // older than the ring holds
            clear(slot)
            buckets[slot] = Bucket(index: index, first: value, last: value, lastTime: time)
        } else {
            let previous = buckets[slot].last
            buckets[slot].increase += value >= previous ? value - previous : value
            if value != previous { buckets[slot].changes += 1 }
        }
        buckets[slot].count += 1
        buckets[slot].sum += value
        buckets[slot].sumSquares += value * value
        buckets[slot].min = Swift.min(buckets[slot].min, value)
        buckets[slot].max = Swift.max(buckets[slot].max, value)
        if time >= buckets[slot].lastTime {
            buckets[slot].last = value
            buckets[slot].lastTime = time
        }
        if quantiles {
            sketches[slot].add(value)
            total.add(value)
        }
    }

    /// Empties a bucket slot, taking its samples out of the running total.
    private mutating func clear(_ slot: Int) {
        buckets[slot] = Bucket()
        if quantiles, sketches[slot].count > 0 {
            total.subtract(sketches[slot])
            sketches[slot] = QuantileSketch()
        }
    }

    /// Empties the buckets wholly before the window at `t` (they would otherwise linger in the
    /// running total until their slot is reused).
    private mutating func expireBuckets(at t: Int64) {
        let oldest = floorDiv(t.subtractingSaturated(width), bucketWidth)
        for slot in buckets.indices where buckets[slot].index != .min && buckets[slot].index < oldest { clear(slot) }
    }

    /// `f` over (t − W, t]; nil when the window holds no sample. Evaluation times only move
    /// forward, so it may drop what left the window.
    mutating func evaluate(_ f: WindowFunction, at t: Int64, scratch: inout WindowScratch) -> Double? {
        if isBucketed {
            expireBuckets(at: t)
            return evaluateBuckets(f, at: t, scratch: &scratch)
        }
        return evaluateRaw(f, at: t, scratch: &scratch)
    }

    private func evaluateRaw(_ f: WindowFunction, at t: Int64, scratch: inout WindowScratch) -> Double? {
        var start = head
        while start < times.count, times[start] <= t.subtractingSaturated(width) { start += 1 }
        var end = times.count
        while end > start, times[end - 1] > t { end -= 1 }
        let n = end - start
        guard n >= f.samplesNeeded else { return nil }
        switch f {
        case .count: return Double(n)
        case .last: return values[end - 1]
        case .delta: return values[end - 1] - values[start]
        case .avg, .sum, .stddev:
            var sum = 0.0
            for k in start..<end { sum += values[k] }
            if f == .sum { return sum }
            let mean = sum / Double(n)
            if f == .avg { return mean }
            var squares = 0.0 // two passes: the exact ring can afford the accurate form
            for k in start..<end { squares += (values[k] - mean) * (values[k] - mean) }
            return (squares / Double(n)).squareRoot()
        case .min: return values[start..<end].min()
        case .max: return values[start..<end].max()
        case .increase, .rate:
            var inc = 0.0
            for k in (start + 1)..<Swift.max(start + 1, end) {
                inc += values[k] >= values[k - 1] ? values[k] - values[k - 1] : values[k]
            }
            return f == .increase ? inc : inc / (Double(width) / 1e9)
        case .changes:
            var c = 0
            for k in (start + 1)..<Swift.max(start + 1, end) where values[k] != values[k - 1] { c += 1 }
            return Double(c)
        case .quantile(let q):
            scratch.values.removeAll(keepingCapacity: true)
            scratch.values.append(contentsOf: values[start..<end])
            scratch.values.sort()
            return scratch.values[Int((q * Double(n - 1)).rounded(.down))]
        }
    }

    private func evaluateBuckets(_ f: WindowFunction, at t: Int64, scratch: inout WindowScratch) -> Double? {
        let newest = floorDiv(t, bucketWidth)
        let oldest = floorDiv(t.subtractingSaturated(width), bucketWidth) // partially inside: included (the error bound)
        // Included buckets in time order.
        scratch.order.removeAll(keepingCapacity: true)
        for (slot, b) in buckets.enumerated() where b.count > 0 && b.index >= oldest && b.index <= newest {
            scratch.order.append(slot)
        }
        guard !scratch.order.isEmpty else { return nil }
        scratch.order.sort { buckets[$0].index < buckets[$1].index }
        let first = buckets[scratch.order[0]], last = buckets[scratch.order[scratch.order.count - 1]]
        var n = 0, sum = 0.0, squares = 0.0, lo = Double.infinity, hi = -Double.infinity, inc = 0.0, changes = 0
        var previous: Double?
        for slot in scratch.order {
            let b = buckets[slot]
            n += Int(b.count)
            sum += b.sum
            squares += b.sumSquares
            lo = Swift.min(lo, b.min)
            hi = Swift.max(hi, b.max)
            inc += b.increase
            changes += Int(b.changes)
            if let p = previous {
                inc += b.first >= p ? b.first - p : b.first
                if b.first != p { changes += 1 }
            }
            previous = b.last
        }
        guard n >= f.samplesNeeded else { return nil }
        switch f {
        case .count: return Double(n)
        case .last: return last.last
        case .delta: return last.last - first.first
        case .sum: return sum
        case .avg: return sum / Double(n)
        case .stddev:
            let mean = sum / Double(n)
            return (Swift.max(0, squares / Double(n) - mean * mean)).squareRoot()
        case .min: return lo
        case .max: return hi
        case .increase: return inc
        case .rate: return inc / (Double(width) / 1e9)
        case .changes: return Double(changes)
        case .quantile(let q):
            // Samples newer than t (replayed out of order) are in the total too; they are rare.
            return total.quantile(q)
        }
    }

    /// The first time after `t` at which the window's contents change without a new sample
    /// (its oldest sample, or oldest bucket, leaves it); nil when it is empty.
    func nextExpiry(after t: Int64) -> Int64? {
        if isBucketed {
            let oldest = floorDiv(t.subtractingSaturated(width), bucketWidth)
            var first: Int64?
            for b in buckets where b.count > 0 && b.index >= oldest && b.index <= floorDiv(t, bucketWidth) {
                first = Swift.min(first ?? b.index, b.index)
            }
            return first.map { ($0 + 1).multipliedSaturated(by: bucketWidth).addingSaturated(width) }
        }
        var k = head
        while k < times.count, times[k] <= t.subtractingSaturated(width) { k += 1 }
        return k < times.count ? times[k].addingSaturated(width) : nil
    }

    /// Bytes held, for the memory report.
    var memoryBytes: Int {
        times.capacity * 8 + values.capacity * 8 + buckets.capacity * MemoryLayout<Bucket>.stride
            + sketches.reduce(0) { $0 + $1.memoryBytes + 16 } + total.memoryBytes
    }
}

/// Reusable buffers for window evaluation, so evaluating allocates nothing once warm.
struct WindowScratch {
    var values: [Double] = []
    var order: [Int] = []
}

func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

func floorMod(_ a: Int64, _ b: Int64) -> Int64 { a - floorDiv(a, b) * b }

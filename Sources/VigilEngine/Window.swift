/// `count`, `sum` and `avg`: the window functions of counts and sums, evaluated by a path of
/// their own (`Window.evaluateCounts`).
enum CountsFunction: UInt8 {
    case count, sum, avg

    init?(_ f: WindowFunction) {
        switch f {
        case .count: self = .count
        case .sum: self = .sum
        case .avg: self = .avg
        default: return nil
        }
    }
}

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

/// What a window keeps per time bucket, from the functions asked of it: each field is one
/// `Double` cell per bucket (the count is always kept), and `quantiles` a code stream.
struct WindowNeeds: OptionSet, Hashable, Sendable {
    let rawValue: UInt16
    static let sum = WindowNeeds(rawValue: 1 << 0)
    static let squares = WindowNeeds(rawValue: 1 << 1)
    static let min = WindowNeeds(rawValue: 1 << 2)
    static let max = WindowNeeds(rawValue: 1 << 3)
    static let first = WindowNeeds(rawValue: 1 << 4)
    static let last = WindowNeeds(rawValue: 1 << 5)
    static let lastTime = WindowNeeds(rawValue: 1 << 6)
    static let increase = WindowNeeds(rawValue: 1 << 7)
    static let changes = WindowNeeds(rawValue: 1 << 8)
    static let quantiles = WindowNeeds(rawValue: 1 << 9)
    static let cells = WindowNeeds(rawValue: (1 << 9) - 1)

    init(rawValue: UInt16) { self.rawValue = rawValue }

    init(_ f: WindowFunction) {
        switch f {
        case .count: self = []
        case .avg, .sum: self = .sum
        case .stddev: self = [.sum, .squares]
        case .min: self = .min
        case .max: self = .max
        case .last: self = [.last, .lastTime]
        case .delta: self = [.first, .last, .lastTime]
        case .increase, .rate: self = [.first, .last, .lastTime, .increase]
        case .changes: self = [.first, .last, .lastTime, .changes]
        case .quantile: self = .quantiles
        }
    }

    /// Cells per bucket: the count and one per field.
    var stride: Int { 1 + intersection(.cells).rawValue.nonzeroBitCount }

    /// The cell of `field` within a bucket (after the count, in bit order).
    @inline(__always) func offset(_ field: WindowNeeds) -> Int {
        1 + (rawValue & (field.rawValue &- 1) & WindowNeeds.cells.rawValue).nonzeroBitCount
    }
}

/// The samples of one series over a sliding window (t − W, t], in bounded memory.
///
/// It starts exact: a ring of up to `rawCapacity` raw samples (16 bytes each). If more samples
/// than that fall inside one window, it switches for good to 61 time buckets of ⌈W/60⌉ each,
/// keeping per bucket only what its functions need (`WindowNeeds`: count, sum, sum of squares,
/// min, max, first, last, in-bucket increase and changes), and for quantiles each bucket's
/// values as logarithmic codes with counts (`LogCode`, kept compact by `BucketCodes`). Bucket
/// mode's error bound: the oldest bucket
/// may hold samples up to ⌈W/60⌉ older than the window (so it covers at most
/// (t − W − ⌈W/60⌉, t]); quantiles are within 0.8% of the sample at their rank.
struct Window {
    static let rawCapacity = 64
    static let bucketCount = 60
    static let slots = bucketCount + 1 // a window touches 61 bucket indices, the oldest partly

    let width: Int64
    let needs: WindowNeeds
    /// `needs.stride`, kept: it is on every bucketed add and evaluation, and a population
    /// count is ~20 instructions on the baseline x86-64 this builds for. In the padding after
    /// `needs`: the window is no larger.
    private let cellsPerBucket: UInt8
    /// Where its buckets start within ⌈W/60⌉: bucket i holds the times t with
    /// ⌊(t + phase) / ⌈W/60⌉⌋ = i. Each series' windows get a phase of their own (from its
    /// name and labels, so the same across restarts), so that their boundaries, and the
    /// deadlines set when a bucket leaves, are spread over a bucket's width instead of all
    /// falling on one instant (10,000 series' at once every 5 s: ~2.8 ms batches).
    let phase: Int64
    /// The raw samples, oldest first from `head`: one array (one allocation, one uniqueness
    /// check an append), reserved at 8, then for what the window will hold at its samples' rate
    /// (`nextRawCapacity`). Jumping from 8 to 64 whatever the rate made a window of 9 samples
    /// 1 KiB (`decode_evaluate_series_x10`, 9 samples a series, took 403 MB, not 329).
    private var raw: [RawSample] = []
    private var head = 0              // index of the oldest raw sample
    // Bucket mode: `cells` holds `slots` buckets of `needs.stride` cells; the slot of bucket
    // index i is i mod 61, and every slot holds an index in (newest − 61, newest] or is empty.
    // After them, one more bucket's cells and one: the fold of the closed buckets (all but the
    // newest) and the oldest of them with samples, valid while `foldedAt == newest`.
    private var cells: [Double] = []
    private var newest: Int64 = .min
    private var foldedAt: Int64 = .min
    // Quantiles: each bucket's codes, relative to the bin of the first value bucketed.
    private var codes: BucketCodes?
    private var base: Int32 = 0
    /// Raw mode: the sum of `raw[sumFrom..<sumTo]`, added oldest first, as the last `sum` or
    /// `avg` found it. Until a sample leaves, the next evaluation adds only what came since, in
    /// the same order: the same bits as adding all again, in O(new) instead of O(held).
    private var sumFrom: Int32 = 0
    private var sumTo: Int32 = 0
    private var rawSum = 0.0

    /// `phaseSeed`: a number the series gives all its windows (its phase is it modulo ⌈W/60⌉).
    init(width: Int64, needs: WindowNeeds, phaseSeed: UInt64 = 0) {
        self.width = max(1, width)
        self.needs = needs
        cellsPerBucket = UInt8(needs.stride)
        bucketWidth = self.width / Int64(Window.bucketCount) + (self.width % Int64(Window.bucketCount) == 0 ? 0 : 1)
        phase = Int64(phaseSeed % UInt64(bucketWidth))
    }

    var isBucketed: Bool { !cells.isEmpty }

    /// This window keeping more (a reload asked more of it): exact while it holds raw samples;
    /// nil once bucketed, as its buckets never kept the new fields.
    func widened(to more: WindowNeeds) -> Window? {
        if needs.isSuperset(of: more) { return self }
        guard !isBucketed else { return nil }
        var w = Window(width: width, needs: needs.union(more), phaseSeed: UInt64(phase))
        w.raw = Array(raw[head...])
        return w
    }
    /// ⌈W/60⌉, kept: it is on every bucketed add and evaluation, and a division is not cheap.
    let bucketWidth: Int64

    mutating func add(time: Int64, value: Double) {
        if isBucketed { addToBucket(time: time, value: value); return }
        expire(before: time)
        if raw.count - head >= Window.rawCapacity {
            convertToBuckets()
            addToBucket(time: time, value: value)
            return
        }
        if head > 0, head * 2 >= raw.count {
            raw.removeFirst(head)
            head = 0
            sumTo = 0 // the indices moved: the kept sum no longer names its samples
        }
        if raw.count == raw.capacity { raw.reserveCapacity(raw.capacity == 0 ? 8 : nextRawCapacity()) }
        raw.append(RawSample(time: time, value: value))
    }

    /// The ring's size when it is full: what the window will hold at the rate its samples have
    /// come (their span stretched to W), up to `rawCapacity`, and at least double. A series
    /// that will fill the ring gets it at once (two allocations, not four, to fill it: ~18
    /// instructions a sample of decode_evaluate, ~5% of its time), and a slow one what it needs.
    private func nextRawCapacity() -> Int {
        let doubled = raw.capacity &* 2, held = raw.count &- head
        guard held >= 2 else { return doubled }
        let span = raw[raw.count - 1].time.subtractingSaturated(raw[head].time)
        guard span > 0 else { return Swift.max(doubled, Window.rawCapacity) } // all at one instant: it fills
        let expected = (Double(held) * Double(width) / Double(span)).rounded(.up)
        return Swift.max(doubled, Int(Swift.min(expected, Double(Window.rawCapacity))))
    }

    /// Drops raw samples that left the window at `t`.
    mutating func expire(before t: Int64) { head = firstRaw(at: t) }

    private mutating func convertToBuckets() {
        cells = Array(repeating: 0, count: (Window.slots + 1) * Int(cellsPerBucket) + 1)
        if needs.contains(.quantiles) {
            codes = BucketCodes(slots: Window.slots)
            let first = raw[head...].first { $0.value != 0 && $0.value.isFinite }?.value ?? 1
            base = LogCode.bin(first)
        }
        if !bulkAddCounts() {
            for k in head..<raw.count { addToBucket(time: raw[k].time, value: raw[k].value) }
        }
        raw = []
        head = 0
    }

    /// The raw samples into the new, empty ring of a window keeping counts and at most sums, in
    /// one pass: the cells `addToBucket` would write, in its order, without its ring advance
    /// and index search a sample (64 of them a switch; ~6,000 instructions a series once). When
    /// the samples are in time order (the engine's always are: it drops a late one) their
    /// buckets rise, and when they span at most the ring's 61, none leaves it and no slot is
    /// emptied on the way. False (nothing done) otherwise.
    private mutating func bulkAddCounts() -> Bool {
        guard needs.isSubset(of: .sum), head < raw.count else { return false }
        for k in (head + 1)..<Swift.max(head + 1, raw.count) where raw[k].time < raw[k - 1].time { return false }
        let first = floorDiv(raw[head].time.addingSaturated(phase), bucketWidth)
        let last = floorDiv(raw[raw.count - 1].time.addingSaturated(phase), bucketWidth)
        let (span, over) = last.subtractingReportingOverflow(first)
        guard !over, span >= 0, span < Int64(Window.slots) else { return false }
        let stride = Int(cellsPerBucket), sums = needs.contains(.sum)
        var index = first, slot = Window.slot(first)
        var end = (index &+ 1).multipliedReportingOverflow(by: bucketWidth) // shifted time where `index` ends
        raw.withUnsafeBufferPointer { samples in
            cells.withUnsafeMutableBufferPointer { p in
                for k in head..<samples.count {
                    let u = samples[k].time.addingSaturated(phase)
                    if end.overflow || u >= end.partialValue {
                        let next = floorDiv(u, bucketWidth)
                        slot += Int(next &- index)
                        if slot >= Window.slots { slot -= Window.slots }
                        index = next
                        end = (index &+ 1).multipliedReportingOverflow(by: bucketWidth)
                    }
                    let c = slot &* stride
                    if sums { p[c &+ 1] = (p[c] == 0 ? 0 : p[c &+ 1]) + samples[k].value }
                    p[c] += 1
                }
            }
        }
        newest = last
        return true
    }

    /// Moves the ring's newest bucket to `index`, emptying the slots of the buckets it drops.
    private mutating func advance(to index: Int64) {
        var extended = false
        if newest == .min || index.subtractingSaturated(newest) >= Int64(Window.slots) {
            let stride = Int(cellsPerBucket)
            for c in Swift.stride(from: 0, to: Window.slots * stride, by: stride) { cells[c] = 0 }
            codes?.removeAll()
        } else {
            // While no bucket with samples leaves the ring, the fold kept of the closed buckets
            // extends by the one closing now: the walk's additions in the walk's order (every
            // bucket it held stays, and the buckets opened between are empty), so the same bits,
            // without walking the 60 again. That is every bucket a window opens in its first W
            // (a series' first hour, with a 1h window, after each start), and after a gap.
            extended = foldedAt == newest && extendFold(closing: newest, ringOldest: index.subtractingSaturated(Int64(Window.slots - 1)))
            codes?.close(into: Window.slot(newest))
            var i = newest
            while i < index {
                i += 1
                let slot = Window.slot(i)
                cells[slot * Int(cellsPerBucket)] = 0
                codes?.drop(slot) // the slot held the oldest bucket: the front
            }
        }
        newest = index
        if extended { foldedAt = index }
    }

    /// Adds bucket `closing` to the kept fold of the closed buckets when the oldest of them
    /// with samples is in the ring that starts at `ringOldest`; false (nothing done) when not.
    private mutating func extendFold(closing: Int64, ringOldest: Int64) -> Bool {
        let stride = Int(cellsPerBucket), keep = Window.slots * stride
        guard Int64(bitPattern: cells[keep + stride].bitPattern) >= ringOldest else { return false }
        var fold = Fold(cells, at: keep, needs)
        fold.add(cells, Window.slot(closing) * stride, index: closing, needs)
        fold.store(into: &cells, at: keep, needs)
        return true
    }

    /// The index of the bucket holding time `t`: ⌊(t + phase) / ⌈W/60⌉⌋, without the division when
    /// `t` falls in the newest bucket (a sample's usual case; a division was 2–5 of them a sample).
    /// The newest bucket starts at newest·⌈W/60⌉ (in shifted time, t + phase) when that fits an
    /// Int64; u − start, for u at or after it, is exact as a UInt64 whatever the two are.
    @inline(__always) func bucketIndex(_ t: Int64) -> Int64 { bucketIndex(shifted: t.addingSaturated(phase)) }

    /// The index of the bucket holding the time whose shifted value (t + phase) is `u`.
    @inline(__always) private func bucketIndex(shifted u: Int64) -> Int64 {
        let (start, over) = newest.multipliedReportingOverflow(by: bucketWidth)
        return !over && u >= start && UInt64(bitPattern: u &- start) < UInt64(bitPattern: bucketWidth) ? newest : floorDiv(u, bucketWidth)
    }

    private mutating func addToBucket(time: Int64, value: Double) {
        let index = bucketIndex(time)
        if index > newest { advance(to: index) } else if index <= newest.subtractingSaturated(Int64(Window.slots)) { return } // older than the ring holds
        if index < newest { foldedAt = .min } // a closed bucket changes: the fold of them is stale
        let slot = Window.slot(index)
        let c = slot * Int(cellsPerBucket)
        if needs.isSubset(of: .sum) {
            // Counts and at most sums (as `walkCounts`): the same cells written in the same
            // order as below, without the other fields' tests. A slot's sum is stale until its
            // count says the bucket holds a sample.
            let sums = needs.contains(.sum)
            cells.withUnsafeMutableBufferPointer { p in
                if sums { p[c &+ 1] = (p[c] == 0 ? 0 : p[c &+ 1]) + value }
                p[c] += 1
            }
            return
        }
        let at = Double(time.addingSaturated(phase).subtractingSaturated(index.multipliedSaturated(by: bucketWidth))) // within the bucket
        let n = needs
        if cells[c] == 0 {
            if n.contains(.sum) { cells[c + n.offset(.sum)] = 0 }
            if n.contains(.squares) { cells[c + n.offset(.squares)] = 0 }
            if n.contains(.min) { cells[c + n.offset(.min)] = value }
            if n.contains(.max) { cells[c + n.offset(.max)] = value }
            if n.contains(.first) { cells[c + n.offset(.first)] = value }
            if n.contains(.last) { cells[c + n.offset(.last)] = value }
            if n.contains(.lastTime) { cells[c + n.offset(.lastTime)] = at }
            if n.contains(.increase) { cells[c + n.offset(.increase)] = 0 }
            if n.contains(.changes) { cells[c + n.offset(.changes)] = 0 }
        } else {
            if n.contains(.last) {
                let previous = cells[c + n.offset(.last)]
                if n.contains(.increase) { cells[c + n.offset(.increase)] += value >= previous ? value - previous : value }
                if n.contains(.changes), value != previous { cells[c + n.offset(.changes)] += 1 }
                if at >= cells[c + n.offset(.lastTime)] {
                    cells[c + n.offset(.last)] = value
                    cells[c + n.offset(.lastTime)] = at
                }
            }
            if n.contains(.min) { cells[c + n.offset(.min)] = Swift.min(cells[c + n.offset(.min)], value) }
            if n.contains(.max) { cells[c + n.offset(.max)] = Swift.max(cells[c + n.offset(.max)], value) }
        }
        cells[c] += 1
        if n.contains(.sum) { cells[c + n.offset(.sum)] += value }
        if n.contains(.squares) { cells[c + n.offset(.squares)] += value * value }
        if codes != nil {
            let code = LogCode.code(value, base: base)
            if index == newest {
                codes!.addOpen(code)
            } else {
                let earlier = (newest.subtractingSaturated(Int64(Window.slots - 1))..<index).lazy.map(Window.slot)
                let start = codes!.start(after: earlier)
                codes!.addClosed(code, slot: slot, start: start)
            }
        }
    }

    @inline(__always) static func slot(_ index: Int64) -> Int { Int(floorMod(index, Int64(slots))) }

    /// The slot of the bucket after the one in `slot`.
    @inline(__always) static func nextSlot(_ slot: Int) -> Int { slot == slots - 1 ? 0 : slot + 1 }

    /// `f` at `t`, and when to evaluate again without a new sample: when its oldest sample (or
    /// bucket) leaves, at most once a second (`.max`: never). nil when it holds too little.
    /// Mutating: a bucketed window keeps the fold of its closed buckets for the next call
    /// (`folded`); and called in place, not on a copy of the engine's element (a copy retains
    /// and releases its buffers, 3% of decode_evaluate).
    mutating func evaluateInPlace(_ f: WindowFunction, at t: Int64, scratch: inout WindowScratch) -> (value: Double, hint: Int64)? {
        if let counts = CountsFunction(f) { return evaluateCounts(counts, at: t) }
        let value: Double?, expiry: Int64?
        if isBucketed {
            // A time past the newest bucket (a deadline's: the oldest bucket leaving) opens its
            // bucket now, empty, as the next sample in it would: the same buckets are read, and
            // the closed ones are the whole ring again, so the fold this walk keeps serves the
            // samples that follow instead of each of the two walking them (10,000 series with a
            // 5-minute average: their deadlines' walks were 13% of the steady state's engine
            // time, the samples' walks after them 6%).
            let u = t.addingSaturated(phase), index = bucketIndex(shifted: u)
            if index > newest { advance(to: index) }
            // Its oldest bucket with samples is what leaves next: found by the same walk.
            // No closure over self here: one that calls the mutating `folded` copies the window.
            guard let range = included(shifted: u, index: index), let v = evaluateBuckets(f, range, folded(range), scratch: &scratch) else { return nil }
            value = v.value
            expiry = bucketExpiry(oldest: v.oldest)
        } else {
            // The oldest sample inside is what leaves next: one search for both.
            let start = firstRaw(at: t)
            value = evaluateRaw(f, from: start, at: t, scratch: &scratch, keep: true)
            expiry = start < raw.count ? raw[start].time.addingSaturated(width) : nil
        }
        guard let value else { return nil }
        return (value, expiry.map { Swift.max($0, t.addingSaturated(1_000_000_000)) } ?? .max)
    }

    /// `evaluateInPlace` for `count`, `sum` and `avg` (the usual window rule's): the same value,
    /// deadline and kept state, by a path of their own with no function to dispatch on but
    /// these three: the raw ring's kept sum, or the buckets' kept fold plus the newest bucket.
    @inline(__always) mutating func evaluateCounts(_ f: CountsFunction, at t: Int64) -> (value: Double, hint: Int64)? {
        let n: Double, sum: Double, expiry: Int64
        if cells.isEmpty {
            let start = firstRaw(at: t), end = rawEnd(from: start, at: t)
            guard end > start else { return nil }
            n = Double(end &- start)
            sum = f == .count ? 0 : keptRawSum(start, end, keep: true)
            expiry = raw[start].time.addingSaturated(width)
        } else {
            let u = t.addingSaturated(phase), index = bucketIndex(shifted: u)
            if index > newest { advance(to: index) } // as `evaluateInPlace`
            guard let range = included(shifted: u, index: index) else { return nil }
            let oldest: Int64
            if needs.isSubset(of: .sum) {
                (n, sum, oldest) = foldedCounts(range)
            } else {
                let fold = folded(range) // a window that other functions read as well
                (n, sum, oldest) = (fold.n, fold.sum, fold.oldest)
            }
            guard n >= 1 else { return nil }
            expiry = bucketExpiry(oldest: oldest)
        }
        let value = f == .count ? n : f == .sum ? sum : sum / n
        return (value, Swift.max(expiry, t.addingSaturated(1_000_000_000)))
    }

    /// When the bucket of index `oldest` leaves the window: its end (in shifted time) plus W.
    @inline(__always) private func bucketExpiry(oldest: Int64) -> Int64 {
        oldest.addingSaturated(1).multipliedSaturated(by: bucketWidth).addingSaturated(width).subtractingSaturated(phase)
    }

    /// `f` over (t − W, t]; nil when the window holds no sample.
    func evaluate(_ f: WindowFunction, at t: Int64, scratch: inout WindowScratch) -> Double? {
        if isBucketed { return included(at: t).flatMap { evaluateBuckets(f, $0, walk($0), scratch: &scratch)?.value } }
        var w = self
        return w.evaluateRaw(f, from: firstRaw(at: t), at: t, scratch: &scratch, keep: false)
    }

    /// The index of the oldest raw sample inside the window at `t` (`raw.count`: none).
    private func firstRaw(at t: Int64) -> Int {
        let oldest = t.subtractingSaturated(width)
        return raw.withUnsafeBufferPointer { p in
            var start = head
            while start < p.count, p[start].time <= oldest { start &+= 1 }
            return start
        }
    }

    /// The end of the raw samples from `start` at or before `t` (those after it came later).
    @inline(__always) private func rawEnd(from start: Int, at t: Int64) -> Int {
        raw.withUnsafeBufferPointer { p in
            var end = p.count
            while end > start, p[end &- 1].time > t { end &-= 1 }
            return end
        }
    }

    /// The sum of `raw[start..<end]`, oldest first; with `keep`, from the one kept (`rawSum`)
    /// while it holds (its start is `start` and it ends at or before `end`), and kept after.
    @inline(__always) private mutating func keptRawSum(_ start: Int, _ end: Int, keep: Bool) -> Double {
        var sum = 0.0, from = start
        if keep, Int(sumFrom) == start, Int(sumTo) <= end, sumTo > sumFrom {
            sum = rawSum
            from = Int(sumTo)
        }
        raw.withUnsafeBufferPointer { p in
            for k in from..<end { sum += p[k].value }
        }
        // Indices of a ring of at most `rawCapacity` samples: they fit.
        if keep { (sumFrom, sumTo, rawSum) = (Int32(truncatingIfNeeded: start), Int32(truncatingIfNeeded: end), sum) }
        return sum
    }

    /// `f` over the raw samples from `start` (`firstRaw(at: t)`) up to `t`; with `keep`, a sum
    /// starts from the one kept (`rawSum`) and is kept for the next call.
    private mutating func evaluateRaw(_ f: WindowFunction, from start: Int, at t: Int64, scratch: inout WindowScratch, keep: Bool) -> Double? {
        let end = rawEnd(from: start, at: t)
        let n = end - start
        guard n >= f.samplesNeeded else { return nil }
        switch f {
        case .count: return Double(n)
        case .avg, .sum:
            let sum = keptRawSum(start, end, keep: keep)
            return f == .sum ? sum : sum / Double(n)
        case .last: return raw[end - 1].value
        case .delta: return raw[end - 1].value - raw[start].value
        case .stddev:
            var sum = 0.0
            for k in start..<end { sum += raw[k].value }
            let mean = sum / Double(n)
            var squares = 0.0 // two passes: the exact ring can afford the accurate form
            for k in start..<end { squares += (raw[k].value - mean) * (raw[k].value - mean) }
            return (squares / Double(n)).squareRoot()
        case .min: return raw[start..<end].lazy.map(\.value).min()
        case .max: return raw[start..<end].lazy.map(\.value).max()
        case .increase, .rate:
            var inc = 0.0
            for k in (start + 1)..<Swift.max(start + 1, end) {
                let (v, previous) = (raw[k].value, raw[k - 1].value)
                inc += v >= previous ? v - previous : v
            }
            return f == .increase ? inc : inc / (Double(width) / 1e9)
        case .changes:
            var c = 0
            for k in (start + 1)..<Swift.max(start + 1, end) where raw[k].value != raw[k - 1].value { c += 1 }
            return Double(c)
        case .quantile(let q):
            scratch.values.removeAll(keepingCapacity: true)
            for k in start..<end { scratch.values.append(raw[k].value) }
            scratch.values.sort()
            return scratch.values[Int((q * Double(n - 1)).rounded(.down))]
        }
    }

    /// The bucket indices the window at `t` reads: from its oldest (partly inside: included, the
    /// error bound) to `t`'s, within what the ring holds; empty when none.
    func included(at t: Int64) -> ClosedRange<Int64>? {
        let u = t.addingSaturated(phase)
        return included(shifted: u, index: bucketIndex(shifted: u))
    }

    /// `included` for the time whose shifted value is `u`, in bucket `at` (found by the caller).
    @inline(__always) private func included(shifted u: Int64, index at: Int64) -> ClosedRange<Int64>? {
        // When W is 60 buckets exactly, (t − W)'s bucket is 60 before t's.
        let exact = !u.subtractingReportingOverflow(width).overflow && bucketWidth &* Int64(Window.bucketCount) == width
        let first = exact ? at - Int64(Window.bucketCount) : floorDiv(u.subtractingSaturated(width), bucketWidth)
        let lo = Swift.max(first, newest.subtractingSaturated(Int64(Window.slots - 1)))
        let hi = Swift.min(at, newest)
        return lo <= hi ? lo...hi : nil
    }

    /// What a walk over buckets, oldest first, has gathered.
    private struct Fold {
        var n = 0.0, sum = 0.0, squares = 0.0, lo = Double.infinity, hi = -Double.infinity, inc = 0.0, changes = 0.0
        var first = 0.0, last = 0.0
        var previous: Double?
        var oldest = Int64.max

        /// Adds the bucket of index `i` whose cells start at `c`, if it holds samples.
        @inline(__always) mutating func add(_ cells: [Double], _ c: Int, index i: Int64, _ nd: WindowNeeds) {
            guard cells[c] > 0 else { return }
            oldest = Swift.min(oldest, i)
            n += cells[c]
            if nd.contains(.sum) { sum += cells[c + nd.offset(.sum)] }
            if nd.contains(.squares) { squares += cells[c + nd.offset(.squares)] }
            if nd.contains(.min) { lo = Swift.min(lo, cells[c + nd.offset(.min)]) }
            if nd.contains(.max) { hi = Swift.max(hi, cells[c + nd.offset(.max)]) }
            if nd.contains(.increase) { inc += cells[c + nd.offset(.increase)] }
            if nd.contains(.changes) { changes += cells[c + nd.offset(.changes)] }
            if nd.contains(.first) {
                let b = cells[c + nd.offset(.first)]
                if let p = previous {
                    inc += b >= p ? b - p : b
                    if b != p { changes += 1 }
                } else {
                    first = b
                }
            }
            if nd.contains(.last) {
                last = cells[c + nd.offset(.last)]
                previous = last
            }
        }

        /// The fold kept in `cells` from `c` (laid out as a bucket, then the oldest's bits).
        init(_ cells: [Double], at c: Int, _ nd: WindowNeeds) {
            n = cells[c]
            if nd.contains(.sum) { sum = cells[c + nd.offset(.sum)] }
            if nd.contains(.squares) { squares = cells[c + nd.offset(.squares)] }
            if nd.contains(.min) { lo = cells[c + nd.offset(.min)] }
            if nd.contains(.max) { hi = cells[c + nd.offset(.max)] }
            if nd.contains(.increase) { inc = cells[c + nd.offset(.increase)] }
            if nd.contains(.changes) { changes = cells[c + nd.offset(.changes)] }
            if nd.contains(.first) { first = cells[c + nd.offset(.first)] }
            if nd.contains(.last) {
                last = cells[c + nd.offset(.last)]
                previous = n > 0 ? last : nil // set by the first bucket added, as `add` does
            }
            oldest = Int64(bitPattern: cells[c + nd.stride].bitPattern)
        }

        init() {}

        func store(into cells: inout [Double], at c: Int, _ nd: WindowNeeds) {
            cells[c] = n
            if nd.contains(.sum) { cells[c + nd.offset(.sum)] = sum }
            if nd.contains(.squares) { cells[c + nd.offset(.squares)] = squares }
            if nd.contains(.min) { cells[c + nd.offset(.min)] = lo }
            if nd.contains(.max) { cells[c + nd.offset(.max)] = hi }
            if nd.contains(.increase) { cells[c + nd.offset(.increase)] = inc }
            if nd.contains(.changes) { cells[c + nd.offset(.changes)] = changes }
            if nd.contains(.first) { cells[c + nd.offset(.first)] = first }
            if nd.contains(.last) { cells[c + nd.offset(.last)] = last }
            cells[c + nd.stride] = Double(bitPattern: UInt64(bitPattern: oldest))
        }
    }

    /// The buckets in `range`, oldest first.
    private func walk(_ range: ClosedRange<Int64>) -> Fold {
        if needs.isSubset(of: .sum) { return walkCounts(range) }
        var fold = Fold()
        var slot = Window.slot(range.lowerBound) // then stepped: a division a bucket was most of the loop
        for i in range {
            fold.add(cells, slot * Int(cellsPerBucket), index: i, needs)
            slot = Window.nextSlot(slot)
        }
        return fold
    }

    /// `walk` for a window keeping counts and at most sums (`avg`, `sum`, `count`: the usual
    /// case): the same additions in the same order, without a test of each field a bucket, in
    /// 60% of the instructions (a new bucket walks the 60 closed ones again).
    private func walkCounts(_ range: ClosedRange<Int64>) -> Fold {
        var fold = Fold()
        let stride = Int(cellsPerBucket), sums = needs.contains(.sum)
        var slot = Window.slot(range.lowerBound)
        cells.withUnsafeBufferPointer { p in
            for i in range {
                let c = slot &* stride
                let n = p[c]
                if n > 0 {
                    if fold.oldest == .max { fold.oldest = i } // indices rise: the first is the oldest
                    fold.n += n
                    if sums { fold.sum += p[c &+ 1] }
                }
                slot = Window.nextSlot(slot)
            }
        }
        return fold
    }

    /// The walk of the window at `t`, the closed buckets' part from the fold kept since the
    /// newest bucket opened when `t` reads the whole ring (a sample's evaluation does): one
    /// bucket added per evaluation instead of 61, the same additions in the same order, so the
    /// same result to the bit as `walk`.
    private mutating func folded(_ range: ClosedRange<Int64>) -> Fold {
        guard keepsFold(of: range) else { return walk(range) }
        var fold = Fold(cells, at: Window.slots * Int(cellsPerBucket), needs)
        fold.add(cells, Window.slot(newest) * Int(cellsPerBucket), index: newest, needs)
        return fold
    }

    /// Whether `range` is the whole ring, whose closed buckets' fold the window keeps after its
    /// buckets (`folded`, `foldedCounts`); the kept fold is walked again here when a bucket has
    /// opened since.
    @inline(__always) private mutating func keepsFold(of range: ClosedRange<Int64>) -> Bool {
        let ringOldest = newest.subtractingSaturated(Int64(Window.slots - 1))
        guard range.upperBound == newest, range.lowerBound == ringOldest, newest > ringOldest else { return false }
        if foldedAt != newest { refold(from: ringOldest) }
        return true
    }

    /// Walks the closed buckets from `ringOldest` again and keeps their fold (once a bucket).
    @inline(never) private mutating func refold(from ringOldest: Int64) {
        walk(ringOldest...(newest - 1)).store(into: &cells, at: Window.slots * Int(cellsPerBucket), needs)
        foldedAt = newest
    }

    /// `folded` for a window keeping counts and at most sums (as `walkCounts`): the count, the
    /// sum and the oldest bucket with samples, read from the kept fold and the newest bucket
    /// with no `Fold` built and copied (~60 instructions a sample in decode_evaluate), the same
    /// additions.
    @inline(__always) private mutating func foldedCounts(_ range: ClosedRange<Int64>) -> (n: Double, sum: Double, oldest: Int64) {
        guard keepsFold(of: range) else {
            let fold = walkCounts(range)
            return (fold.n, fold.sum, fold.oldest)
        }
        let stride = Int(cellsPerBucket), keep = Window.slots * stride // a sum, if kept, is a bucket's second cell
        let c = Window.slot(newest) * stride, last = newest
        return cells.withUnsafeBufferPointer { p in
            var (n, sum, oldest) = (p[keep], stride > 1 ? p[keep + 1] : 0, Int64(bitPattern: p[keep + stride].bitPattern))
            if p[c] > 0 {
                oldest = Swift.min(oldest, last)
                n += p[c]
                if stride > 1 { sum += p[c + 1] }
            }
            return (n, sum, oldest)
        }
    }

    /// `f` over the buckets the window at `t` reads, and the index of the oldest of them that
    /// holds samples; nil when they hold too few. `fold` is the walk over them (`walk`, or
    /// `folded` where it may keep its work).
    private func evaluateBuckets(_ f: WindowFunction, _ range: ClosedRange<Int64>, _ fold: Fold, scratch: inout WindowScratch) -> (value: Double, oldest: Int64)? {
        let (n, sum, squares, lo, hi, inc, changes, first, last, oldest) =
            (fold.n, fold.sum, fold.squares, fold.lo, fold.hi, fold.inc, fold.changes, fold.first, fold.last, fold.oldest)
        guard n >= Double(f.samplesNeeded) else { return nil }
        let value: Double?
        switch f {
        case .count: value = n
        case .last: value = last
        case .delta: value = last - first
        case .sum: value = sum
        case .avg: value = sum / n
        case .stddev:
            let mean = sum / n
            value = (Swift.max(0, squares / n - mean * mean)).squareRoot()
        case .min: value = lo
        case .max: value = hi
        case .increase: value = inc
        case .rate: value = inc / (Double(width) / 1e9)
        case .changes: value = changes
        case .quantile(let q): value = quantile(q, of: range, count: n, scratch: &scratch)
        }
        return value.map { ($0, oldest) }
    }

    /// The value at rank ⌊q·(n−1)⌋ of the buckets in `range`, from a dense histogram of their
    /// codes (left zeroed again for the next window).
    private func quantile(_ q: Double, of range: ClosedRange<Int64>, count n: Double, scratch: inout WindowScratch) -> Double? {
        guard let codes else { return nil }
        if scratch.histogram.isEmpty { scratch.histogram = Array(repeating: 0, count: LogCode.count) }
        var lowest = LogCode.count, highest = -1
        var at = codes.start(after: EmptyCollection())
        scratch.histogram.withUnsafeMutableBufferPointer { h in
            func count(_ code: UInt32, _ n: UInt32) {
                let c = Int(code & 0x7FFF)
                h[c] &+= n
                lowest = Swift.min(lowest, c)
                highest = Swift.max(highest, c)
            }
            let oldest = newest.subtractingSaturated(Int64(Window.slots - 1))
            var slot = Window.slot(oldest)
            for i in oldest...range.upperBound {
                let length = codes.length(slot)
                slot = Window.nextSlot(slot)
                if i >= range.lowerBound {
                    if i == newest { codes.forEachOpen(count) } else { codes.decode(at..<(at + length), count) }
                }
                at += length
            }
        }
        guard highest >= 0 else { return nil }
        let rank = Int((q * (n - 1)).rounded(.down))
        var seen = 0
        var found = highest
        for code in lowest...highest {
            seen += Int(scratch.histogram[code])
            if seen > rank { found = code; break }
        }
        for code in lowest...highest { scratch.histogram[code] = 0 }
        return LogCode.value(UInt16(found), base: base)
    }

    /// Bytes held, for the memory report.
    var memoryBytes: Int {
        raw.capacity * MemoryLayout<RawSample>.stride + cells.capacity * 8 + (codes?.memoryBytes ?? 0)
    }
}

/// One sample of a window's exact ring.
struct RawSample {
    var time: Int64
    var value: Double
}

/// Reusable buffers for window evaluation, so evaluating allocates nothing once warm.
struct WindowScratch {
    var values: [Double] = []
    /// One count per `LogCode` (128 KiB), all zero between evaluations.
    var histogram: [UInt32] = []
}

@inline(__always) func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// a mod b, in [0, b) for b > 0. From the remainder, which cannot overflow: `a − floorDiv(a, b)·b`
/// did for a bucket index near Int64.min.
@inline(__always) func floorMod(_ a: Int64, _ b: Int64) -> Int64 {
    let r = a % b
    return r != 0 && (r < 0) != (b < 0) ? r + b : r
}

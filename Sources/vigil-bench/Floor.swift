import Foundation
import VigilEngine

/// decode_evaluate's floor (issue 16): the least an evaluator of the bench's rules can do for a
/// sample, measured in the same run and against the same ceiling, so that the distance between
/// the ceiling and the engine splits into what the rules cost any evaluator and what is the
/// engine's own.
///
/// It decodes with vigil's own decoder (at ~0.98 of the scan ceiling: decoding is at its floor
/// already), in batches of 1,000 lines as the engine does, then keeps per series the least
/// state that the four rules of each metric (`Workload.rules`) need, and steps them by hand:
/// - `m > 950`, and `m{venue="kalshi"} > 980` with the matcher's answer kept per series: a
///   compare each;
/// - `m > 900 for 1min`: a compare, and the series' pending-since kept and compared;
/// - `avg(m over 5m) > 800`: 60 buckets of 5 s (sum and count) and running totals, O(1) a
///   sample, and the window's next change (its deadline) kept per series, one store when a
///   bucket opens.
///
/// What it leaves out is what makes the engine an engine, each a cost the engine must pay and
/// the floor does not: any rule shape but these four (it is compiled by hand to them), exact
/// samples below 64 a window (the raw ring), a window's value the same to the bit as a fresh
/// walk (the floor subtracts from running totals, which drift), the buckets' phase, instances
/// and their state machines (a map a rule), a shared deadline schedule, staleness, the clock,
/// counters and transitions. So the floor bounds from below what decode_evaluate can reach.
enum Floor {
    static let width: Int64 = 300_000_000_000
    static let buckets: Int64 = 60
    static let bucketWidth = width / buckets

    struct SeriesHead {
        var newest = Int64.min        // the newest bucket's index
        var sum = 0.0, count = 0.0    // over the buckets in the window
        var pendingSince = Int64.min  // `for 1min`: when `m > 900` began to hold
        var nextChange = Int64.max    // the 5-minute window's deadline: its oldest bucket leaving
        var kalshi = false            // `venue="kalshi"`, matched once
        var seen = false
    }

    /// One run over `ranges`, the first `warmUp` lines untimed. Seconds and the scenario's fields.
    static func run(_ name: String, _ data: Data, _ ranges: [Range<Int>], series: Int, warmUp: Int) -> (Double, [(String, String)]) {
        var floor = Floor.State(series: series)
        defer { floor.free() }
        var seconds = 0.0
        data.withUnsafeBytes { raw in
            floor.feed(raw, ranges[..<warmUp])
            floor.samples = 0
            let start = nowNanos()
            floor.feed(raw, ranges[warmUp...])
            seconds = Double(nowNanos() - start) / 1e9
        }
        precondition(floor.samples == ranges.count - warmUp && floor.capped == 0, "floor: every line is one sample")
        return (seconds, [("bench", "\"\(name)\""), ("series", "\(floor.symbols.seriesCount)"), ("samples", "\(floor.samples)"),
                          ("holds", "\(floor.holds)"), ("deadlines_moved", "\(floor.deadlines)"),
                          ("samples_per_s", f(Double(floor.samples) / seconds, 0))])
    }

    /// A run's state, a value whose methods mutate it in place: local functions over captured
    /// variables would pay the runtime's exclusivity checks on each access (a third of the
    /// floor's instructions when it was written so).
    struct State {
        let symbols = Symbols(seriesCap: 10_000, seriesTotalCap: 1_000_000)
        var decoder = LineDecoder()
        let series: Int
        let heads: UnsafeMutableBufferPointer<SeriesHead>
        let cells: UnsafeMutableBufferPointer<Double>
        /// Each metric's thresholds (the same for every metric here, read as a compiled rule set
        /// would be): hot, held, kalshi, avg.
        let thresholds: [Double] = (0..<Workload.metrics).flatMap { _ -> [Double] in [950, 900, 980, 800] }
        let kalshi = Label("venue", "kalshi")
        var holds = 0, deadlines = 0, samples = 0, capped = 0
        var out: [Sample] = []

        init(series: Int) {
            self.series = series
            heads = .allocate(capacity: series)
            heads.initialize(repeating: SeriesHead())
            cells = .allocate(capacity: series * Int(buckets) * 2)
            cells.initialize(repeating: 0)
            out.reserveCapacity(1024)
        }

        func free() {
            heads.deallocate()
            cells.deallocate()
        }

        /// Decodes `lines` in batches of 1,000, as the engine does, and steps each batch's samples.
        mutating func feed(_ raw: UnsafeRawBufferPointer, _ lines: ArraySlice<Range<Int>>) {
            for r in lines {
                if out.count >= 1000 { stepAll() }
                _ = decoder.decode(UnsafeRawBufferPointer(rebasing: raw[r]), arrival: Instant(nanoseconds: 0), symbols: symbols, into: &out, capped: &capped)
            }
            stepAll()
        }

        private mutating func stepAll() {
            for k in out.indices { step(out[k]) }
            samples += out.count
            out.removeAll(keepingCapacity: true)
        }

        private mutating func step(_ s: Sample) {
            let id = Int(s.series)
            precondition(id < series, "floor: more series than the workload's")
            let t = s.time.nanoseconds, v = s.value
            var h = heads[id]
            if !h.seen {
                h.seen = true
                h.kalshi = symbols.labels(symbols.labelSet(of: s.series)).contains(kalshi)
            }
            let base = id * Int(buckets) * 2
            let b = t / bucketWidth
            if b != h.newest {
                if h.newest == .min || b - h.newest >= buckets {
                    for k in base..<(base + Int(buckets) * 2) { cells[k] = 0 }
                    h.sum = 0
                    h.count = 0
                } else {
                    var i = h.newest
                    while i < b {
                        i += 1
                        let slot = base + Int(i % buckets) * 2
                        h.sum -= cells[slot]
                        h.count -= cells[slot + 1]
                        cells[slot] = 0
                        cells[slot + 1] = 0
                    }
                }
                h.newest = b
                h.nextChange = (b - buckets + 2) * bucketWidth + width // the end of the oldest bucket, plus W
                deadlines += 1
            }
            let slot = base + Int(b % buckets) * 2
            cells[slot] += v
            cells[slot + 1] += 1
            h.sum += v
            h.count += 1
            let r = Int(symbols.metric(of: s.series)) * 4
            var held = 0
            if v > thresholds[r] { held += 1 }
            if v > thresholds[r + 1] {
                if h.pendingSince == .min { h.pendingSince = t } else if t - h.pendingSince >= 60_000_000_000 { held += 1 }
            } else {
                h.pendingSince = .min
            }
            if h.kalshi, v > thresholds[r + 2] { held += 1 }
            if h.sum / h.count > thresholds[r + 3] { held += 1 }
            heads[id] = h
            holds += held
        }
    }
}

import Foundation
import Testing
@testable import VigilEngine
@testable import VigilRules

/// Reference implementations over raw samples, straight from the definitions in the README.
enum Reference {
    static func evaluate(_ f: WindowFunction, _ s: [(Int64, Double)]) -> Double? {
        guard !s.isEmpty else { return nil }
        if s.count < 2, [.rate, .increase, .delta].contains(f) { return nil } // a change needs two samples
        let v = s.map(\.1)
        switch f {
        case .avg: return v.reduce(0, +) / Double(v.count)
        case .sum: return v.reduce(0, +)
        case .count: return Double(v.count)
        case .min: return v.min()
        case .max: return v.max()
        case .last: return v.last
        case .delta: return v.last! - v.first!
        case .increase, .rate:
            var inc = 0.0
            for k in v.indices.dropFirst() { inc += v[k] >= v[k - 1] ? v[k] - v[k - 1] : v[k] }
            return inc
        case .changes: return Double(zip(v, v.dropFirst()).filter { $0 != $1 }.count)
        case .stddev:
            let m = v.reduce(0, +) / Double(v.count)
            return (v.map { ($0 - m) * ($0 - m) }.reduce(0, +) / Double(v.count)).squareRoot()
        case .quantile(let q): return v.sorted()[Int((q * Double(v.count - 1)).rounded(.down))]
        }
    }
}

func close(_ a: Double?, _ b: Double?, relative: Double) -> Bool {
    guard let a, let b else { return a == nil && b == nil }
    return abs(a - b) <= relative * max(abs(a), abs(b), 1e-9)
}

extension WindowNeeds {
    /// What every function needs: a window any function may be asked of.
    static let everything = WindowNeeds(rawValue: WindowNeeds.cells.rawValue | WindowNeeds.quantiles.rawValue)
}

/// A test's stream of choices, from a seed: an LCG's high bits, `next(n)` in 0..<n.
struct Choices {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ n: UInt64) -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (state >> 33) % n
    }

    /// A window test's stream: moves `t` to its next sample's time (mostly under a second on,
    /// now and then the same time again, or a gap of up to 200 s, sometimes longer than the
    /// ring) and says how late that sample comes (1 in 10: up to 30 s, into a closed bucket or
    /// older than the ring).
    mutating func step(_ t: inout Int64) -> Int64 {
        let s: Int64 = 1_000_000_000
        switch next(100) {
        case 0: t += Int64(next(200)) * s
        case 1...5: break
        default: t += Int64(next(800)) * s / 1000
        }
        return next(10) == 0 ? Int64(next(30)) * s : 0
    }
}

struct WindowTests {
    /// The raw ring, full at 8 samples, grows to what the window will hold at the rate they came
    /// (at most 64): at once for a series that will fill it, by what it needs for a slow one.
    @Test func theRawRingGrowsForWhatTheWindowWillHold() {
        let s: Int64 = 1_000_000_000
        func bytes(every gap: Int64, samples: Int) -> Int {
            var w = Window(width: 300 * s, needs: .sum)
            for k in 0..<samples { w.add(time: Int64(k) * gap, value: 1) }
            return w.memoryBytes
        }
        #expect(bytes(every: s, samples: 8) == 8 * 16)
        #expect(bytes(every: s, samples: 9) >= 64 * 16, "1 s apart, a 5-minute window fills the ring")
        let slow = bytes(every: 10 * s, samples: 9) // 8 in 70 s: ~35 in 300 s
        #expect(slow >= 35 * 16 && slow < 48 * 16)
        #expect(bytes(every: 0, samples: 9) >= 64 * 16, "all at one instant")
        #expect(bytes(every: 40 * s, samples: 9) == 16 * 16, "about 8 in the window: it doubles")
    }

    /// A bucketed window keeps the fold of its closed buckets between evaluations (`folded`);
    /// whatever the stream does (late samples into closed buckets, gaps that empty the ring,
    /// evaluations between samples), each function's value and hint equal a fresh walk's to
    /// the bit.
    @Test(arguments: [1, 2, 3] as [UInt64])
    func theKeptFoldGivesTheWalksValueToTheBit(seed: UInt64) {
        var choices = Choices(seed: seed)
        let s: Int64 = 1_000_000_000
        let functions: [WindowFunction] = [.avg, .min, .max, .sum, .count, .last, .rate, .increase, .delta, .changes, .stddev, .quantile(0.9)]
        var w = Window(width: 60 * s, needs: .everything)
        var scratch = WindowScratch()
        var t: Int64 = 0
        var compared = 0
        for _ in 0..<4000 {
            let late = choices.step(&t)
            w.add(time: t - late, value: Double(choices.next(1000)) / 10)
            guard w.isBucketed else { continue }
            for at in [t, t + Int64(choices.next(3000)) * s / 1000] {
                let f = functions[Int(choices.next(UInt64(functions.count)))]
                let walked = w.evaluate(f, at: at, scratch: &scratch)
                let kept = w.evaluateInPlace(f, at: at, scratch: &scratch)
                #expect(kept?.value.bitPattern == walked?.bitPattern, "\(f) at \(at)")
                compared += 1
            }
        }
        #expect(compared > 5000)
    }

    /// A window keeping only counts and sums walks its buckets on a path of its own; fed the
    /// same stream as one that keeps more (and so walks every field), its count, sum and avg,
    /// and their hints, are the same to the bit, fresh or from the kept fold.
    @Test func theCountsAndSumsWalkIsTheFullWalk() {
        var choices = Choices(seed: 9)
        let s: Int64 = 1_000_000_000
        var scratch = WindowScratch()
        var compared = 0
        for (lean, full, functions) in [(WindowNeeds.sum, WindowNeeds([.sum, .max]), [WindowFunction.avg, .sum, .count]),
                                        (WindowNeeds(), WindowNeeds.max, [WindowFunction.count])] {
            var a = Window(width: 60 * s, needs: lean), b = Window(width: 60 * s, needs: full)
            var t: Int64 = 0
            for _ in 0..<3000 {
                let late = choices.step(&t)
                let value = Double(choices.next(1000)) / 10 * [1e-3, 1, 1e9][Int(choices.next(3))]
                a.add(time: t - late, value: value)
                b.add(time: t - late, value: value)
                guard a.isBucketed else { continue }
                for at in [t, t + Int64(choices.next(3000)) * s / 1000] {
                    let f = functions[Int(choices.next(UInt64(functions.count)))]
                    let walked = b.evaluate(f, at: at, scratch: &scratch)
                    #expect(a.evaluate(f, at: at, scratch: &scratch)?.bitPattern == walked?.bitPattern, "\(f) at \(at)")
                    // In place: the kept fold, and a time past the newest bucket opening its bucket.
                    let (x, y) = (a.evaluateInPlace(f, at: at, scratch: &scratch), b.evaluateInPlace(f, at: at, scratch: &scratch))
                    #expect(x?.value.bitPattern == y?.value.bitPattern && x?.hint == y?.hint && x?.value.bitPattern == walked?.bitPattern, "\(f) at \(at)")
                    compared += 1
                }
            }
        }
        #expect(compared > 8000)
    }

    /// A window keeping counts and sums switches from raw samples to buckets in one pass when
    /// its samples come in order (`bulkAddCounts`, the engine's case); fed the same stream as
    /// one that keeps more (and so adds each sample on its own), its count, sum and avg, and
    /// their hints, are the same to the bit, right after the switch and on. Widths whose
    /// buckets divide them and do not, phases, negative times, repeated instants.
    @Test func theOnePassSwitchHoldsWhatSampleBySampleHolds() {
        var choices = Choices(seed: 21)
        var scratch = WindowScratch()
        let s: Int64 = 1_000_000_000
        var switched = 0, compared = 0
        for round in 0..<60 {
            let width = [60 * s, 300 * s, 7 * s + 3][round % 3]
            let seed = choices.next(1 << 40)
            var a = Window(width: width, needs: .sum, phaseSeed: seed), b = Window(width: width, needs: [.sum, .max], phaseSeed: seed)
            var t = Int64(choices.next(2_000_000)) * s - 1_000_000 * s
            for k in 0..<120 {
                t += Int64(choices.next(UInt64(width / 50))) // ~100 a window: it switches within the first W or so
                let value = Double(choices.next(1000)) / 10 * [1e-3, 1, 1e9][Int(choices.next(3))]
                let before = a.isBucketed
                a.add(time: t, value: value)
                b.add(time: t, value: value)
                #expect(a.isBucketed == b.isBucketed, "round \(round), sample \(k)")
                guard a.isBucketed else { continue }
                if !before { switched += 1 }
                for at in [t, t + Int64(choices.next(UInt64(width / 10)))] {
                    let f = [WindowFunction.avg, .sum, .count][Int(choices.next(3))]
                    #expect(a.evaluate(f, at: at, scratch: &scratch)?.bitPattern == b.evaluate(f, at: at, scratch: &scratch)?.bitPattern, "round \(round): \(f) at \(at)")
                    let (x, y) = (a.evaluateInPlace(f, at: at, scratch: &scratch), b.evaluateInPlace(f, at: at, scratch: &scratch))
                    #expect(x?.value.bitPattern == y?.value.bitPattern && x?.hint == y?.hint, "round \(round): \(f) at \(at) in place")
                    compared += 1
                }
            }
        }
        #expect(switched == 60)
        #expect(compared > 2_000)
    }

    /// An exact window keeps the sum its last `sum` or `avg` found (`rawSum`) and adds only the
    /// samples since; whatever the stream does (samples leaving, the ring compacting, late
    /// samples, evaluations before the newest sample or between samples, a run of samples with
    /// none, so the ring compacts under a kept sum), each value equals
    /// adding all the window's samples again, to the bit: values of mixed magnitude make any
    /// other order of additions show.
    @Test(arguments: [4, 5, 6] as [UInt64])
    func theKeptRawSumGivesAFreshSumToTheBit(seed: UInt64) {
        var choices = Choices(seed: seed)
        let s: Int64 = 1_000_000_000
        let magnitudes = [1e-3, 0.1, 1, 7, 1e6, 1e15]
        var compared = 0, kept = 0
        for _ in 0..<80 {
            var w = Window(width: 30 * s, needs: .sum)
            var scratch = WindowScratch()
            var t: Int64 = 0, quiet = 0
            for _ in 0..<300 {
                t += Int64(choices.next(1500)) * s / 1000 // at 0.75 s on average, 40 samples a window: it stays exact
                let late = choices.next(15) == 0 ? Int64(choices.next(5)) * s : 0
                w.add(time: t - late, value: Double(choices.next(1000)) * magnitudes[Int(choices.next(UInt64(magnitudes.count)))])
                if quiet > 0 { quiet -= 1 } else if choices.next(20) == 0 { quiet = Int(choices.next(60)) }
                for _ in 0..<(quiet > 0 ? 0 : Int(choices.next(3))) {
                    let at = t - Int64(choices.next(2000)) * s / 1000 + Int64(choices.next(1000)) * s / 1000
                    let f: WindowFunction = choices.next(2) == 0 ? .sum : .avg
                    let fresh = w.evaluate(f, at: at, scratch: &scratch)
                    let value = w.evaluateInPlace(f, at: at, scratch: &scratch)?.value
                    #expect(value?.bitPattern == fresh?.bitPattern, "\(f) at \(at)")
                    compared += 1
                    if fresh != nil { kept += 1 }
                }
            }
            #expect(!w.isBucketed)
        }
        #expect(compared > 8000 && kept > 8000)
    }

    /// A window's phase is a shift of time and nothing else: fed (t, v) and evaluated at t, a
    /// window with phase φ gives, to the bit, what one without a phase gives fed (t + φ, v) and
    /// evaluated at t + φ, for every function, fresh or from the kept fold, with late samples
    /// and gaps; and its hint is that one's less φ.
    @Test(arguments: [7, 8] as [UInt64])
    func aPhaseIsAShiftOfTime(seed: UInt64) {
        var choices = Choices(seed: seed)
        let s: Int64 = 1_000_000_000
        let functions: [WindowFunction] = [.avg, .min, .max, .sum, .count, .last, .rate, .increase, .delta, .changes, .stddev, .quantile(0.9)]
        var compared = 0
        for needs in [WindowNeeds.everything, WindowNeeds.sum] {
            let seedForPhase = choices.next(1 << 40)
            var phased = Window(width: 60 * s, needs: needs, phaseSeed: seedForPhase), plain = Window(width: 60 * s, needs: needs)
            let phi = phased.phase
            #expect(phi > 0 && phi < phased.bucketWidth && plain.phase == 0)
            var scratch = WindowScratch()
            var t: Int64 = 0
            for _ in 0..<3000 {
                let late = choices.step(&t)
                let value = Double(choices.next(1000)) / 10
                phased.add(time: t - late, value: value)
                plain.add(time: t - late + phi, value: value)
                guard phased.isBucketed else { continue }
                #expect(plain.isBucketed)
                for at in [t, t + Int64(choices.next(3000)) * s / 1000] {
                    let f = needs == .sum ? [WindowFunction.avg, .sum, .count][Int(choices.next(3))] : functions[Int(choices.next(UInt64(functions.count)))]
                    #expect(phased.evaluate(f, at: at, scratch: &scratch)?.bitPattern == plain.evaluate(f, at: at + phi, scratch: &scratch)?.bitPattern, "\(f) at \(at)")
                    let (x, y) = (phased.evaluateInPlace(f, at: at, scratch: &scratch), plain.evaluateInPlace(f, at: at + phi, scratch: &scratch))
                    #expect(x?.value.bitPattern == y?.value.bitPattern && x.map { $0.hint == .max ? .max : $0.hint + phi } == y?.hint, "\(f) at \(at)")
                    compared += 1
                }
            }
        }
        #expect(compared > 5000)
    }

    /// A bucketed window finds a time's bucket without a division when the time is in its newest
    /// bucket, and (t − W)'s as 60 before t's when W is 60 buckets exactly: both give what the
    /// divisions give, for widths that divide by 60 and widths that do not, at times near the
    /// ends of Int64 where the newest bucket's bounds do not fit.
    @Test func theBucketOfATimeIsTheDivisionsWithoutIt() {
        var choices = Choices(seed: 11)
        let s: Int64 = 1_000_000_000
        var checked = 0
        for width in [300 * s, 299 * s, 60, 61, 7, 1, 3_600 * s + 1] {
            for origin in [Int64(0), -5 * width, Int64.min + 100, Int64.min, Int64.max - 3 * width, Int64.max] {
                var w = Window(width: width, needs: .sum)
                let bw = w.bucketWidth
                var t = origin
                for _ in 0..<300 {
                    let step = Int64(choices.next(UInt64(min(4 * bw, Int64(1) << 40)))) / 2
                    t = t.addingSaturated(step)
                    w.add(time: t, value: 1)
                    guard w.isBucketed else { continue }
                    for at in [t, t.subtractingSaturated(1), t.addingSaturated(bw), t.addingSaturated(Int64(choices.next(UInt64(bw))) + 1), t.subtractingSaturated(width)] {
                        #expect(w.bucketIndex(at) == floorDiv(at, bw), "W \(width) t \(at)")
                        // The division's form of the range, as the window had it (t is the newest sample).
                        let newest = floorDiv(t, bw)
                        let lo = max(floorDiv(at.subtractingSaturated(width), bw), newest.subtractingSaturated(Int64(Window.slots - 1)))
                        let hi = min(floorDiv(at, bw), newest)
                        #expect(w.included(at: at) == (lo <= hi ? lo...hi : nil), "W \(width) t \(at)")
                        checked += 1
                    }
                }
            }
        }
        #expect(checked > 20_000)
    }

    /// When a window may next change with no new sample (the evaluator's deadline): when its
    /// oldest sample leaves, exact or bucketed (its oldest non-empty bucket's end plus W), never
    /// sooner than a second on.
    @Test func theHintIsWhenTheOldestSampleOrBucketLeaves() {
        let s: Int64 = 1_000_000_000
        var scratch = WindowScratch()
        var exact = Window(width: 60 * s, needs: .sum)
        for k in 1...10 { exact.add(time: Int64(k) * s, value: Double(k)) }
        #expect(exact.evaluateInPlace(.avg, at: 10 * s, scratch: &scratch)! == (5.5, 61 * s))
        #expect(exact.evaluateInPlace(.avg, at: 61 * s, scratch: &scratch)! == (6, 62 * s))
        // 1 s buckets for a minute; 100 samples make it bucketed; the oldest, at 3.5 s, is bucket 3.
        var bucketed = Window(width: 60 * s, needs: .sum)
        for k in 0..<100 { bucketed.add(time: 3 * s + s / 2 + Int64(k) * s / 2, value: 1) }
        #expect(bucketed.isBucketed)
        #expect(bucketed.evaluateInPlace(.avg, at: 53 * s, scratch: &scratch)! == (1, 64 * s))
        // At 74 s buckets 3 to 13 (21 samples) have left; 14, partly inside, is the oldest read.
        #expect(bucketed.evaluateInPlace(.sum, at: 74 * s, scratch: &scratch)! == (79, 75 * s))
        // At most once a second: an expiry due now is asked for a second later.
        #expect(bucketed.evaluateInPlace(.count, at: 75 * s + s / 2, scratch: &scratch)!.hint == 76 * s + s / 2)
    }

    /// avg, rate, increase and p95 (and the rest) agree with brute force over 1,000 random series
    /// while every window fits the exact ring.
    @Test func exactModeAgreesWithBruteForce() async {
        var rng = SplitMix64(seed: 1234)
        var scratch = WindowScratch()
        let functions: [WindowFunction] = [.avg, .rate, .increase, .quantile(0.95), .min, .max, .sum, .count, .last, .delta, .changes, .stddev]
        for series in 0..<1000 {
            if series % 50 == 0 { await Task.yield() } // long and CPU-bound: let other tests' tasks run
            let width = Int64(1 + rng.next() % 600) * 1_000_000_000
            var w = Window(width: width, needs: .everything)
            var samples: [(Int64, Double)] = []
            var t: Int64 = Int64(rng.next() % 1_000_000_000)
            let counter = series % 3 == 0
            var level = 0.0
            for _ in 0..<Window.rawCapacity {
                t += Int64(1 + rng.next() % 5_000) * 1_000_000 // 1 ms to 5 s apart
                let value: Double
                if counter {
                    level = rng.next() % 50 == 0 ? 0 : level + Double(rng.next() % 100) // with resets
                    value = level
                } else {
                    value = Double(Int64(rng.next() % 200_000) - 50_000) / 7
                }
                w.add(time: t, value: value)
                samples.append((t, value))
                let at = t + Int64(rng.next() % 2_000_000_000)
                let inWindow = samples.filter { $0.0 > at - width && $0.0 <= at }
                let f = functions[Int(rng.next() % UInt64(functions.count))]
                var expected = Reference.evaluate(f, inWindow)
                if f == .rate, let e = expected { expected = e / (Double(width) / 1e9) }
                let actual = w.evaluate(f, at: at, scratch: &scratch)
                #expect(close(actual, expected, relative: 1e-9), "series \(series) \(f): \(String(describing: actual)) vs \(String(describing: expected))")
            }
            #expect(!w.isBucketed)
        }
    }

    /// Past `rawCapacity` samples in a window it switches to buckets; results then match brute force over
    /// the buckets it covers (at most W/60 before the window), and quantiles are within 1%.
    @Test func bucketModeStaysWithinItsErrorBound() async {
        var rng = SplitMix64(seed: 99)
        var scratch = WindowScratch()
        for series in 0..<100 {
            if series % 5 == 0 { await Task.yield() } // long and CPU-bound: let other tests' tasks run
            let width: Int64 = 3_600_000_000_000 // 1 hour
            var w = Window(width: width, needs: .everything)
            var samples: [(Int64, Double)] = []
            var t: Int64 = 0
            for _ in 0..<5_000 {
                t += Int64(1 + rng.next() % 2_000) * 1_000_000
                let value = exp(Double(rng.next() % 10_000) / 1_000) // spread over four decades
                w.add(time: t, value: value)
                samples.append((t, value))
            }
            #expect(w.isBucketed)
            let bucketWidth = width / Int64(Window.bucketCount)
            let covered = floorDiv(t - width, bucketWidth) * bucketWidth
            #expect(t - width - covered < bucketWidth)
            let reference = samples.filter { $0.0 >= covered && $0.0 <= t }
            for f in [WindowFunction.avg, .count, .sum, .min, .max, .last] {
                #expect(close(w.evaluate(f, at: t, scratch: &scratch), Reference.evaluate(f, reference), relative: 1e-9), "series \(series) \(f)")
            }
            for q in [0.5, 0.9, 0.95, 0.99] {
                let actual = w.evaluate(.quantile(q), at: t, scratch: &scratch)
                #expect(close(actual, Reference.evaluate(.quantile(q), reference), relative: 0.01), "series \(series) p\(q)")
            }
        }
    }

    @Test func bucketsLeavingTheWindowLeaveTheQuantiles() {
        let hour: Int64 = 3_600_000_000_000
        var w = Window(width: hour, needs: .quantiles)
        var scratch = WindowScratch()
        var t: Int64 = 0
        while t < hour { w.add(time: t, value: 1000); t += 1_000_000_000 }      // a high first hour
        #expect(w.isBucketed)
        while t < 2 * hour { w.add(time: t, value: 10); t += 1_000_000_000 }    // then a low one
        // At 2h − 1s the oldest bucket (3540–3600 s, all high) is still partly inside: the bound.
        #expect(close(w.evaluate(.quantile(0.99), at: t - 1, scratch: &scratch), 1000, relative: 0.01))
        #expect(close(w.evaluate(.quantile(0.95), at: t - 1, scratch: &scratch), 10, relative: 0.01))
        // A minute later it has left wholly, and the running total with it.
        let p99 = w.evaluate(.quantile(0.99), at: t + 59_000_000_000, scratch: &scratch)
        #expect(close(p99, 10, relative: 0.01), "\(String(describing: p99))")
        // With no samples for two more hours, everything has left.
        #expect(w.evaluate(.quantile(0.5), at: 4 * hour, scratch: &scratch) == nil)
    }

    @Test func samplesLeaveTheWindow() {
        var w = Window(width: 10_000_000_000, needs: .sum)
        var scratch = WindowScratch()
        w.add(time: 0, value: 5)
        w.add(time: 5_000_000_000, value: 7)
        #expect(w.evaluate(.avg, at: 9_999_999_999, scratch: &scratch) == 6)
        #expect(w.evaluate(.avg, at: 10_000_000_000, scratch: &scratch) == 7) // (t − W, t]: 0 is out
        #expect(w.evaluate(.avg, at: 15_000_000_000, scratch: &scratch) == nil)
    }

    @Test func codesAreWithinTheirRelativeAccuracyAndOrdered() {
        let base = LogCode.bin(500)
        let xs = [-1e40, -5, -0.01, 0, 1e-6, 0.001, 0.7, 1, 2000, 123_456.789, 1e12, 1e50]
        for x in xs {
            let back = LogCode.value(LogCode.code(x, base: base), base: base)
            #expect(abs(back - x) <= LogCode.relativeAccuracy * abs(x) * 1.0000001, "\(x) -> \(back)")
        }
        let codes = xs.map { LogCode.code($0, base: base) }
        #expect(codes == codes.sorted() && Set(codes).count == codes.count)
        // Beyond 2^13 bins from the base (a factor of ~1e57), values count as the last bin.
        #expect(LogCode.code(1e300, base: base) == LogCode.code(1e200, base: base))
        #expect(LogCode.code(1e300, base: base) == 0x7FFF && LogCode.code(-1e300, base: base) == 0x0001)
        #expect(LogCode.code(.infinity, base: base) == 0x7FFF && LogCode.code(.nan, base: base) == LogCode.zero)
    }

    /// A bucketed window keeps only what its functions need, and each function agrees with a
    /// window that keeps everything, on the same samples.
    @Test func aWindowKeepsOnlyWhatItsFunctionsNeed() {
        let functions: [WindowFunction] = [.avg, .rate, .increase, .quantile(0.95), .min, .max, .sum, .count, .last, .delta, .changes, .stddev]
        var rng = SplitMix64(seed: 5)
        var scratch = WindowScratch()
        let width: Int64 = 600_000_000_000
        var full = Window(width: width, needs: .everything)
        var each = functions.map { Window(width: width, needs: WindowNeeds($0)) }
        var t: Int64 = 0
        for step in 0..<3_000 {
            t += Int64(1 + rng.next() % 1_000) * 1_000_000
            let value = step % 7 == 0 ? 0 : Double(rng.next() % 5_000) / 3
            full.add(time: t, value: value)
            for k in each.indices { each[k].add(time: t, value: value) }
            let at = t + Int64(rng.next() % 20_000_000_000)
            for (k, f) in functions.enumerated() {
                #expect(each[k].evaluate(f, at: at, scratch: &scratch) == full.evaluate(f, at: at, scratch: &scratch), "\(f) at step \(step)")
            }
        }
        // 61 buckets × (count + the fields), and the closed buckets' fold (one bucket's cells
        // and its oldest index): avg keeps 2 cells, rate 5, count 1; p95 keeps the count and
        // its codes: under 2 bytes a sample (about one when closed, 4 a distinct value in the
        // open bucket). The allocator may round a capacity up by a few elements.
        func cells(_ stride: Int) -> ClosedRange<Int> { ((62 * stride + 1) * 8)...((62 * stride + 1) * 8 + 24) }
        #expect(each[0].isBucketed)
        #expect(cells(2).contains(each[0].memoryBytes))
        #expect(cells(5).contains(each[1].memoryBytes))
        #expect(cells(1).contains(each[7].memoryBytes))
        let held = Int(full.evaluate(.count, at: t, scratch: &scratch) ?? 0)
        #expect(held > 1_000 && each[3].memoryBytes < 63 * 8 + 61 * 4 + 2 * held, "\(each[3].memoryBytes) bytes for \(held) samples")
    }

    /// A value repeated past what one count entry holds (0x7FFF) is counted exactly, and the
    /// quantiles around it rank it right.
    @Test func aRepeatedValueIsCountedExactly() {
        var w = Window(width: 60_000_000_000, needs: .quantiles)
        var scratch = WindowScratch()
        for k in 0..<100_000 { w.add(time: Int64(k) * 100, value: 7) }   // all in one bucket
        for k in 0..<10 { w.add(time: 10_000_000 + Int64(k), value: 1000) }
        #expect(w.evaluate(.count, at: 20_000_000, scratch: &scratch) == 100_010)
        #expect(close(w.evaluate(.quantile(0.9999), at: 20_000_000, scratch: &scratch), 7, relative: 0.008))
        #expect(close(w.evaluate(.quantile(1), at: 20_000_000, scratch: &scratch), 1000, relative: 0.008))
        #expect(close(w.evaluate(.quantile(0), at: 20_000_000, scratch: &scratch), 7, relative: 0.008))
    }

    /// Samples that arrive late, into a bucket older than the newest, land in their own bucket.
    @Test func aLateSampleLandsInItsBucket() {
        let minute: Int64 = 60_000_000_000
        var w = Window(width: 60 * minute, needs: [.quantiles, .sum])
        var scratch = WindowScratch()
        var t: Int64 = 0
        while t < 10 * minute { w.add(time: t, value: 10); t += minute / 50 }  // 500 samples
        #expect(w.isBucketed)
        w.add(time: 2 * minute + 1, value: 1e6)                                 // late, into minute 2
        #expect(w.evaluate(.count, at: t, scratch: &scratch) == 501)
        #expect(close(w.evaluate(.quantile(1), at: t, scratch: &scratch), 1e6, relative: 0.008))
        #expect(w.evaluate(.sum, at: t, scratch: &scratch) == 500 * 10 + 1e6)
        // Once minute 2 leaves the window (at 62 min + a bucket), so does the late sample.
        #expect(close(w.evaluate(.quantile(1), at: 63 * minute + 1, scratch: &scratch), 10, relative: 0.008))
    }
}

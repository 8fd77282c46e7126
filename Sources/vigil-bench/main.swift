import Foundation
import Glibc
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules
import VigilSidecar
import VigilTestSupport

/// vigil-bench: one JSON line per scenario. Run it in release: `swift run -c release vigil-bench`
/// (optionally with scenario names to run only those). Timings come from batches (not per-call
/// clock reads, which would distort them); peak RSS is VmHWM, reset between scenarios.

func line(_ fields: [(String, String)]) {
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
    fflush(nil)
}

func f(_ x: Double, _ digits: Int = 3) -> String { String(format: "%.\(digits)f", x) }

func nowNanos() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

/// Peak resident set since the last reset, in bytes (Linux: /proc/self/status VmHWM).
func peakRSS() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}

func resetPeakRSS() {
    if let h = FileHandle(forWritingAtPath: "/proc/self/clear_refs") { h.write(Data("5".utf8)); try? h.close() }
}

func percentile(_ sorted: [Double], _ q: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(q * Double(sorted.count)))] }

// MARK: - Lint

func benchLint() {
    let text = SyntheticRules.file(alerts: 1000, seed: 42, messy: false)
    let file = SourceFile(path: "bench.rules", text: text)
    var samples: [Double] = []
    var alerts = 0
    for _ in 0..<21 {
        let start = nowNanos()
        alerts = Linter.lint(ruleFiles: [file]).alerts.count
        samples.append(Double(nowNanos() - start) / 1e6)
    }
    samples.removeFirst()
    samples.sort()
    line([("bench", "\"lint_1000_rules\""), ("rules", "\(alerts)"), ("bytes", "\(file.bytes.count)"),
          ("median_ms", f(samples[samples.count / 2])), ("min_ms", f(samples[0])), ("budget_ms", "100")])
}

// MARK: - Stream workload

/// 50 metrics × 200 series (venue × market) = 10,000 series, each value a slow random walk,
/// lines 100 µs apart (so each series gets a sample every second).
struct Workload {
    static let metrics = 50
    static let seriesPerMetric = 200

    static let series = metrics * seriesPerMetric

    /// `count` lines over `metrics` metrics × `seriesPerMetric` series, round robin, one every 100 µs.
    static func lines(_ count: Int, seriesPerMetric: Int = seriesPerMetric) -> (Data, [Range<Int>]) {
        var rng = SplitMix64(seed: 7)
        var walk = Array(repeating: 500.0, count: metrics * seriesPerMetric)
        var out = Data()
        out.reserveCapacity(count * 110)
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(count)
        let base: Int64 = 1_736_949_600_000_000_000
        for i in 0..<count {
            let s = i % walk.count
            walk[s] = max(0, min(1000, walk[s] + Double(Int64(rng.next() % 21) - 10)))
            let t = Instant(nanoseconds: base + Int64(i) * 100_000)
            let venue = s % 2 == 0 ? "kalshi" : "polymarket"
            let text = "{\"ts\":\"\(t.rfc3339)\",\"metric\":\"m\(s / seriesPerMetric)\",\"labels\":{\"venue\":\"\(venue)\",\"market\":\"mk\(s % seriesPerMetric / 2)\"},\"value\":\(Int(walk[s]))}"
            let start = out.count
            out.append(contentsOf: text.utf8)
            ranges.append(start..<out.count)
        }
        return (out, ranges)
    }

    /// 4 rules per metric, for `metrics` metrics (the stream carries the first 50): instant,
    /// with `for`, with a matcher, and a 5-minute average.
    static func rules(metrics: Int = metrics) -> String {
        var text = ""
        for m in 0..<metrics {
            text += "metric m\(m) labels venue, market\n"
            text += "alert hot_\(m) { when m\(m) > 950; severity warning; notify slack }\n"
            text += "alert held_\(m) { when m\(m) > 900 for 1min; severity warning; notify slack }\n"
            text += "alert kalshi_\(m) { when m\(m){venue=\"kalshi\"} > 980; severity info; notify slack }\n"
            text += "alert avg_\(m) { when avg(m\(m) over 5m) > 800; severity info; notify slack }\n"
        }
        return text
    }
}

/// How many runs `medianRun` and `againstCeiling` take (BENCH_RUNS; 1 under callgrind).
let benchRuns = max(1, ProcessInfo.processInfo.environment["BENCH_RUNS"].flatMap { Int($0) } ?? 5)

/// Runs a scenario `runs` times and keeps the median run (by its first number): this machine's
/// run-to-run noise is ~30%, so one run proves little.
func medianRun(_ runs: Int = benchRuns, _ body: () -> (Double, [(String, String)])) -> [(String, String)] {
    var results = (0..<runs).map { _ in body() }
    results.sort { $0.0 < $1.0 }
    return results[runs / 2].1 + [("runs", "\(runs)")]
}

/// A scenario and its ceiling, run in `runs` interleaved pairs, so that both meet the host's
/// quiet and busy moments alike. The scenario's fields are those of its fastest run; the ratio
/// is of the two fastest runs (each the least disturbed: on this host another tenant's thread
/// on the same core slows a decoder's high-IPC code far more than the ceiling's byte loop, so
/// a ratio of runs taken at different moments swings from 0.5 to 0.9), and the ratio of the
/// two medians stands beside it for what a busy host gives.
func againstCeiling(_ body: () -> (Double, [(String, String)]), ceiling: () -> Double, items: Int, rate: String,
                    runs: Int = benchRuns) -> [(String, String)] {
    var scenario: [(rate: Double, fields: [(String, String)])] = [], ceilings: [Double] = []
    for _ in 0..<runs {
        let (_, fields) = body()
        scenario.append((fields.first { $0.0 == rate }.flatMap { Double($0.1) } ?? 0, fields))
        ceilings.append(Double(items) / ceiling())
    }
    scenario.sort { $0.rate > $1.rate }
    ceilings.sort(by: >)
    return scenario[0].fields + [("runs", "\(runs)"), ("ceiling_\(rate)", f(ceilings[0], 0)),
                                 ("ratio_to_ceiling", f(scenario[0].rate / ceilings[0], 3)),
                                 ("ratio_to_ceiling_median", f(scenario[runs / 2].rate / ceilings[runs / 2], 3))]
}

func benchDecode(_ data: Data, _ ranges: [Range<Int>]) {
    line(againstCeiling({ decodeOnce(data, ranges) }, ceiling: { Ceiling.scan(data, ranges, sumInto: nil) }, items: ranges.count, rate: "lines_per_s"))
}

/// What the machine allows for the same input, measured in the same run (issue 16): a minimal
/// scanner that finds each line's `"value":` and parses its number, and for evaluation the same
/// with each sample summed into a flat array by its series. A scenario's ratio to its ceiling
/// stays comparable on a noisy machine where absolute rates swing by 30%.
enum Ceiling {
    /// Scans every line forward, byte by byte, to `"value":` and parses the integer after it;
    /// with `sumInto`, hashes the bytes before it (metric and labels: the series) and adds the
    /// value to that slot of a flat array, as the least an evaluator must do. Seconds.
    static func scan(_ data: Data, _ ranges: [Range<Int>], sumInto series: Int?) -> Double {
        var flat = [Double](repeating: 0, count: max(1, series ?? 1))
        var total = 0.0
        let start = nowNanos()
        data.withUnsafeBytes { raw in
            let bytes = raw.bindMemory(to: UInt8.self)
            for r in ranges {
                var i = r.lowerBound
                let end = r.upperBound - 8
                var h: UInt64 = 0xcbf2_9ce4_8422_2325
                var found = -1
                while i < end {
                    let b = bytes[i]
                    if b == 0x22, bytes[i + 1] == 0x76, bytes[i + 6] == 0x22, bytes[i + 7] == 0x3A { found = i + 8; break }
                    if series != nil { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
                    i += 1
                }
                guard found >= 0 else { continue }
                i = found
                var v = 0.0
                while i < r.upperBound, bytes[i] >= 0x30, bytes[i] <= 0x39 { v = v * 10 + Double(bytes[i] - 0x30); i += 1 }
                if let n = series { flat[Int(h % UInt64(n))] += v } else { total += v }
            }
        }
        let seconds = Double(nowNanos() - start) / 1e9
        precondition(total >= 0 && flat[0] >= 0) // keeps the work
        return seconds
    }
}

func decodeOnce(_ data: Data, _ ranges: [Range<Int>]) -> (Double, [(String, String)]) {
    let symbols = Symbols()
    var decoder = LineDecoder()
    var out: [Sample] = []
    out.reserveCapacity(1024)
    var capped = 0
    var rejected = 0
    var samples = 0
    let arrival = Instant(nanoseconds: 0)
    let start = nowNanos()
    data.withUnsafeBytes { raw in
        // Into one buffer emptied every 1,000 lines, as the engine decodes a batch of lines.
        for r in ranges {
            if out.count >= 1000 {
                samples += out.count
                out.removeAll(keepingCapacity: true)
            }
            if decoder.decode(UnsafeRawBufferPointer(rebasing: raw[r]), arrival: arrival, symbols: symbols, into: &out, capped: &capped) != nil { rejected += 1 }
        }
    }
    let seconds = Double(nowNanos() - start) / 1e9
    precondition(samples + out.count == ranges.count - rejected, "decode bench: every line not rejected is one sample")
    return (seconds, [("bench", "\"decode\""), ("lines", "\(ranges.count)"), ("rejected", "\(rejected)"),
                      ("lines_per_s", f(Double(ranges.count) / seconds, 0)), ("mb_per_s", f(Double(data.count) / seconds / 1e6, 1)),
                      ("ns_per_line", f(seconds * 1e9 / Double(ranges.count), 1))])
}

/// The exposition parser on what a prometheus_client trader serves: 100 venues' histograms
/// (12 buckets, sum, count), counters and gauges, 1,600 samples a scrape, parsed again and
/// again into known series (the steady state: every scrape after the first).
func benchScrapeParse() {
    var body = ""
    let bounds = ["0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1.0", "2.5", "+Inf"]
    body += "# HELP feed_latency_seconds Feed latency\n# TYPE feed_latency_seconds histogram\n"
    for v in 0..<100 {
        for (k, le) in bounds.enumerated() { body += "feed_latency_seconds_bucket{le=\"\(le)\",venue=\"venue\(v)\"} \(k * 10 + v).0\n" }
        body += "feed_latency_seconds_count{venue=\"venue\(v)\"} \(110 + v).0\nfeed_latency_seconds_sum{venue=\"venue\(v)\"} \(3.25 * Double(v))\n"
    }
    body += "# HELP trades_total Trades\n# TYPE trades_total counter\n"
    for v in 0..<100 { body += "trades_total{outcome=\"filled\",venue=\"venue\(v)\"} \(v * 7).0\ntrades_created{outcome=\"filled\",venue=\"venue\(v)\"} 1.7369496e+09\n" }
    body += "# HELP active_positions Open positions\n# TYPE active_positions gauge\nactive_positions 4.0\n"
    let bytes = Array(body.utf8)
    line(medianRun {
        let symbols = Symbols(seriesCap: 100_000)
        var parser = ExpositionParser()
        var out: [Sample] = []
        out.reserveCapacity(2000)
        let rounds = 2000
        var samples = 0
        let start = nowNanos()
        bytes.withUnsafeBytes { raw in
            for r in 0..<rounds {
                out.removeAll(keepingCapacity: true)
                if case .success(let o) = parser.parse(raw, format: .prometheus, time: Instant(nanoseconds: Int64(r)), symbols: symbols, into: &out) {
                    samples += o.samples
                }
            }
        }
        let seconds = Double(nowNanos() - start) / 1e9
        precondition(samples == rounds * 1601, "scrape bench: \(samples) samples")
        return (seconds, [("bench", "\"scrape_parse\""), ("samples_per_scrape", "1601"), ("bytes_per_scrape", "\(bytes.count)"),
                          ("samples_per_s", f(Double(samples) / seconds, 0)), ("mb_per_s", f(Double(bytes.count * rounds) / seconds / 1e6, 1)),
                          ("us_per_scrape", f(seconds * 1e6 / Double(rounds), 1))])
    })
}

/// decode_evaluate, and how it scales (issue 16): the same stream against ten times the rules
/// (on metrics it does not carry, so each sample still feeds four), and ten times the series
/// under the same rules. The engine first sees one line of every series, untimed; the timed
/// 99 s of stream are what follows a start: each series' 5-minute window fills its exact ring
/// (64 samples) and turns to buckets within them. Each prints its cost per sample against the
/// first's.
func benchEvaluate(_ data: Data, _ ranges: [Range<Int>]) -> Double {
    let base = evaluateScenario("decode_evaluate", data, ranges, rules: Workload.rules(), series: Workload.series)
    if ProcessInfo.processInfo.environment["BENCH_ONLY_BASE"] != nil { return base } // for callgrind
    benchFloor(of: "decode_evaluate", data, ranges, warmUp: min(Workload.series, ranges.count / 2), engineNs: base)
    evaluateScenario("decode_evaluate_rules_x10", data, ranges, rules: Workload.rules(metrics: Workload.metrics * 10),
                     series: Workload.series, base: base)
    let (wide, wideRanges) = Workload.lines(ranges.count, seriesPerMetric: Workload.seriesPerMetric * 10)
    evaluateScenario("decode_evaluate_series_x10", wide, wideRanges, rules: Workload.rules(), series: Workload.series * 10, base: base)
    return base
}

/// A decode_evaluate scenario's floor (`Floor`, the same lines and warm-up) against the same
/// ceiling, and the engine's cost a sample (`engineNs`) over the floor's.
func benchFloor(of scenario: String, _ data: Data, _ ranges: [Range<Int>], warmUp: Int, engineNs: Double) {
    var fields = againstCeiling({ Floor.run(scenario + "_floor", data, ranges, series: Workload.series, warmUp: warmUp) },
                                ceiling: { Ceiling.scan(data, ranges, sumInto: Workload.series) }, items: ranges.count, rate: "samples_per_s")
    let ns = 1e9 / max(Double(fields.first { $0.0 == "samples_per_s" }?.1 ?? "0") ?? 0, 1)
    fields += [("ns_per_sample", f(ns, 1)), ("\(scenario)_ns_over_floor", f(engineNs / ns, 2))]
    line(fields)
}

/// decode_evaluate as a vigil that has run for a while sees it: the same stream, timed only
/// after 310 s of it (3.1 M lines, untimed), when every series' 5-minute window has turned to
/// buckets and filled its ring, so no sample pays the exact ring, its growth or the switch.
/// Its ceiling is the same scan over all the lines, and its floor the same warm-up and lines
/// through `Floor`. Alone: `vigil-bench steady`.
func benchSteady(lines: Int, base: Double? = nil) {
    let warm = 3_100_000
    let (data, ranges) = Workload.lines(warm + lines)
    let ns = evaluateScenario("decode_evaluate_steady", data, ranges, rules: Workload.rules(), series: Workload.series, warmUp: warm, base: base)
    if ProcessInfo.processInfo.environment["BENCH_ONLY_BASE"] == nil { benchFloor(of: "decode_evaluate_steady", data, ranges, warmUp: warm, engineNs: ns) }
}

/// One decode_evaluate scenario; returns its ns per sample.
@discardableResult
func evaluateScenario(_ name: String, _ data: Data, _ ranges: [Range<Int>], rules: String, series: Int, warmUp: Int? = nil, base: Double? = nil) -> Double {
    resetPeakRSS()
    let lint = Linter.lint(ruleFiles: [SourceFile(path: "bench.rules", text: rules)])
    precondition(lint.errorCount == 0, "bench rules do not lint")
    var fields = againstCeiling({ evaluateOnce(name, data, ranges, lint, warmUp: warmUp ?? min(series, ranges.count / 2)) },
                                ceiling: { Ceiling.scan(data, ranges, sumInto: series) }, items: ranges.count, rate: "samples_per_s")
    let rate = Double(fields.first { $0.0 == "samples_per_s" }?.1 ?? "0") ?? 0
    let ns = 1e9 / max(rate, 1)
    fields.append(("ns_per_sample", f(ns, 1)))
    if let base { fields.append(("ns_per_sample_vs_decode_evaluate", f(ns / base, 2))) }
    line(fields)
    return ns
}

func evaluateOnce(_ name: String, _ data: Data, _ ranges: [Range<Int>], _ lint: LintResult, warmUp: Int) -> (Double, [(String, String)]) {
    var config = EngineConfig()
    config.seriesTotalCap = 1_000_000
    let engine = Engine(rules: lint, config: config, start: Instant(nanoseconds: 1_736_949_600_000_000_000))
    let batch = 1000
    var perSample: [Double] = []
    perSample.reserveCapacity(ranges.count / batch + 1)
    var transitions = 0
    var seconds = 0.0
    var samples = 0, evaluations = 0
    data.withUnsafeBytes { raw in
        for k in 0..<warmUp { engine.ingest(UnsafeRawBufferPointer(rebasing: raw[ranges[k]]), arrival: engine.now) }
        transitions = engine.transitions.count
        engine.transitions.removeAll(keepingCapacity: true)
        samples = engine.samplesApplied
        evaluations = engine.evaluations
        // As `vigil run` feeds it: the reader's batches of lines (built untimed: on their own
        // thread there), each ingested whole.
        var i = warmUp
        var rejected = 0
        while i < ranges.count {
            let end = min(ranges.count, i + batch)
            var lines = LineBatch(capacity: ranges[end - 1].upperBound - ranges[i].lowerBound)
            for k in i..<end { lines.append(UnsafeRawBufferPointer(rebasing: raw[ranges[k]]), offset: Int64(ranges[k].lowerBound)) }
            let t0 = nowNanos()
            ingestTimed(engine, lines, rejected: &rejected)
            let ns = nowNanos() - t0
            seconds += Double(ns) / 1e9
            perSample.append(Double(ns) / Double(end - i))
            transitions += engine.transitions.count
            engine.transitions.removeAll(keepingCapacity: true)
            i = end
        }
        precondition(rejected == 0, "evaluate bench: \(rejected) lines rejected")
    }
    samples = engine.samplesApplied - samples
    evaluations = engine.evaluations - evaluations
    perSample.sort()
    let series = engine.symbols.seriesCount
    return (seconds, [("bench", "\"\(name)\""), ("rules", "\(engine.ruleCount)"), ("series", "\(series)"),
          ("warm_up_lines", "\(warmUp)"), ("samples", "\(samples)"), ("evaluations_per_sample", f(Double(evaluations) / Double(max(samples, 1)), 2)),
          ("transitions", "\(transitions)"), ("samples_per_s", f(Double(samples) / seconds, 0)),
          ("p50_ns", f(percentile(perSample, 0.5), 0)), ("p99_ns", f(percentile(perSample, 0.99), 0)),
          ("p999_ns", f(percentile(perSample, 0.999), 0)), ("latency_batch", "\(batch)"),
          ("engine_bytes_per_series", "\(engine.memoryBytes / max(1, series))"),
          ("peak_rss_mb", f(Double(peakRSS()) / 1_048_576, 1)), ("target_samples_per_s", "3000000")])
}

/// The timed part of `evaluateOnce`: one batch into the engine. A function of its own, never
/// inlined, so that callgrind can count exactly it (`--toggle-collect='*ingestTimed*'`).
@inline(never) func ingestTimed(_ engine: Engine, _ lines: LineBatch, rejected: inout Int) {
    engine.ingest(lines, arrival: engine.now) { _, _ in rejected += 1 }
}

/// 10 million samples into 10,000 series with 1-hour windows (avg and p95 on every metric).
func benchMemory() {
    resetPeakRSS()
    var rules = ""
    for m in 0..<Workload.metrics {
        rules += "metric m\(m) labels venue, market\n"
        rules += "alert avg_\(m) { when avg(m\(m) over 1h) > 990; severity info; notify slack }\n"
        rules += "alert p95_\(m) { when p95(m\(m) over 1h) > 999; severity info; notify slack }\n"
    }
    let lint = Linter.lint(ruleFiles: [SourceFile(path: "memory.rules", text: rules)])
    precondition(lint.errorCount == 0, "memory rules do not lint")
    let start0: Int64 = 1_736_949_600_000_000_000
    let trace = ProcessInfo.processInfo.environment["BENCH_TRACE"] != nil
    let before = currentRSS()
    let engine = Engine(rules: lint, start: Instant(nanoseconds: start0))
    var base: [Sample] = []
    for s in 0..<(Workload.metrics * Workload.seriesPerMetric) {
        let labels = [Label("venue", s % 2 == 0 ? "kalshi" : "polymarket"), Label("market", "mk\(s % Workload.seriesPerMetric / 2)")]
        if let sample = engine.sample(metric: "m\(s / Workload.seriesPerMetric)", labels: labels, value: .number(0), at: Instant(nanoseconds: start0)) {
            base.append(sample)
        }
    }
    var rng = SplitMix64(seed: 3)
    let total = 10_000_000
    let rounds = total / base.count
    let step: Int64 = 3_600_000_000_000 / Int64(rounds) // 1,000 samples a series spread over an hour
    let start = nowNanos()
    var batch = base
    for round in 0..<rounds {
        let t = Instant(nanoseconds: start0 + Int64(round) * step)
        for k in batch.indices {
            batch[k].time = t
            batch[k].value = Double(rng.next() % 1000)
        }
        engine.apply(batch)
        engine.transitions.removeAll(keepingCapacity: true)
        if trace, round % 25 == 0 { print(round, currentRSS() / 1_048_576, engine.memoryBytes / 1_048_576) }
    }
    let seconds = Double(nowNanos() - start) / 1e9
    let series = engine.symbols.seriesCount
    line([("bench", "\"memory_1h_windows\""), ("samples", "\(engine.samplesApplied)"), ("series", "\(series)"),
          ("samples_per_s", f(Double(engine.samplesApplied) / seconds, 0)),
          ("engine_bytes_per_series", "\(engine.memoryBytes / max(1, series))"),
          ("rss_before_engine_mb", f(Double(before) / 1_048_576, 1)), ("peak_rss_mb", f(Double(peakRSS()) / 1_048_576, 1)), ("budget_rss_mb", "64")])
}

/// What one window costs a series, per function over 1h, at 1,000 and at 3,600 samples an hour
/// (random values over three decades): the engine's bytes with that rule less its bytes with a
/// rule reading no window, per series. The sizing table in the README comes from these lines.
func benchWindowSizes() {
    let seriesCount = 1_000
    func bytesPerSeries(_ condition: String, samplesPerHour: Int) -> Int {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "w.rules", text: "metric x labels k\nalert a { when \(condition) > 1e9; severity info; notify slack }\n")])
        precondition(lint.errorCount == 0, "window rules do not lint")
        let start0: Int64 = 1_736_949_600_000_000_000
        let engine = Engine(rules: lint, start: Instant(nanoseconds: start0))
        var batch = (0..<seriesCount).compactMap { engine.sample(metric: "x", labels: [Label("k", "s\($0)")], value: .number(0), at: Instant(nanoseconds: start0)) }
        var rng = SplitMix64(seed: 11)
        let step = 3_600_000_000_000 / Int64(samplesPerHour)
        for round in 0..<samplesPerHour {
            for k in batch.indices {
                batch[k].time = Instant(nanoseconds: start0 + Int64(round) * step)
                batch[k].value = exp(Double(rng.next() % 6_900) / 1_000) // 1 to 1,000
            }
            engine.apply(batch)
            engine.transitions.removeAll(keepingCapacity: true)
        }
        return engine.memoryBytes / seriesCount
    }
    for rate in [1_000, 3_600] {
        let none = bytesPerSeries("last(x over 1s)", samplesPerHour: rate) // a 1 s window holds one sample
        var fields: [(String, String)] = [("bench", "\"window_bytes_per_series\""), ("window", "\"1h\""), ("samples_per_hour", "\(rate)")]
        for f in ["avg", "p95", "rate", "max", "stddev"] {
            fields.append((f, "\(bytesPerSeries("\(f)(x over 1h)", samplesPerHour: rate) - none)"))
        }
        fields.append(("avg_and_p95", "\(bytesPerSeries("avg(x over 1h) + p95(x over 1h)", samplesPerHour: rate) - none)"))
        line(fields)
    }
}

// MARK: - End to end

/// Trader write on a Unix socket → the sidecar → a webhook received by a local receiver, one
/// alert at a time; `durable` adds the state dir (one journal record and fsync per step).
func benchEndToEnd(durable: Bool, firing: Int = 0) {
    final class Arrivals: Sendable {
        let times = Mutex<[Int: ContinuousClock.Instant]>([:])
        let signal = DispatchSemaphore(value: 0)
    }
    let arrivals = Arrivals()
    guard let receiver = try? HTTPServer(host: "127.0.0.1", port: 0, handler: { r in
        let body = String(decoding: r.body, as: UTF8.self)
        if let range = body.range(of: #""n":""#) {
            let value = body[range.upperBound...].prefix { $0 != "\"" }
            if let n = Int(value) { arrivals.times.withLock { $0[n] = .now } }
            arrivals.signal.signal()
        }
        return .json(200, "{}")
    }) else { print("{\"bench\":\"end_to_end\",\"error\":\"no receiver\"}"); return }
    defer { receiver.stop() }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-\(getpid())-\(durable)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let socketPath = dir.appendingPathComponent("t.sock").path
    let rules = "metric x labels n\nalert hot { when x > 1; severity warning; notify hook; repeat never }\n"
    let config = "channel hook { type webhook url \"http://127.0.0.1:\(receiver.port)/hook\" }\n"
    let lint = Linter.lint(ruleFiles: [SourceFile(path: "e2e.rules", text: rules)], config: SourceFile(path: "e2e.conf", text: config, kind: .config))
    guard lint.errorCount == 0, let alerting = try? AlertingConfig.load(lint.config) else { return }
    var options = Sidecar.Options()
    options.source = .listen(socketPath)
    options.stateDir = durable ? dir.appendingPathComponent("state") : nil
    let sidecar = Sidecar(rules: lint, config: alerting, options: options, log: MemoryLog())
    guard (try? sidecar.start()) != nil else { return }
    guard let fd = UnixSocket.connect(socketPath, attempts: 50) else { return }
    defer { close(fd) }
    // Alerts already firing (their own series, fired and delivered before the measure): each
    // step must cost what it changes, not what is held.
    for b in 0..<firing {
        let line = #"{"metric":"x","labels":{"n":"bg\#(b)"},"value":5}"# + "\n"
        _ = send(fd, line, line.utf8.count, Int32(MSG_NOSIGNAL))
    }
    for _ in 0..<firing where arrivals.signal.wait(timeout: .now() + 10) != .success {
        print("{\"bench\":\"end_to_end\",\"error\":\"the \(firing) background alerts did not all arrive\"}")
        return
    }
    let count = 1000
    var latencies: [Double] = []
    for n in 0..<(count + 50) { // the first 50 warm up
        let line = #"{"metric":"x","labels":{"n":"\#(n)"},"value":5}"# + "\n"
        let sent = ContinuousClock.now
        _ = send(fd, line, line.utf8.count, Int32(MSG_NOSIGNAL))
        guard arrivals.signal.wait(timeout: .now() + 5) == .success, let got = arrivals.times.withLock({ $0[n] }) else {
            print("{\"bench\":\"end_to_end\",\"error\":\"alert \(n) not received in 5 s\"}")
            return
        }
        if n >= 50 {
            let d = got - sent
            latencies.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
        }
    }
    latencies.sort()
    let ceiling = Ceiling.relay(count: count).sorted()
    let p99 = percentile(latencies, 0.99), ceilingP99 = percentile(ceiling, 0.99)
    line([("bench", durable ? "\"end_to_end_durable\"" : "\"end_to_end\""), ("alerts", "\(latencies.count)"), ("already_firing", "\(firing)"),
          ("p50_ms", f(percentile(latencies, 0.5))), ("p99_ms", f(p99)), ("p999_ms", f(percentile(latencies, 0.999))),
          ("ceiling_p50_ms", f(percentile(ceiling, 0.5))), ("ceiling_p99_ms", f(ceilingP99)),
          ("p99_over_ceiling", f(ceilingP99 > 0 ? p99 / ceilingP99 : 0, 1)), ("target_p99_ms", durable ? "2" : "5")])
}

extension Ceiling {
    /// End to end's ceiling: each line written to a Unix socket, read by a relay thread and
    /// written on to a raw TCP receiver over one kept connection, with no decoding, no rule and
    /// no HTTP: milliseconds from the write to the receiver's read of the whole line.
    static func relay(count: Int) -> [Double] {
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0, let (listener, port) = Loopback.listener() else { return [] }
        defer { close(pair[0]); close(pair[1]); close(listener) }
        let arrived = DispatchSemaphore(value: 0)
        let receiver = Thread {
            let conn = accept(listener, nil, nil)
            guard conn >= 0 else { return }
            defer { close(conn) }
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(conn, &buffer, buffer.count)
                if n <= 0 { return }
                for b in buffer[0..<n] where b == 0x0A { arrived.signal() }
            }
        }
        receiver.start()
        let out = Loopback.connect(port)
        guard out >= 0 else { return [] }
        var one: Int32 = 1
        setsockopt(out, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        let input = pair[1]
        let relay = Thread {
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let n = read(input, &buffer, buffer.count)
                if n <= 0 { close(out); return }
                _ = buffer.withUnsafeBytes { send(out, $0.baseAddress, n, Int32(MSG_NOSIGNAL)) }
            }
        }
        relay.start()
        var latencies: [Double] = []
        for n in 0..<(count + 50) {
            let text = #"{"metric":"x","labels":{"n":"\#(n)"},"value":5}"# + "\n"
            let sent = ContinuousClock.now
            _ = send(pair[0], text, text.utf8.count, Int32(MSG_NOSIGNAL))
            guard arrived.wait(timeout: .now() + 5) == .success else { return latencies }
            if n >= 50 {
                let d = ContinuousClock.now - sent
                latencies.append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15)
            }
        }
        shutdown(pair[0], Int32(SHUT_WR))
        return latencies
    }
}

/// POSTs to a local server, alone: what the delivery path cannot go below. libcurl (vigil's
/// HTTP client) and URLSession, alternating in rounds of 100 so both see the same machine.
func benchTransport() {
    guard let server = try? HTTPServer(host: "127.0.0.1", port: 0, handler: { _ in .json(200, "{}") }) else { return }
    defer { server.stop() }
    let transports: [(String, any HTTPTransport)] = [("urlsession", URLSessionPost()), ("libcurl", CurlTransport())]
    let request = OutgoingRequest(channel: "bench", url: Secret("http://127.0.0.1:\(server.port)/x"), body: Data("{}".utf8))
    var latencies: [[Double]] = [[], []]
    for round in 0..<11 {
        for (k, (_, transport)) in transports.enumerated() {
            for _ in 0..<100 {
                let t0 = ContinuousClock.now
                let r = transport.post(request, timeout: 5_000_000_000)
                let d = ContinuousClock.now - t0
                precondition(r == .status(200, retryAfter: nil), "transport bench: \(r)")
                if round > 0 { latencies[k].append(Double(d.components.seconds) * 1e3 + Double(d.components.attoseconds) / 1e15) }
            }
        }
    }
    for (k, (name, _)) in transports.enumerated() {
        latencies[k].sort()
        line([("bench", "\"transport_post\""), ("transport", "\"\(name)\""), ("requests", "\(latencies[k].count)"),
              ("p50_ms", f(percentile(latencies[k], 0.5))), ("p99_ms", f(percentile(latencies[k], 0.99)))])
    }
}

// MARK: - Probes

/// The probe targets, in a child process so their work is not counted: an accepting listener
/// (connect, accept, close) and a black hole (a full backlog: SYNs are dropped, connects hang).
/// Prints the two ports, then serves until its stdin closes.
func serveProbeTargets() {
    func listener(backlog: Int32) -> (Int32, UInt16) {
        guard let l = Loopback.listener(backlog: backlog, reuseAddress: false) else { fatalError("no loopback listener") }
        return l
    }
    let (open, openPort) = listener(backlog: 1024)
    let (hole, holePort) = listener(backlog: 0)
    // Fill the black hole's accept queue: once a connect stops completing, it is full.
    var fillers: [Int32] = []
    for _ in 0..<8 {
        let c = Loopback.connect(holePort, nonBlocking: true)
        fillers.append(c)
        var p = pollfd(fd: c, events: Int16(POLLOUT), revents: 0)
        if poll(&p, 1, 200) == 0 { break }
    }
    Thread {
        while true {
            let c = accept(open, nil, nil)
            if c < 0 { return }
            close(c)
        }
    }.start()
    print("\(openPort) \(holePort)")
    fflush(nil)
    _ = FileHandle.standardInput.readDataToEndOfFile()
    _ = (hole, fillers)
}

/// 100 TCP probes at 1 s intervals against an idle sidecar (SPEC §7): the CPU they add, and how
/// late any check runs while two more probes wait on targets that never answer (a TCP black
/// hole and an HTTP server that accepts and never replies).
func benchProbes() {
    let target = Process()
    target.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
    target.arguments = ["__probe_targets"]
    let input = Pipe(), output = Pipe()
    target.standardInput = input
    target.standardOutput = output
    guard (try? target.run()) != nil else { return }
    defer { try? input.fileHandleForWriting.close(); target.waitUntilExit() }
    var reported = Data()
    while !reported.contains(0x0A), target.isRunning { reported += output.fileHandleForReading.availableData }
    let ports = String(decoding: reported, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { UInt16($0) }
    guard ports.count == 2 else { print("{\"bench\":\"probes\",\"error\":\"no probe targets\"}"); return }

    /// Every finished check, by probe, with when (the monitor logs one debug record per check).
    final class Checks: LogSink {
        let times = Mutex<[String: [UInt64]]>([:])
        func write(_ r: LogRecord) {
            guard r.message == "probe checked", let probe = r.data["probe"] else { return }
            let now = nowNanos()
            times.withLock { $0[probe, default: []].append(now) }
        }
    }
    let seconds = 10.0
    /// CPU percent of one core used by a sidecar running `surroundings` for `seconds`.
    func run(_ surroundings: Surroundings, log: LogSink) -> Double {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-probes-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "p.rules", text: "alert down { when probe_up == 0 for > 5s; severity warning; notify slack }\n")])
        var options = Sidecar.Options()
        options.source = .listen(dir.appendingPathComponent("t.sock").path)
        options.surroundings = surroundings
        let sidecar = Sidecar(rules: lint, config: .defaults, options: options, log: log, console: { _ in })
        guard (try? sidecar.start()) != nil else { return .nan }
        usleep(1_500_000) // every probe has run once
        let (used, wall) = cpuOver(seconds: seconds)
        stopSidecar(sidecar)
        return used / wall * 100
    }
    let idle = run(Surroundings(), log: MemoryLog())
    let second: Int64 = 1_000_000_000
    var probes = (0..<100).map { Surroundings.Probe(name: "p\($0)", target: .tcp(host: "127.0.0.1", port: ports[0]), interval: second, timeout: second / 2) }
    probes.append(Surroundings.Probe(name: "black_hole", target: .tcp(host: "127.0.0.1", port: ports[1]), interval: 10 * second, timeout: 5 * second))
    probes.append(Surroundings.Probe(name: "silent_http", target: .http("http://127.0.0.1:\(ports[1])/health"), interval: 10 * second, timeout: 5 * second))
    let checks = Checks()
    let busy = run(Surroundings(probes: probes), log: checks)
    let times = checks.times.withLock { $0 }
    var gaps: [Double] = []
    for (name, t) in times where name.hasPrefix("p") {
        gaps += zip(t, t.dropFirst()).map { Double($1 - $0) / 1e6 }
    }
    gaps.sort()
    let hung = ["black_hole", "silent_http"].map { times[$0]?.count ?? 0 }
    line([("bench", "\"probes_100_at_1s\""), ("probes", "100"), ("seconds", f(seconds, 0)),
          ("idle_cpu_percent", f(idle, 2)), ("with_probes_cpu_percent", f(busy, 2)), ("added_cpu_percent", f(busy - idle, 2)),
          ("budget_percent", "2"), ("checks", "\(gaps.count + times.filter { $0.key.hasPrefix("p") }.count)"),
          ("gap_p50_ms", f(percentile(gaps, 0.5), 1)), ("gap_max_ms", f(gaps.last ?? 0, 1)),
          ("hung_checks_timed_out", "\(hung.reduce(0, +))")])
}

// MARK: - Idle and start

/// CPU seconds this process used (all threads, user and system) over `seconds` of sleep, and
/// the wall seconds that took.
func cpuOver(seconds: Double) -> (cpu: Double, wall: Double) {
    func cpu() -> Double {
        var u = rusage()
        getrusage(RUSAGE_SELF.rawValue, &u)
        return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
    }
    let c0 = cpu(), t0 = nowNanos()
    usleep(useconds_t(seconds * 1e6))
    return (cpu() - c0, Double(nowNanos() - t0) / 1e9)
}

/// Stops a sidecar from this (non-async) thread, letting delivery flush for up to a second.
func stopSidecar(_ sidecar: Sidecar) {
    let done = DispatchSemaphore(value: 0)
    Task { _ = await sidecar.stop(flush: .seconds(1)); done.signal() }
    done.wait()
}

/// The shipped rules (rules/*.rules, found from the working directory) and `more` rules of the
/// stream workload's shape.
func shippedRules(more: Int) -> [SourceFile] {
    var files = ["critical", "info", "warning"].compactMap { name -> SourceFile? in
        let path = "rules/\(name).rules"
        return (try? String(contentsOfFile: path, encoding: .utf8)).map { SourceFile(path: path, text: $0) }
    }
    var text = ""
    for k in 0..<more {
        let m = k / 4
        if k % 4 == 0 { text += "metric b\(m) labels venue, market\n" }
        text += ["alert bh_\(k) { when b\(m) > 950; severity warning; notify slack }\n",
                 "alert bf_\(k) { when b\(m) > 900 for 1min; severity warning; notify slack }\n",
                 "alert bk_\(k) { when b\(m){venue=\"kalshi\"} > 980; severity info; notify slack }\n",
                 "alert ba_\(k) { when avg(b\(m) over 5m) > 800; severity info; notify slack }\n"][k % 4]
    }
    files.append(SourceFile(path: "more.rules", text: text))
    return files
}

/// An idle `vigil run` (a listening sidecar, no writer) with the shipped rules and 200 more:
/// the CPU it uses over 60 s, which must be under 0.1% of a core (it waits; nothing polls).
func benchIdle(seconds: Double = 60) {
    let files = shippedRules(more: 200)
    let lint = Linter.lint(ruleFiles: files)
    guard lint.errorCount == 0 else { print("{\"bench\":\"idle\",\"error\":\"rules do not lint (run from the repository)\"}"); return }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-idle-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var options = Sidecar.Options()
    options.source = .listen(dir.appendingPathComponent("t.sock").path)
    options.stateDir = dir.appendingPathComponent("state")
    let sidecar = Sidecar(rules: lint, config: .defaults, options: options, log: MemoryLog(), console: { _ in })
    guard (try? sidecar.start()) != nil else { return }
    usleep(2_000_000) // settled: the first evaluation and journal record are behind it
    let (used, wall) = cpuOver(seconds: seconds)
    stopSidecar(sidecar)
    line([("bench", "\"idle\""), ("rules", "\(lint.alerts.count)"), ("seconds", f(wall, 1)),
          ("cpu_ms", f(used * 1e3, 1)), ("cpu_percent", f(used / wall * 100, 3)), ("budget_percent", "0.1")])
}

/// Start-up with 1,000 rules and 10,000 restored instances: a first sidecar fires 10 instances
/// of each rule into a state dir and stops; then the time from reading the rules to a core
/// that answers, split into lint, restore (the journal read and the core rebuilt) and start.
func benchStartup() {
    var text = ""
    for m in 0..<100 {
        text += "metric s\(m) labels n\n"
        for k in 0..<10 { text += "alert s\(m)_\(k) { when s\(m) > \(k); severity info; notify slack; repeat never }\n" }
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-start-\(getpid())")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var options = Sidecar.Options()
    let socketPath = dir.appendingPathComponent("t.sock").path
    options.source = .listen(socketPath)
    options.stateDir = dir.appendingPathComponent("state")
    let rulesFile = SourceFile(path: "start.rules", text: text)
    let first = Sidecar(rules: Linter.lint(ruleFiles: [rulesFile]), config: .defaults, options: options, log: MemoryLog(), console: { _ in })
    guard (try? first.start()) != nil, let fd = UnixSocket.connect(socketPath, attempts: 50) else { return }
    var chunk = ""
    for m in 0..<100 { for n in 0..<10 { chunk += #"{"metric":"s\#(m)","labels":{"n":"\#(n)"},"value":100}"# + "\n" } }
    _ = chunk.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    var firing = 0
    for _ in 0..<1_000 where firing < 10_000 {
        usleep(10_000)
        firing = first.alerts()?.alerts.count { $0.state == .firing } ?? 0
    }
    close(fd)
    stopSidecar(first)
    guard firing == 10_000 else { print("{\"bench\":\"startup\",\"error\":\"\(firing) of 10000 instances fired\"}"); return }
    var totals: [Double] = []
    var parts: [(Double, Double, Double)] = []
    var restored = 0
    for _ in 0..<5 {
        let t0 = nowNanos()
        let lint = Linter.lint(ruleFiles: [rulesFile])
        let t1 = nowNanos()
        let sidecar = Sidecar(rules: lint, config: .defaults, options: options, log: MemoryLog(), console: { _ in })
        let t2 = nowNanos()
        guard (try? sidecar.start()) != nil else { return }
        // Up when the core answers after its first step; a cheap question (the alert list of
        // 10,000 took the core ~50 ms to build, which is the asking, not the start).
        while sidecar.lastEvaluations() == nil { usleep(100) }
        let t3 = nowNanos()
        restored = sidecar.alerts()?.alerts.count { $0.state == .firing } ?? 0
        stopSidecar(sidecar)
        totals.append(Double(t3 - t0) / 1e6)
        parts.append((Double(t1 - t0) / 1e6, Double(t2 - t1) / 1e6, Double(t3 - t2) / 1e6))
    }
    let order = totals.indices.sorted { totals[$0] < totals[$1] }
    let median = order[order.count / 2]
    line([("bench", "\"startup\""), ("rules", "1000"), ("restored_instances", "\(restored)"),
          ("total_ms", f(totals[median], 1)), ("lint_ms", f(parts[median].0, 1)), ("restore_ms", f(parts[median].1, 1)),
          ("start_ms", f(parts[median].2, 1)), ("runs", "5"), ("budget_ms", "200")])
}

// MARK: - Cardinality attacks

/// Resident set now, in bytes (VmRSS).
func currentRSS() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
          let kb = Int(line.split(separator: " ").dropFirst().first ?? "") else { return 0 }
    return kb * 1024
}

/// A hostile trader against a real sidecar over its Unix socket: 3×10⁶ lines of unique label
/// values, of unique label names, and of unique metric names, each against a fresh sidecar.
/// Reports RSS before, at steady state (after the first 10% of the attack), at its peak and
/// at the end, and whether a good line sent after the attack still fires.
func benchCardinality(lines total: Int = 3_000_000) {
    let attacks: [(String, (Int) -> String)] = [
        ("unique_label_values", { #"{"metric":"x","labels":{"k":"v\#($0)"},"value":0}"# }),
        ("unique_label_names", { #"{"metric":"x","labels":{"l\#($0)":"v"},"value":0}"# }),
        ("unique_metric_names", { #"{"metric":"m\#($0)","labels":{"k":"v"},"value":0}"# }),
    ]
    for (name, make) in attacks {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-bench-card-\(getpid())")
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let socketPath = dir.appendingPathComponent("t.sock").path
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "c.rules", text: "metric x labels k\nalert a { when x > 1; severity warning; notify slack }\n")])
        var options = Sidecar.Options()
        options.source = .listen(socketPath)
        let sidecar = Sidecar(rules: lint, config: .defaults, options: options, log: MemoryLog(), console: { _ in })
        guard (try? sidecar.start()) != nil, let fd = UnixSocket.connect(socketPath, attempts: 50) else { return }
        // A series that exists before the attack: after it, that series must still alert (new
        // series cannot be made at a cap; that is the point of the cap).
        let warm = #"{"metric":"x","labels":{"k":"good"},"value":0}"# + "\n"
        _ = send(fd, warm, warm.utf8.count, Int32(MSG_NOSIGNAL))
        while sidecar.snapshot.lines < 1 { usleep(1000) }
        let before = currentRSS()
        var steady = 0, peak = 0
        let started = nowNanos()
        var chunk = ""
        for i in 0..<total {
            chunk += make(i) + "\n"
            if i % 1000 == 999 {
                _ = chunk.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                chunk = ""
            }
            if i % 100_000 == 99_999 {
                let rss = currentRSS()
                if i + 1 == total / 10 { steady = rss }
                peak = max(peak, rss)
            }
        }
        // Wait for the core to take the last line, then a good line must still fire.
        while sidecar.snapshot.lines < total + 1 { usleep(10_000) }
        let seconds = Double(nowNanos() - started) / 1e9
        let good = #"{"metric":"x","labels":{"k":"good"},"value":5}"# + "\n"
        _ = send(fd, good, good.utf8.count, Int32(MSG_NOSIGNAL))
        var fired = false
        for _ in 0..<500 where !fired {
            fired = sidecar.alerts()?.alerts.contains { $0.alert == "a" && $0.state == .firing } ?? false
            if !fired { usleep(10_000) }
        }
        let end = currentRSS()
        close(fd)
        let rejected = sidecar.snapshot.rejected[.seriesCap] ?? 0
        line([("bench", "\"cardinality_\(name)\""), ("lines", "\(total)"), ("series_cap_rejects", "\(rejected)"),
              ("lines_per_s", "\(Int(Double(total) / seconds))"),
              ("rss_before_mb", f(Double(before) / 1_048_576, 1)), ("rss_steady_mb", f(Double(steady) / 1_048_576, 1)),
              ("rss_peak_mb", f(Double(peak) / 1_048_576, 1)), ("rss_end_mb", f(Double(end) / 1_048_576, 1)),
              ("growth_after_steady_mb", f(Double(max(peak, end) - steady) / 1_048_576, 1)), ("budget_growth_mb", "64"),
              ("good_line_fired", "\(fired)")])
        stopSidecar(sidecar)
    }
}

func main() {
    if CommandLine.arguments.dropFirst().first == "__probe_targets" { return serveProbeTargets() }
    let wanted = Set(CommandLine.arguments.dropFirst())
    func on(_ name: String) -> Bool { wanted.isEmpty || wanted.contains(name) }
    if on("lint") { benchLint() }
    // Memory first: its peak RSS is the process's, and the decode_evaluate runs before it
    // left their freed heap resident (88 MB at five runs each).
    if on("memory") {
        benchMemory()
        benchWindowSizes()
    }
    if on("decode") || on("evaluate") || on("steady") {
        // BENCH_LINES scales the input down for a run under callgrind (instruction counts are
        // what stays comparable on this noisy machine).
        let lines = max(1, ProcessInfo.processInfo.environment["BENCH_LINES"].flatMap { Int($0) } ?? 1_000_000)
        var base: Double?
        if on("decode") || on("evaluate") {
            let (data, ranges) = Workload.lines(lines)
            if on("decode") { benchDecode(data, ranges) }
            if on("evaluate") { base = benchEvaluate(data, ranges) }
        }
        // After the others, and with its own 4.1 M lines freed before what follows.
        if on("steady") { benchSteady(lines: lines, base: base) }
    }
    if on("scrape") { benchScrapeParse() }
    if on("transport") { benchTransport() }
    if on("probes") { benchProbes() }
    if on("cardinality") { benchCardinality() }
    if on("startup") { benchStartup() }
    if on("idle") { benchIdle() }
    if on("e2e") {
        benchEndToEnd(durable: false)
        benchEndToEnd(durable: true)
        benchEndToEnd(durable: true, firing: 1000)
    }
}

main()

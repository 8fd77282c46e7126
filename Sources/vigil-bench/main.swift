import Foundation
import VigilEngine
import VigilRules

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

    static func lines(_ count: Int) -> (Data, [Range<Int>]) {
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

    /// 200 rules, 4 per metric: instant, with `for`, with a matcher, and a 5-minute average.
    static var rules: String {
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

/// Runs a scenario `runs` times and keeps the median run (by its first number): this machine's
/// run-to-run noise is ~30%, so one run proves little.
func medianRun(_ runs: Int = 3, _ body: () -> (Double, [(String, String)])) -> [(String, String)] {
    var results = (0..<runs).map { _ in body() }
    results.sort { $0.0 < $1.0 }
    return results[runs / 2].1 + [("runs", "\(runs)")]
}

func benchDecode(_ data: Data, _ ranges: [Range<Int>]) {
    line(medianRun { decodeOnce(data, ranges) })
}

func decodeOnce(_ data: Data, _ ranges: [Range<Int>]) -> (Double, [(String, String)]) {
    let symbols = Symbols()
    var decoder = LineDecoder()
    var out: [Sample] = []
    out.reserveCapacity(16)
    var capped = 0
    var rejected = 0
    let arrival = Instant(nanoseconds: 0)
    let start = nowNanos()
    data.withUnsafeBytes { raw in
        for r in ranges {
            out.removeAll(keepingCapacity: true)
            if decoder.decode(UnsafeRawBufferPointer(rebasing: raw[r]), arrival: arrival, symbols: symbols, into: &out, capped: &capped) != nil { rejected += 1 }
        }
    }
    let seconds = Double(nowNanos() - start) / 1e9
    return (seconds, [("bench", "\"decode\""), ("lines", "\(ranges.count)"), ("rejected", "\(rejected)"),
                      ("lines_per_s", f(Double(ranges.count) / seconds, 0)), ("mb_per_s", f(Double(data.count) / seconds / 1e6, 1)),
                      ("ns_per_line", f(seconds * 1e9 / Double(ranges.count), 1))])
}

func benchEvaluate(_ data: Data, _ ranges: [Range<Int>]) {
    resetPeakRSS()
    line(medianRun { evaluateOnce(data, ranges) })
}

func evaluateOnce(_ data: Data, _ ranges: [Range<Int>]) -> (Double, [(String, String)]) {
    let lint = Linter.lint(ruleFiles: [SourceFile(path: "bench.rules", text: Workload.rules)])
    precondition(lint.errorCount == 0, "bench rules do not lint")
    let engine = Engine(rules: lint, start: Instant(nanoseconds: 1_736_949_600_000_000_000))
    let batch = 1000
    var perSample: [Double] = []
    perSample.reserveCapacity(ranges.count / batch + 1)
    var transitions = 0
    let start = nowNanos()
    data.withUnsafeBytes { raw in
        var i = 0
        while i < ranges.count {
            let end = min(ranges.count, i + batch)
            let t0 = nowNanos()
            for k in i..<end {
                let r = ranges[k]
                engine.ingest(UnsafeRawBufferPointer(rebasing: raw[r]), arrival: engine.now)
            }
            perSample.append(Double(nowNanos() - t0) / Double(end - i))
            transitions += engine.transitions.count
            engine.transitions.removeAll(keepingCapacity: true)
            i = end
        }
    }
    let seconds = Double(nowNanos() - start) / 1e9
    perSample.sort()
    let series = engine.symbols.seriesCount
    return (seconds, [("bench", "\"decode_evaluate\""), ("rules", "\(engine.ruleCount)"), ("series", "\(series)"),
          ("samples", "\(engine.samplesApplied)"), ("evaluations", "\(engine.evaluations)"), ("transitions", "\(transitions)"),
          ("samples_per_s", f(Double(engine.samplesApplied) / seconds, 0)),
          ("p50_ns", f(percentile(perSample, 0.5), 0)), ("p99_ns", f(percentile(perSample, 0.99), 0)),
          ("p999_ns", f(percentile(perSample, 0.999), 0)), ("latency_batch", "\(batch)"),
          ("engine_bytes_per_series", "\(engine.memoryBytes / max(1, series))"),
          ("peak_rss_mb", f(Double(peakRSS()) / 1_048_576, 1)), ("target_samples_per_s", "1000000")])
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
    }
    let seconds = Double(nowNanos() - start) / 1e9
    let series = engine.symbols.seriesCount
    line([("bench", "\"memory_1h_windows\""), ("samples", "\(engine.samplesApplied)"), ("series", "\(series)"),
          ("samples_per_s", f(Double(engine.samplesApplied) / seconds, 0)),
          ("engine_bytes_per_series", "\(engine.memoryBytes / max(1, series))"),
          ("peak_rss_mb", f(Double(peakRSS()) / 1_048_576, 1)), ("budget_rss_mb", "256")])
}

func main() {
    let wanted = Set(CommandLine.arguments.dropFirst())
    func on(_ name: String) -> Bool { wanted.isEmpty || wanted.contains(name) }
    if on("lint") { benchLint() }
    if on("decode") || on("evaluate") {
        let (data, ranges) = Workload.lines(1_000_000)
        if on("decode") { benchDecode(data, ranges) }
        if on("evaluate") { benchEvaluate(data, ranges) }
    }
    if on("memory") { benchMemory() }
}

main()

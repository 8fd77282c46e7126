import Foundation
import VigilRules

/// vigil-bench: one JSON line per scenario. Run it in release: `swift run -c release vigil-bench`.
/// Timings are the median and minimum over repeated runs of the whole scenario (not per-call
/// clock reads), after one warm-up run.

func measure(runs: Int, _ body: () -> Void) -> (median: Double, min: Double) {
    body()
    var samples: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        body()
        samples.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
    samples.sort()
    return (samples[samples.count / 2], samples[0])
}

func line(_ fields: [(String, String)]) {
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
}

func ms(_ x: Double) -> String { String(format: "%.3f", x) }

func benchRules() {
    let text = SyntheticRules.file(alerts: 1000, seed: 42, messy: false)
    let file = SourceFile(path: "bench.rules", text: text)
    var alerts = 0
    let lint = measure(runs: 20) { alerts = Linter.lint(ruleFiles: [file]).alerts.count }
    line([("bench", "\"lint_1000_rules\""), ("rules", "\(alerts)"), ("bytes", "\(file.bytes.count)"),
          ("median_ms", ms(lint.median)), ("min_ms", ms(lint.min)), ("budget_ms", "100")])
    let parse = measure(runs: 20) { _ = Parser.parse(file) }
    line([("bench", "\"parse_1000_rules\""), ("median_ms", ms(parse.median)), ("min_ms", ms(parse.min))])
    let parsed = Parser.parse(file).0
    let format = measure(runs: 20) { _ = Formatter.format(parsed) }
    line([("bench", "\"fmt_1000_rules\""), ("median_ms", ms(format.median)), ("min_ms", ms(format.min))])
}

benchRules()

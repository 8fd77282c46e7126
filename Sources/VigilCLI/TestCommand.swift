import Foundation
import VigilAlerting
import VigilEngine
import VigilRules

/// `vigil test PATH...`: rule unit tests (*.test files; a directory means every one in it).
enum TestCommand {
    static let usage = """
    Usage: vigil test PATH...

    Runs rule unit tests: each *.test file names its rule files (`rules ../warning.rules`,
    default `..`) and optionally a config (`config ../vigil.conf`), and holds cases of input
    series in promtool's expanding notation, acknowledgements (`ack at 10m high_latency`) and
    expectations (`expect at 3m: firing high_latency{venue="kalshi"}`, `expect at 15m: notify
    pager escalation high_latency`, `… no notify …`). A failing expectation prints what was
    expected and what actually happened at that time.

    Exit status: 0 all pass, 1 a failure or a broken test file, 2 usage errors.

    """

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: [], command: "test")
        guard !parsed.positionals.isEmpty else {
            throw UsageError(message: "test needs at least one .test file or directory", command: "test")
        }
        let files = try RulePaths.expand(parsed.positionals, command: "test", extensions: [".test"])
        var passed = 0, failed = 0
        for file in files {
            let text = String(decoding: file.bytes, as: UTF8.self)
            let spec: RuleTestFile
            switch RuleTestFile.parse(text) {
            case .failure(let e):
                terminal.out("\(file.path):\(e.line): error: \(e.message)\n")
                failed += 1
                continue
            case .success(let s): spec = s
            }
            let dir = (file.path as NSString).deletingLastPathComponent
            let rulePaths = (spec.rules.isEmpty ? [".."] : spec.rules).map { ($0 as NSString).isAbsolutePath ? $0 : (dir.isEmpty ? $0 : dir + "/" + $0) }
            let configPath = spec.config.map { ($0 as NSString).isAbsolutePath ? $0 : (dir.isEmpty ? $0 : dir + "/" + $0) }
            guard let rules = try RuleLoading.load(rules: rulePaths, config: configPath, terminal: terminal),
                  let routing = try? AlertingConfig.load(rules.config, resolveSecrets: false) else {
                failed += spec.cases.count
                continue
            }
            for c in spec.cases {
                let failures = RuleTestRunner.run(c, rules: rules, routing: routing, staleAfter: spec.staleAfter, path: file.path)
                if failures.isEmpty {
                    passed += 1
                    terminal.out("ok    \(file.path): \(c.name)\n")
                } else {
                    failed += 1
                    terminal.out("FAIL  \(file.path): \(c.name)\n" + failures.joined())
                }
            }
        }
        terminal.out("\(passed + failed) cases: \(passed) passed, \(failed) failed\n")
        return failed == 0 ? .success : .failure
    }
}

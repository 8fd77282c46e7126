import Foundation
import VigilRules

/// `vigil demo`. Until the live demo lands (simulated trader → sidecar → local receiver, issue 5),
/// it lints the shipped rules, which is what vigil can do end to end today.
enum DemoCommand {
    static let usage = """
    Usage: vigil demo

    Today: lints the shipped rules in ./rules and shows what they watch.
    Coming: a simulated trading core, the real sidecar and a local webhook receiver, end to end.

    """

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        _ = try scanArguments(args, options: [], command: "demo", maxPositionals: 0)
        guard FileManager.default.fileExists(atPath: "rules") else {
            terminal.err("error: no rules/ directory here; run the demo from the vigil checkout\n")
            return .failure
        }
        terminal.out("vigil demo: the live demo (simulated trader, sidecar, receiver) is coming; linting the shipped rules.\n\n")
        let files = try RulePaths.expand(["rules"], command: "demo")
        let result = Linter.lint(ruleFiles: files)
        for alert in result.alerts {
            let condition = alert.condition.map(Formatter.format) ?? "?"
            let severity = alert.severity?.rawValue ?? "?"
            terminal.out("  \(severity.padding(toLength: 9, withPad: " ", startingAt: 0)) \(alert.name.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(condition)\n")
        }
        terminal.out(result.diagnostics.map(DiagnosticRenderer.text).joined())
        terminal.out("\n" + LintCommand.summary(result, fileCount: files.count) + "\n")
        return result.errorCount > 0 ? .failure : .success
    }
}

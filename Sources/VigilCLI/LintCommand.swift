import VigilRules

/// `vigil lint PATH... [--config FILE] [--format text|json|github] [--strict]`
enum LintCommand {
    static let usage = """
    Usage: vigil lint PATH... [--config FILE] [--format text|json|github] [--strict]

    Checks rule files (*.rules, or *.json in the seed's shape; a directory means every such file in
    it) together, and against a config file's channels when --config is given (otherwise the
    channels are pager, slack and email).

    Options:
      --config FILE     the config (vigil.conf) whose channels rules may notify
      --format FORMAT   text (default), json (an array), or github (workflow annotations)
      --strict          treat warnings as errors

    Exit status: 0 clean, 1 errors (or warnings with --strict), 2 usage errors.

    """

    static let options = [
        OptionSpec(name: "--config", valueName: "FILE"),
        OptionSpec(name: "--format", valueName: "FORMAT", choices: DiagnosticFormat.allCases.map(\.rawValue)),
        OptionSpec(name: "--strict"),
    ]

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: options, command: "lint")
        guard !parsed.positionals.isEmpty else {
            throw UsageError(message: "lint needs at least one rule file or directory", command: "lint")
        }
        let format = parsed.value("--format").flatMap(DiagnosticFormat.init(rawValue:)) ?? .text
        let files = try RulePaths.expand(parsed.positionals, command: "lint")
        let config = try parsed.value("--config").map { path throws(UsageError) in try RulePaths.read(path, kind: .config) }
        let result = Linter.lint(ruleFiles: files, config: config)

        switch format {
        case .text:
            var text = result.diagnostics.map(DiagnosticRenderer.text).joined()
            text += summary(result, fileCount: files.count) + "\n"
            terminal.out(text)
        case .json:
            terminal.out(DiagnosticRenderer.json(result.diagnostics))
        case .github:
            terminal.out(result.diagnostics.map(DiagnosticRenderer.github).joined() + summary(result, fileCount: files.count) + "\n")
        }
        let failed = result.errorCount > 0 || (parsed.flag("--strict") && result.warningCount > 0)
        return failed ? .failure : .success
    }

    /// `11 rules in 3 files: 0 errors, 0 warnings`
    static func summary(_ r: LintResult, fileCount: Int) -> String {
        func n(_ count: Int, _ word: String) -> String { "\(count) \(word)\(count == 1 ? "" : "s")" }
        return "\(n(r.alerts.count, "rule")) in \(n(fileCount, "file")): \(n(r.errorCount, "error")), \(n(r.warningCount, "warning"))"
    }
}

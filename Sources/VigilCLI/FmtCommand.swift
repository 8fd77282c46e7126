import Foundation
import VigilRules

/// `vigil fmt PATH... [--check] [--write]`
enum FmtCommand {
    static let usage = """
    Usage: vigil fmt PATH... [--check | --write]

    Prints rule and config files in canonical form: clauses in a fixed order and aligned, one space
    around operators, comments kept. A directory means every *.rules file in it. Formatting never
    changes what a file means, and formatting twice changes nothing.

    Options:
      --check   print the files that are not formatted; exit 1 if there are any
      --write   rewrite the files in place (-w)

    """

    static let options = [OptionSpec(name: "--check"), OptionSpec(name: "--write", short: "-w")]

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: options, command: "fmt")
        guard !parsed.positionals.isEmpty else {
            throw UsageError(message: "fmt needs at least one file or directory", command: "fmt")
        }
        if parsed.flag("--check"), parsed.flag("--write") {
            throw UsageError(message: "--check and --write cannot be combined", command: "fmt")
        }
        let files = try RulePaths.expand(parsed.positionals, command: "fmt", extensions: [".rules"])
        if let json = files.first(where: { $0.kind == .seedJSON }) {
            throw UsageError(message: "'\(json.path)' is seed JSON; fmt formats .rules and .conf files", command: "fmt")
        }
        var status = ExitCode.success
        for file in files {
            let (parsedFile, diagnostics) = Parser.parse(file)
            if diagnostics.contains(where: { $0.severity == .error }) {
                terminal.err(diagnostics.map(DiagnosticRenderer.text).joined())
                terminal.err("\(file.path): not formatted: fix the errors above first\n")
                status = .failure
                continue
            }
            let formatted = Formatter.format(parsedFile)
            let changed = Array(formatted.utf8) != file.bytes
            if parsed.flag("--check") {
                if changed {
                    terminal.out("\(file.path): not formatted\n")
                    status = .failure
                }
            } else if parsed.flag("--write") {
                if changed {
                    do {
                        try Data(formatted.utf8).write(to: URL(fileURLWithPath: file.path), options: .atomic)
                        terminal.out("formatted \(file.path)\n")
                    } catch {
                        terminal.err("error: cannot write '\(file.path)': \(error.localizedDescription)\n")
                        status = .failure
                    }
                }
            } else {
                if files.count > 1 { terminal.out("==> \(file.path) <==\n") }
                terminal.out(formatted)
            }
        }
        return status
    }
}

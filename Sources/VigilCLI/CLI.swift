import VigilRules
import VigilSidecar

/// The `vigil` command line. `main.swift` calls `run`; tests call it with a `CapturedTerminal`.
public enum CLI {
    public static let version = Build.version

    /// A subcommand: its name, one-line summary, usage text and body.
    struct Command: Sendable {
        let name: String
        let summary: String
        let usage: String
        let run: @Sendable ([String], Terminal) throws(UsageError) -> ExitCode
    }

    static let commands: [Command] = [
        Command(name: "lint", summary: "check rule files (and a config) for errors and warnings", usage: LintCommand.usage, run: LintCommand.run),
        Command(name: "fmt", summary: "print rule and config files in canonical form", usage: FmtCommand.usage, run: FmtCommand.run),
        Command(name: "test", summary: "run rule unit tests (*.test)", usage: TestCommand.usage, run: TestCommand.run),
        Command(name: "replay", summary: "backtest rules on recorded streams", usage: ReplayCommand.usage, run: ReplayCommand.run),
        Command(name: "run", summary: "run the sidecar next to the trader", usage: RunCommand.usage, run: RunCommand.run),
        Command(name: "alerts", summary: "list the alerts of a running sidecar", usage: OperatorCommands.alertsUsage, run: OperatorCommands.alerts),
        Command(name: "ack", summary: "acknowledge a firing alert", usage: OperatorCommands.ackUsage, run: OperatorCommands.ack),
        Command(name: "silence", summary: "add, list or remove silences", usage: OperatorCommands.silenceUsage, run: OperatorCommands.silence),
        Command(name: "alertmanager-config", summary: "print the Alertmanager config for cluster mode", usage: AlertmanagerConfigCommand.usage,
                run: AlertmanagerConfigCommand.run),
        Command(name: "demo", summary: "show vigil at work on its shipped rules", usage: DemoCommand.usage, run: DemoCommand.run),
        Command(name: "version", summary: "print the version", usage: "Usage: vigil version\n", run: { args, t throws(UsageError) in
            _ = try scanArguments(args, options: [], command: "version", maxPositionals: 0)
            t.out("vigil \(CLI.version)\n")
            return .success
        }),
        Command(name: "help", summary: "show help for a command", usage: "Usage: vigil help [COMMAND]\n", run: help),
    ]

    /// Runs one command line; returns the process exit status.
    public static func run(_ args: [String], terminal: Terminal) -> Int32 {
        guard let first = args.first else {
            terminal.err(overview)
            return ExitCode.usage.rawValue
        }
        if first == "--help" || first == "-h" {
            terminal.out(overview)
            return ExitCode.success.rawValue
        }
        if first == "--version" {
            terminal.out("vigil \(version)\n")
            return ExitCode.success.rawValue
        }
        guard let command = commands.first(where: { $0.name == first }) else {
            let why = "unknown command '\(first)'" + (closest(first, in: commands.map(\.name)).map { "; did you mean '\($0)'?" } ?? "")
            terminal.err("error: \(why) (see 'vigil --help')\n")
            return ExitCode.usage.rawValue
        }
        let rest = Array(args.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            terminal.out(command.usage)
            return ExitCode.success.rawValue
        }
        do {
            return try command.run(rest, terminal).rawValue
        } catch {
            let hint = error.command.map { " (see 'vigil help \($0)')" } ?? ""
            terminal.err("error: \(error.message)\(hint)\n")
            return ExitCode.usage.rawValue
        }
    }

    static var overview: String {
        var text = """
        vigil \(version): rule-driven alerting for a trading core

        Usage: vigil COMMAND [OPTIONS]

        Commands:

        """
        let width = (commands.map(\.name.count).max() ?? 0) + 2
        for c in commands { text += "  " + c.name.padding(toLength: width, withPad: " ", startingAt: 0) + c.summary + "\n" }
        text += "\nRun 'vigil help COMMAND' for a command's options.\n"
        return text
    }

    private static func help(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: [], command: "help", maxPositionals: 1)
        guard let name = parsed.positionals.first else {
            terminal.out(overview)
            return .success
        }
        guard let command = commands.first(where: { $0.name == name }) else {
            throw UsageError(message: "no help for unknown command '\(name)'", command: nil)
        }
        terminal.out(command.usage)
        return .success
    }
}

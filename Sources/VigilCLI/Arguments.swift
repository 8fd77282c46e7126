import VigilRules

/// The documented exit statuses (SPEC §5): 0 clean, 1 findings or failure, 2 usage.
public enum ExitCode: Int32, Sendable {
    case success = 0
    case failure = 1
    case usage = 2
}

/// A command-line mistake: one line saying what is wrong, and the command whose help to read.
struct UsageError: Error {
    let message: String
    let command: String?
}

/// An option a command accepts.
struct OptionSpec {
    let name: String            // "--format"
    var short: String? = nil    // "-w"
    var valueName: String? = nil // nil: a flag
    var choices: [String]? = nil
}

/// What the scanner found.
struct ParsedArguments {
    var positionals: [String] = []
    var flags: Set<String> = []
    var values: [String: String] = [:]

    func value(_ name: String) -> String? { values[name] }
    func flag(_ name: String) -> Bool { flags.contains(name) }
}

/// Scans `args` against `options` by hand (no packages): `--opt value`, `--opt=value`, `-x`, `--`.
/// Unknown options, missing values, bad choices and more than `maxPositionals` arguments are
/// usage errors with a hint.
func scanArguments(_ args: [String], options: [OptionSpec], command: String,
                   maxPositionals: Int = .max) throws(UsageError) -> ParsedArguments {
    var parsed = ParsedArguments()
    var i = 0
    var optionsEnded = false
    while i < args.count {
        let arg = args[i]
        i += 1
        if optionsEnded || !arg.hasPrefix("-") || arg == "-" {
            guard parsed.positionals.count < maxPositionals else {
                throw UsageError(message: "unexpected argument '\(arg)'", command: command)
            }
            parsed.positionals.append(arg)
            continue
        }
        if arg == "--" { optionsEnded = true; continue }
        var name = arg
        var inline: String?
        if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
            name = String(arg[..<eq])
            inline = String(arg[arg.index(after: eq)...])
        }
        guard let spec = options.first(where: { $0.name == name || $0.short == name }) else {
            let hint = closest(name, in: options.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
            throw UsageError(message: "unknown option '\(name)' for 'vigil \(command)'\(hint)", command: command)
        }
        guard let valueName = spec.valueName else {
            if inline != nil { throw UsageError(message: "option '\(spec.name)' takes no value", command: command) }
            parsed.flags.insert(spec.name)
            continue
        }
        let value: String
        if let inline {
            value = inline
        } else if i < args.count, !args[i].hasPrefix("--") {
            value = args[i]
            i += 1
        } else {
            throw UsageError(message: "option '\(spec.name)' needs a value (\(valueName))", command: command)
        }
        if let choices = spec.choices, !choices.contains(value) {
            throw UsageError(message: "invalid value '\(value)' for '\(spec.name)': expected \(choices.joined(separator: ", "))", command: command)
        }
        parsed.values[spec.name] = value
    }
    return parsed
}

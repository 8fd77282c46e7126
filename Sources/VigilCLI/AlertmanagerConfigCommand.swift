import VigilAlerting
import VigilRules

/// `vigil alertmanager-config --config FILE [--rules PATH]`
enum AlertmanagerConfigCommand {
    static let usage = """
    Usage: vigil alertmanager-config --config FILE [--rules PATH] [--peer-timeout D]

    Prints the Alertmanager configuration for cluster mode (`cluster NAME` in the config): one
    route and two receivers (its state, its notices) per channel Alertmanager delivers, and the
    grouping of grouped rules. Give it to every peer of the cluster (`--config.file`).

    Secrets: a `file:` secret becomes the receiver's *_file setting where Alertmanager has one;
    any other secret is resolved (env: from the environment) and written in, so keep the output
    as private as the secrets themselves.

    Options:
      --config FILE   the config (vigil.conf) with `cluster NAME` and the channels
      --rules PATH    the rule files or directory (default: rules), for grouped rules
      --peer-timeout D  the cluster's --cluster.peer-timeout (default 15s, Alertmanager's):
                      group_interval is set past the last peer's wait

    Exit status: 0 printed, 1 the config or rules have errors, 2 usage errors.

    """

    static let options = [OptionSpec(name: "--config", valueName: "FILE"), OptionSpec(name: "--rules", valueName: "PATH"),
                          OptionSpec(name: "--peer-timeout", valueName: "D")]

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: options, command: "alertmanager-config", maxPositionals: 0)
        guard let path = parsed.value("--config") else {
            throw UsageError(message: "alertmanager-config needs --config FILE (the vigil.conf with `cluster NAME`)", command: "alertmanager-config")
        }
        var peerTimeout = AlertmanagerConfig.defaultPeerTimeout
        if let text = parsed.value("--peer-timeout") {
            switch Quantity.positiveDuration(text, field: "--peer-timeout", example: "15s") {
            case .success(let d): peerTimeout = d
            case .failure(let e): throw UsageError(message: e.message, command: "alertmanager-config")
            }
        }
        guard let lint = try RuleLoading.load(rules: [parsed.value("--rules") ?? "rules"], config: path, terminal: terminal),
              let file = lint.config else { return .failure }
        do {
            let config = try AlertingConfig.load(file)
            terminal.out(try AlertmanagerConfig.render(config, file: file, rules: lint, source: path, peerTimeout: peerTimeout))
            return .success
        } catch {
            terminal.err("error: \(error)\n")
        }
        return .failure
    }
}

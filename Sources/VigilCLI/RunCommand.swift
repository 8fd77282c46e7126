import Foundation
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules
import VigilSidecar

/// `vigil run`: the sidecar (SPEC §6).
enum RunCommand {
    static let usage = """
    Usage: vigil run [--rules DIR|FILE] [--config FILE] (--connect unix:PATH | --listen unix:PATH | --stdin)
                     [--http HOST:PORT] [--state-dir DIR] [--record DIR] [--api-token-file FILE] [--log-level LEVEL] [--log-file PATH]

    Reads the trader's stream, evaluates the rules, and delivers notifications. Logs are JSON
    lines on stderr; console channels print to stdout. SIGHUP (or POST /-/reload) reloads rules
    and config; an invalid set is logged and the running one stays. SIGTERM or SIGINT stops
    reading, flushes the outbox for up to 10 s and exits 0.

    Options:
      --rules PATH          rule file or directory (default: rules)
      --config FILE         channels and settings (default: pager, slack, email on the console)
      --connect unix:PATH   connect to the trader's socket, reconnecting with backoff
      --listen unix:PATH    listen for traders (socket mode 0600; several writers)
      --stdin               read the stream from standard input
      --http HOST:PORT      the API (default 127.0.0.1:9177; another host needs --api-token-file)
      --state-dir DIR       where the outbox lives (default: in memory)
      --record DIR          write the raw stream to DIR/stream-YYYYMMDD-HH.ndjson (hourly) for replay
      --api-token-file FILE bearer token required on API mutations
      --log-level LEVEL     debug, info (default), warning, error
      --log-file PATH       log there instead of stderr; rotated at 100 MB, 5 gzipped backups kept

    """

    static let options = [
        OptionSpec(name: "--rules", valueName: "PATH"), OptionSpec(name: "--config", valueName: "FILE"),
        OptionSpec(name: "--connect", valueName: "unix:PATH"), OptionSpec(name: "--listen", valueName: "unix:PATH"),
        OptionSpec(name: "--stdin"), OptionSpec(name: "--http", valueName: "HOST:PORT"), OptionSpec(name: "--state-dir", valueName: "DIR"),
        OptionSpec(name: "--record", valueName: "DIR"),
        OptionSpec(name: "--api-token-file", valueName: "FILE"), OptionSpec(name: "--log-file", valueName: "PATH"),
        OptionSpec(name: "--log-level", valueName: "LEVEL", choices: ["debug", "info", "warning", "error"]),
    ]

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        // A SIGTERM or SIGINT while vigil is still starting is kept: it stops vigil cleanly once
        // it runs. A SIGHUP then has nothing to reload yet.
        let stop = DispatchSemaphore(value: 0)
        Signals.on(SIGTERM) { _ in stop.signal() }
        Signals.on(SIGINT) { _ in stop.signal() }
        Signals.on(SIGHUP) { _ in }
        let parsed = try scanArguments(args, options: options, command: "run", maxPositionals: 0)
        let sources = [parsed.value("--connect").map { ("--connect", $0) }, parsed.value("--listen").map { ("--listen", $0) },
                       parsed.flag("--stdin") ? ("--stdin", "") : nil].compactMap { $0 }
        guard sources.count == 1 else {
            throw UsageError(message: "run needs exactly one of --connect unix:PATH, --listen unix:PATH or --stdin", command: "run")
        }
        var opts = Sidecar.Options()
        switch sources[0] {
        case ("--stdin", _): opts.source = .stdin
        case (let flag, let value):
            guard value.hasPrefix("unix:"), value.count > 5 else {
                throw UsageError(message: "\(flag) takes unix:PATH, like unix:/run/trader.sock", command: "run")
            }
            let path = String(value.dropFirst(5))
            opts.source = flag == "--listen" ? .listen(path) : .connect(path)
        }
        let (host, port) = try parseHTTP(parsed.value("--http") ?? "127.0.0.1:9177")
        var token: String?
        if let file = parsed.value("--api-token-file") {
            guard let text = SecretFile.read(file), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw UsageError(message: "cannot read a token from '\(file)'", command: nil)
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        guard token != nil || ["127.0.0.1", "::1", "localhost"].contains(host) else {
            throw UsageError(message: "refusing to serve the API on \(host) without --api-token-file (mutations would be open to the network)", command: "run")
        }
        opts.stateDir = parsed.value("--state-dir").map { URL(fileURLWithPath: $0) }
        opts.recordDir = parsed.value("--record").map { URL(fileURLWithPath: $0) }
        let level: LogRecord.Level = switch parsed.value("--log-level") {
        case "debug": .debug
        case "warning": .warning
        case "error": .error
        default: .info
        }
        let log: LogSink
        if let file = parsed.value("--log-file") {
            do {
                log = try FileLog(path: file, minimum: level)
            } catch {
                throw UsageError(message: "cannot write the log file '\(file)'", command: nil)
            }
        } else {
            log = StderrLog(minimum: level)
        }
        guard let lint = try RuleLoading.load(rules: [parsed.value("--rules") ?? "rules"], config: parsed.value("--config"), terminal: terminal) else {
            return .failure
        }
        let config: AlertingConfig
        do {
            config = try AlertingConfig.load(lint.config)
        } catch {
            terminal.err("error: \(error)\n")
            return .failure
        }
        opts.engine = EngineConfig.live(config: lint.config)
        do {
            opts.surroundings = try resolvedSurroundings(lint)
        } catch {
            terminal.err("error: \(error)\n")
            return .failure
        }
        let sidecar = Sidecar(rules: lint, config: config, options: opts, log: log, console: { terminal.out($0) })
        let rulePaths = [parsed.value("--rules") ?? "rules"], configPath = parsed.value("--config")
        let reload: @Sendable () -> (Bool, String) = {
            reloadRules(sidecar, rules: rulePaths, config: configPath, log: log)
        }
        return serve(sidecar, host: host, port: port, token: token, log: log, terminal: terminal, stop: stop, reload: reload)
    }

    /// Re-reads rules and config; an invalid set is logged with its diagnostics and the running
    /// set stays (SPEC §6).
    static func reloadRules(_ sidecar: Sidecar, rules: [String], config: String?, log: LogSink) -> (Bool, String) {
        func fail(_ message: String) -> (Bool, String) {
            log.logger("vigil").error("reload rejected; the running rules stay", ["cause": message])
            sidecar.reloadFailed()
            return (false, message)
        }
        let lint: LintResult
        do {
            let files = try RulePaths.expand(rules, command: "run")
            let conf = try config.map { path throws(UsageError) in try RulePaths.read(path, kind: .config) }
            lint = Linter.lint(ruleFiles: files, config: conf)
        } catch {
            return fail(error.message)
        }
        guard lint.errorCount == 0 else {
            return fail(lint.diagnostics.filter { $0.severity == .error }.map(DiagnosticRenderer.text).joined())
        }
        let alerting: AlertingConfig
        do {
            alerting = try AlertingConfig.load(lint.config)
        } catch {
            return fail("\(error)")
        }
        let surroundings: Surroundings
        do {
            surroundings = try resolvedSurroundings(lint)
        } catch {
            return fail("\(error)")
        }
        guard case .ok(let detail)? = sidecar.run(.reload(lint, alerting, surroundings)) else { return fail("the core did not answer") }
        return (true, detail)
    }

    /// The config's probes, watches and system, with secret probe URLs read.
    static func resolvedSurroundings(_ lint: LintResult) throws(Surroundings.SecretError) -> Surroundings {
        try Surroundings.load(lint.config).resolvingSecrets(environment: ProcessInfo.processInfo.environment,
                                                             readFile: SecretFile.read)
    }

    static func parseHTTP(_ text: String) throws(UsageError) -> (String, UInt16) {
        guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else {
            throw UsageError(message: "--http takes HOST:PORT, like 127.0.0.1:9177", command: "run")
        }
        let host = String(text[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return (host, port)
    }

    /// Runs the sidecar and its API until `stop` is signalled (SIGTERM or SIGINT).
    static func serve(_ sidecar: Sidecar, host: String, port: UInt16, token: String?, log: LogSink, terminal: Terminal,
                      stop: DispatchSemaphore, reload: (@Sendable () -> (Bool, String))? = nil) -> ExitCode {
        let server: HTTPServer
        do {
            try sidecar.start()
            let api = API(sidecar: sidecar, token: token, reload: reload)
            server = try HTTPServer(host: host, port: port) { api.handle($0) }
        } catch {
            terminal.err("error: \(error)\n")
            return .failure
        }
        log.logger("vigil").info("vigil is running", ["http": "\(host):\(server.port)", "rules": "\(sidecar.snapshot.rules.count)"])
        // SIGHUP reloads rules and config (on the signal thread: one reload at a time).
        Signals.on(SIGHUP) { _ in _ = reload?() }
        stop.wait()
        Signals.on(SIGHUP) { _ in }
        log.logger("vigil").info("stopping: flushing the outbox for up to 10 s")
        server.stop()
        let flushed = Mutex(false)
        let done = DispatchSemaphore(value: 0)
        Task {
            let ok = await sidecar.stop(flush: .seconds(10))
            flushed.withLock { $0 = ok }
            done.signal()
        }
        done.wait()
        let ok = flushed.withLock { $0 }
        log.logger("vigil").log(ok ? .info : .warning, ok ? "stopped" : "stopped with notifications left in the outbox")
        return .success
    }
}

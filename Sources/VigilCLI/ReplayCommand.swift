import Foundation
import VigilAlerting
import VigilEngine
import VigilRules

/// `vigil replay --rules PATH [--config FILE] RECORDING... [--until DURATION] [--format text|json]`
enum ReplayCommand {
    static let usage = """
    Usage: vigil replay --rules PATH [--config FILE] RECORDING... [--until DURATION] [--format text|json]

    Backtests rules and their routing on recorded streams (NDJSON, as `vigil run --record` writes
    them). Several recordings are merged by timestamp; the stream's timestamps are the clock.
    Transitions and the notifications they would cause are printed; nothing is sent.

    Options:
      --rules PATH      rule file or directory (*.rules and seed-shape *.json); repeatable
      --config FILE     the config (channels)
      --until DURATION  keep the clock running this long past the last message, so `for`,
                        staleness and `time_since_last_update` deadlines after the data happen
      --format FORMAT   text (a timeline and a summary per rule, default) or json (one object a line)

    """

    static let options = [
        OptionSpec(name: "--rules", valueName: "PATH"),
        OptionSpec(name: "--config", valueName: "FILE"),
        OptionSpec(name: "--until", valueName: "DURATION"),
        OptionSpec(name: "--format", valueName: "FORMAT", choices: ["text", "json"]),
    ]

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: options, command: "replay")
        guard let rulesPath = parsed.value("--rules") else {
            throw UsageError(message: "replay needs --rules PATH", command: "replay")
        }
        guard !parsed.positionals.isEmpty else {
            throw UsageError(message: "replay needs at least one recording", command: "replay")
        }
        var until: Int64 = 0
        if let text = parsed.value("--until") {
            switch Quantity.duration(text) {
            case .success(let ns) where ns >= 0: until = ns
            case .failure(.tooLong):
                throw UsageError(message: "invalid value '\(text)' for '--until': longer than the longest duration vigil takes (\(Quantity.longestDurationText))", command: "replay")
            default:
                throw UsageError(message: "invalid value '\(text)' for '--until': expected a duration like 5m", command: "replay")
            }
        }
        let json = parsed.value("--format") == "json"
        guard let lint = try RuleLoading.load(rules: [rulesPath], config: parsed.value("--config"), terminal: terminal) else {
            return .failure
        }
        var recordings: [Data] = []
        for path in parsed.positionals {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw UsageError(message: "cannot read '\(path)': no such file or directory", command: nil)
            }
            recordings.append(data)
        }
        let config: AlertingConfig
        do {
            config = try AlertingConfig.load(lint.config, resolveSecrets: false)
        } catch {
            terminal.err("error: \(error)\n")
            return .failure
        }
        let lines = mergedLines(recordings)
        let start = lines.first?.time ?? Instant(nanoseconds: 0)
        let core = Core(rules: lint, config: config, engine: EngineConfig(config: lint.config), start: start)
        var timeline = Timeline()
        /// One core step; its transitions and notifications printed merged in time order.
        func step(_ batch: LineBatch?, at t: Instant) {
            let output = core.step(batch.map { [.lines($0)] } ?? [], at: t)
            var out: [(Instant, Int, String)] = []
            for tr in output.transitions {
                out.append((tr.at, out.count, json ? jsonLine(tr) : textLine(tr)))
                timeline.record(tr)
            }
            for n in output.notifications {
                out.append((n.at, out.count, json ? jsonLine(n) : textLine(n)))
                timeline.record(n)
            }
            out.sort { ($0.0, $0.1) < ($1.0, $1.1) }
            terminal.out(out.map(\.2).joined())
        }
        // The lines of one timestamp are one step (one instant), as a live sidecar's batch is.
        var i = 0
        while i < lines.count {
            let t = lines[i].time
            var batch = LineBatch()
            while i < lines.count, lines[i].time == t {
                let line = lines[i]
                recordings[line.file].withUnsafeBytes { raw in
                    batch.append(UnsafeRawBufferPointer(rebasing: raw[line.range]), offset: Int64(line.range.lowerBound))
                }
                i += 1
            }
            step(batch, at: t)
        }
        let end = (lines.last?.time ?? start) + until
        step(nil, at: end)
        if !json {
            terminal.out(timeline.summary(end: end, lines: lines.count, rejected: core.engine.rejected))
        }
        return .success
    }

    struct Line {
        let file: Int
        let range: Range<Int>
        let time: Instant
    }

    /// Every non-empty line of every recording, ordered by timestamp (stable: ties keep file and
    /// line order). A line without a timestamp takes its file's previous one.
    static func mergedLines(_ recordings: [Data]) -> [Line] {
        var decoder = LineDecoder()
        var lines: [Line] = []
        for (f, data) in recordings.enumerated() {
            var previous = Instant(nanoseconds: 0)
            data.withUnsafeBytes { raw in
                var start = 0
                while start < raw.count {
                    var end = start
                    while end < raw.count, raw[end] != UInt8(ascii: "\n") { end += 1 }
                    var stop = end
                    if stop > start, raw[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
                    if stop > start {
                        let t = decoder.peekTimestamp(UnsafeRawBufferPointer(rebasing: raw[start..<stop])) ?? previous
                        previous = t
                        lines.append(Line(file: f, range: start..<stop, time: t))
                    }
                    start = end + 1
                }
            }
        }
        return lines.enumerated().sorted { ($0.element.time, $0.offset) < ($1.element.time, $1.offset) }.map(\.element)
    }

    static func labelsText(_ labels: [Label]) -> String {
        "{" + labels.text(quoted: true) + "}"
    }

    static func valueJSON(_ t: Transition) -> String {
        if let s = t.stringValue { return jsonString(s) }
        return t.value.isFinite ? formatNumber(t.value) : "null"
    }

    /// `{"at":RFC3339,"alert":NAME,"labels":{…},"state":"pending|firing|resolved","value":N}` (SPEC §5).
    static func jsonLine(_ t: Transition) -> String {
        let labels = t.labels.map { "\(jsonString($0.name)):\(jsonString($0.value))" }.joined(separator: ",")
        return "{\"at\":\"\(t.at.rfc3339)\",\"alert\":\(jsonString(t.alert)),\"labels\":{\(labels)},\"state\":\"\(t.state.rawValue)\",\"value\":\(valueJSON(t))}\n"
    }

    /// `{"at":…,"notify":CHANNEL,"alert":NAME,"labels":{…},"kind":"firing|…","step":N}` (SPEC §5),
    /// one line per alert of the notification.
    static func jsonLine(_ n: AlertNotification) -> String {
        n.alerts.map { a in
            let labels = a.labels.map { "\(jsonString($0.name)):\(jsonString($0.value))" }.joined(separator: ",")
            return "{\"at\":\"\(n.at.rfc3339)\",\"notify\":\(jsonString(n.channel)),\"alert\":\(jsonString(a.name)),\"labels\":{\(labels)},\"kind\":\"\(n.kind.rawValue)\",\"step\":\(n.step)}\n"
        }.joined()
    }

    static func textLine(_ n: AlertNotification) -> String {
        n.alerts.map { a in
            let kind = n.kind == .escalation ? "escalation \(n.step)" : n.kind.rawValue
            return "\(n.at.rfc3339)  notify   \(n.channel) \(kind): \(a.name)\(labelsText(a.labels))\n"
        }.joined()
    }

    static func textLine(_ t: Transition) -> String {
        let value = t.stringValue.map { jsonString($0) } ?? formatNumber(t.value)
        let state = t.state.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
        return "\(t.at.rfc3339)  \(state) \(t.alert)\(labelsText(t.labels))  value=\(value)\(t.flapping ? "  (flapping)" : "")\n"
    }

    /// Per rule: how often it fired, for how long in total, and the notifications per channel.
    struct Timeline {
        private var notified: [String: [String: Int]] = [:]
        private var firedCount: [String: Int] = [:]
        private var firingTime: [String: Int64] = [:]
        private var firingSince: [String: Instant] = [:]
        private var order: [String] = []

        mutating func record(_ t: Transition) {
            if firedCount[t.alert] == nil { order.append(t.alert); firedCount[t.alert] = 0 }
            let key = t.alert + labelsText(t.labels)
            switch t.state {
            case .firing:
                firedCount[t.alert, default: 0] += 1
                firingSince[key] = t.at
            case .resolved:
                if let since = firingSince.removeValue(forKey: key) { firingTime[t.alert, default: 0] += t.at - since }
            case .pending:
                break
            }
        }

        mutating func record(_ n: AlertNotification) {
            for a in n.alerts {
                if firedCount[a.name] == nil { order.append(a.name); firedCount[a.name] = 0 }
                notified[a.name, default: [:]][n.channel, default: 0] += 1
            }
        }

        func summary(end: Instant, lines: Int, rejected: [RejectReason: Int]) -> String {
            var open = firingTime
            for (key, since) in firingSince {
                let alert = String(key.prefix { $0 != "{" })
                open[alert, default: 0] += end - since
            }
            var out = "\nsummary: \(lines) lines replayed"
            let bad = rejected.filter { $0.value > 0 }.sorted { $0.key.rawValue < $1.key.rawValue }
            if !bad.isEmpty { out += ", rejected: " + bad.map { "\($0.key.rawValue)=\($0.value)" }.joined(separator: " ") }
            out += "\n"
            if order.isEmpty { return out + "  no alert changed state\n" }
            for alert in order {
                let n = firedCount[alert] ?? 0
                let sent = (notified[alert] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                out += "  \(alert): fired \(n) time\(n == 1 ? "" : "s"), firing for \(formatDuration(open[alert] ?? 0))"
                    + (sent.isEmpty ? "" : "; notifications: \(sent)") + "\n"
            }
            return out
        }
    }
}

/// Loads and lints rule paths (and a config) the way every command that runs rules does: errors
/// are printed and stop the command; warnings are not its business (that is `vigil lint`).
enum RuleLoading {
    static func load(rules: [String], config: String?, terminal: Terminal) throws(UsageError) -> LintResult? {
        let files = try RulePaths.expand(rules, command: "replay")
        let conf = try config.map { path throws(UsageError) in try RulePaths.read(path, kind: .config) }
        let lint = Linter.lint(ruleFiles: files, config: conf)
        guard lint.errorCount == 0 else {
            terminal.err(lint.diagnostics.filter { $0.severity == .error }.map(DiagnosticRenderer.text).joined())
            terminal.err("error: the rules have \(lint.errorCount) error\(lint.errorCount == 1 ? "" : "s"); fix them first (vigil lint)\n")
            return nil
        }
        return lint
    }
}

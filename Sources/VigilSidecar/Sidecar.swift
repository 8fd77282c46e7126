import Foundation
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules

/// The running sidecar (SPEC §6): stream sources feed one core thread that owns the engine and
/// the router (DESIGN: one writer); it sleeps until the next input or deadline, hands
/// notifications to delivery and publishes a snapshot the HTTP API reads without locking it.
public final class Sidecar: Sendable {
    public struct Options: Sendable {
        public var source: StreamSourceSpec = .stdin
        /// `stale_after`, `max_series`, `max_series_total`, `max_line` and `max_clock_skew` (SPEC
        /// §2, §4). The sidecar's clock is the engine's: stream timestamps never move it.
        public var engine = EngineConfig.live(config: nil)
        public var stateDir: URL?
        /// `--record DIR`: the raw stream, hourly files.
        public var recordDir: URL?
        public var clock: any Clock = WallClock()
        public var policy = RetryPolicy()
        /// `probe`, `watch` and `system` blocks of the config (SPEC §7).
        public var surroundings = Surroundings()
        public init() {}
    }

    /// A loaded rule as the API lists it: where it is written too.
    public struct RuleEntry: Sendable, Equatable {
        public let name: String
        public let severity: Severity
        public let channels: [String]
        public let file: String
        public let line: Int
    }

    /// What the API reads without asking the core: counters refreshed after every step (cheap;
    /// alert lists are built on demand, see `alerts()`).
    public struct Snapshot: Sendable {
        public var pending = 0
        public var firing = 0
        public var rules: [RuleEntry] = []
        /// Each rule's severity, by name.
        public var severities: [String: Severity] { Dictionary(rules.map { ($0.name, $0.severity) }) { a, _ in a } }
        public var connected = false
        public var secondsSinceLastMessage = 0.0
        public var samples = 0
        public var lines = 0
        /// Lines each tail has read, in all (restored across restarts).
        public var tailLines: [String: Int] = [:]
        /// Scrapes per target since the start.
        public var scrapes: [String: (succeeded: Int, failed: Int)] = [:]
        public var evaluations = 0
        public var rejected: [RejectReason: Int] = [:]
        public var transitions: [String: Int] = [:]
        public var notifications: [String: Int] = [:]
        public var lastReloadSuccessful = true
        /// Per-line ingest+evaluation time: cumulative bucket counts (upper bounds in seconds), sum, count.
        public static let latencyBuckets: [Double] = [0.000_001, 0.000_005, 0.000_01, 0.000_05, 0.000_1, 0.000_5, 0.001, 0.005, 0.01]
        public var latencyCounts = [Int](repeating: 0, count: Snapshot.latencyBuckets.count)
        public var latencySum = 0.0
        public var latencyCount = 0
    }

    /// Operator commands, run on the core thread.
    public enum Command: Sendable {
        case ack(fingerprint: String, for: Int64?, by: String = "", comment: String = "")
        case addSilence(matchers: [LabelMatcher], duration: Int64, createdBy: String, comment: String)
        case removeSilence(id: String)
        /// The silences an Alertmanager cluster holds (`silences_from`), mirrored.
        case syncSilences([Silence])
        /// A silence made in that cluster, held at once.
        case holdSilence(Silence)
        case reload(LintResult, AlertingConfig, Surroundings)
        case markReloadFailed
    }

    public typealias Reply = Core.Reply

    private enum Input: Sendable {
        case stream(StreamEvent)
        case readings([Monitor.Reading])
        case scraped(ScrapeResult)
        /// Lines a tail read, and how far that takes it; a file it let go.
        case tailed(LineBatch, TailPosition)
        case tailForgot(TailPosition)
        /// The scrape targets a start or a reload configured.
        case scrapeTargets(Set<String>)
        case command(Command, @Sendable (Reply) -> Void)
        /// Runs on the core thread after the step that took it.
        case query(@Sendable (Core) -> Void)
    }

    /// Pending and firing alerts with their acks and the active silences, built on the core
    /// thread when asked (nil if the core did not answer in 5 s).
    public func alerts() -> (alerts: [InstanceSnapshot], acked: Set<String>, silences: [Silence], statuses: [String: Router.Status])? {
        Sidecar.ask(inbox, within: 5) { core in (core.engine.instances(), core.acknowledged, core.router.activeSilences, core.router.statuses) }
    }

    /// When each rule was last evaluated (nil if the core did not answer in 5 s).
    public func lastEvaluations() -> [String: Instant]? {
        Sidecar.ask(inbox, within: 5) { $0.engine.lastEvaluations }
    }

    /// What `body` reads on the core thread, after the step under way (nil if the core did not
    /// answer within `seconds`).
    private static func ask<T>(_ inbox: Inbox<Input>, within seconds: Double, _ body: @escaping @Sendable (Core) -> T) -> T? {
        let box = AnswerBox<T>()
        let done = DispatchSemaphore(value: 0)
        inbox.post(.query { core in
            box.value = body(core)
            done.signal()
        })
        guard done.wait(timeout: .now() + seconds) == .success else { return nil }
        return box.value
    }

    public let options: Options
    public let delivery: Delivery
    /// Probes, watches and the host (SPEC §7); its readings become series on the core thread.
    public let monitor: Monitor
    let log: LogSink
    private let inbox = Inbox<Input> { input in
        if case .stream(.lines(let batch)) = input { return (batch.bytes.count + 64 * batch.count, batch.source) }
        return (0, "")
    }
    private let snapshotBox = Mutex(Snapshot())
    private let running = Mutex(true)
    private let finished = Mutex(false)
    private let source: StreamSource
    private let tailer: Tailer
    private let silenceMirror: SilenceMirror?
    private let shell: CoreThread

    /// The core and what the core thread keeps beside it; touched only by that thread.
    private final class CoreThread: @unchecked Sendable {
        let core: Core
        var snapshot = Snapshot()
        var recorder: Recorder?
        var journal: Journal?
        /// Monitor metrics already logged as undeliverable.
        var droppedReadings: Set<String> = []
        var rejects = RejectLog()
        var tails = TailState()
        /// The tails moved since the last journal record.
        var tailsMoved = false

        init(_ core: Core) { self.core = core }
    }

    public init(rules: LintResult, config: AlertingConfig, options: Options, log: LogSink,
                transport: HTTPTransport = CurlTransport(), console: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        self.options = options
        self.log = log
        let journal = options.stateDir.map { Journal(directory: $0, log: log) }
        let restored = journal?.load() ?? Journal.Loaded(state: nil, owed: [])
        let outbox = Outbox(restoring: restored.owed, onOwe: { journal?.owe($0) }, onDone: { journal?.done($0.id) })
        delivery = Delivery(config: config, transport: transport, outbox: outbox, policy: options.policy, log: log, console: console)
        let start = options.clock.now()
        let core = Core(rules: rules, config: config, engine: options.engine, start: start)
        core.engine.setConnected(false, at: start)
        shell = CoreThread(core)
        shell.recorder = options.recordDir.map { Recorder(directory: $0, log: log) }
        shell.journal = journal
        if let state = restored.state {
            if core.restore(state.core, at: start) { journal?.resume() }
            for channel in delivery.syncedChannels { delivery.seed(channel: channel, active: core.router.active(toldTo: channel)) }
            delivery.seedCluster { core.router.active(toldTo: $0) }
            log.logger("journal").info("state restored", ["alerts": "\(state.instances.count)", "silences": "\(state.router.silenceCount)", "owed_notifications": "\(restored.owed.count)"])
        }
        // With a journal, the core remembers what it changes: a step's record costs what changed
        // (the first record after a start holds the whole state, unless the restore kept it all).
        core.recordsChanges = journal != nil
        shell.snapshot.rules = Sidecar.ruleList(rules)
        let initial = shell.snapshot
        snapshotBox.withLock { $0 = initial }
        let inbox = self.inbox
        source = StreamSource(options.source, maxLine: options.engine.maxLine, log: log) { event in inbox.post(.stream(event)) }
        let clock = options.clock
        monitor = Monitor(options.surroundings, clock: options.clock, log: log, emit: { readings in inbox.post(.readings(readings)) },
                          scraped: { result in inbox.post(.scraped(result)) },
                          healthy: { interval in Sidecar.unwell(inbox, clock, within: interval) })
        shell.tails = restored.state?.tails ?? TailState()
        let known = Set(shell.tails.lines.keys)
        // A tail's first start is journaled (with its files' positions, once followed), so the
        // next start knows it ran: files that appear meanwhile are read from their start.
        for t in options.surroundings.tails where !known.contains(t.name) {
            shell.tails.lines[t.name] = 0
            shell.tailsMoved = true
        }
        tailer = Tailer(options.surroundings.tails, positions: shell.tails.positions, known: known, maxLine: options.engine.maxLine, log: log,
                        emit: { batch, p in inbox.post(.tailed(batch, p)) }, forgot: { p in inbox.post(.tailForgot(p)) })
        silenceMirror = config.silencesFrom.flatMap { config.channels[$0] }.map { am in
            SilenceMirror(peers: am.peers, log: log) { list in inbox.post(.command(.syncSilences(list)) { _ in }) }
        }
        options.clock.whenMoved { inbox.wake.signal() }
    }

    /// Why a heartbeat must not go, or nil: the core must answer within a second (a stalled
    /// core cannot), and the stream must have brought a message within `interval`.
    private static func unwell(_ inbox: Inbox<Input>, _ clock: any Clock, within interval: Int64) -> String? {
        guard let last = ask(inbox, within: 1, { $0.engine.lastMessageAt }) else { return "the core did not answer within 1 s" }
        let age = clock.now() - last
        return age <= interval ? nil : "no stream message for \(formatNumber((Double(age) / 1e8).rounded() / 10))s"
    }

    /// Starts the stream source and the core thread.
    public func start() throws {
        delivery.resume()
        try source.start()
        monitor.start()
        tailer.start()
        silenceMirror?.start()
        let thread = Thread { [self] in loop() }
        thread.name = "vigil-core"
        thread.start()
    }

    /// Stops reading, lets delivery flush for up to `flush`, and returns when the core has stopped.
    public func stop(flush: Duration = .seconds(10)) async -> Bool {
        source.stop()
        monitor.stop()
        tailer.stop()
        silenceMirror?.stop()
        running.withLock { $0 = false }
        inbox.wake.signal()
        while !finished.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) } // not a blocking wait: this may run on the cooperative pool
        return await delivery.drain(timeout: flush)
    }

    public var snapshot: Snapshot { snapshotBox.withLock { $0 } }

    /// Hands the core stream lines as if a source had read them (with `source: .none`, in
    /// in-process tests); `sync()` returns once they are taken.
    func feed(_ lines: [String], source: String = "test") {
        inbox.post(.stream(.lines(LineBatch(lines, source: source))))
    }

    /// Returns once the core has stepped over everything posted before, at the clock's present
    /// (false if it did not answer in 5 s): a test's barrier after `feed` or moving a manual clock.
    @discardableResult
    func sync() -> Bool {
        let done = DispatchSemaphore(value: 0)
        inbox.post(.query { _ in done.signal() })
        return done.wait(timeout: .now() + 5) == .success
    }

    /// Runs an operator command on the core thread; nil when the core did not answer in 5 s.
    public func run(_ command: Command) -> Reply? {
        // With `silences_from`, a silence is made and expired in the Alertmanager cluster, and
        // held here at once under its id there (the mirror finds the same one).
        var command = command
        if let mirror = silenceMirror {
            switch command {
            case .ack(let fp, let duration, let by, let ackComment):
                // The ack is a silence of the alert's notices in the cluster (`Acknowledgement`):
                // every replica reads it back as an ack, and it outlives this one.
                guard let found = Sidecar.ask(inbox, within: 5, { $0.router.firingAlert(fp) }) else { return nil }
                guard let alert = found else { return .notFound("no firing alert has fingerprint \(fp)") }
                let start = options.clock.now()
                let end = start + (duration ?? Sidecar.ackUntilResolved)
                let matchers = Acknowledgement.matchers(for: alert)
                let comment = ackComment.isEmpty ? "acknowledged through vigil" + (duration == nil ? " until it resolves" : "") : ackComment
                let author = by.isEmpty ? "vigil" : by
                switch mirror.create(matchers: matchers, startsAt: start, endsAt: end, createdBy: author, comment: comment) {
                case .success(let id):
                    let ack = Silence(id: "am:" + id, matchers: matchers, startsAt: start, endsAt: end, createdBy: author, comment: comment)
                    return run(.holdSilence(ack)).map { reply in if case .ok = reply { .ok(fp) } else { reply } }
                case .failure(let why):
                    return .upstream("cannot acknowledge in Alertmanager: \(why)")
                }
            case .addSilence(let matchers, let duration, let createdBy, let comment):
                let start = options.clock.now()
                switch mirror.create(matchers: matchers, startsAt: start, endsAt: start + duration, createdBy: createdBy, comment: comment) {
                case .success(let id):
                    command = .holdSilence(Silence(id: "am:" + id, matchers: matchers, startsAt: start, endsAt: start + duration,
                                                   createdBy: createdBy, comment: comment))
                case .failure(let why):
                    return .upstream("cannot make the silence in Alertmanager: \(why)")
                }
            case .removeSilence(let id) where id.hasPrefix("am:"):
                if let why = mirror.expire(String(id.dropFirst(3))) { return .upstream("cannot expire the silence in Alertmanager: \(why)") }
            default:
                break
            }
        }
        let reply = Mutex<Reply?>(nil)
        let done = DispatchSemaphore(value: 0)
        inbox.post(.command(command) { r in reply.withLock { $0 = r }; done.signal() })
        guard done.wait(timeout: .now() + 5) == .success else { return nil }
        return reply.withLock { $0 }
    }

    /// One answer from the core thread: written once before a signal, read after it.
    private final class AnswerBox<T>: @unchecked Sendable { var value: T? }

    /// How long an ack without a duration is held in the cluster: it ends when its alert
    /// resolves (a replica expires it then), or after this at the latest.
    static let ackUntilResolved: Int64 = 30 * 86_400_000_000_000

    // MARK: - The core thread

    private func loop() {
        let clock = options.clock
        while running.withLock({ $0 }) {
            step()
            let now = clock.now()
            // Until the next input or deadline; a manual clock's deadline comes when it is moved.
            if let next = shell.core.nextDeadline, let wait = clock.realDuration(max(0, next - now)) {
                _ = inbox.wake.wait(timeout: .now() + .nanoseconds(Int(min(wait, 3_600_000_000_000))))
            } else {
                inbox.wake.wait()
            }
        }
        step()
        shell.recorder?.close()
        if let journal = shell.journal {
            journal.compact(Journal.State(shell.core.persisted(), tails: shell.tails), owed: delivery.outbox.entries)
            journal.close()
        }
        inbox.close()
        finished.withLock { $0 = true }
    }

    /// Core steps over what the inbox holds. A command is a step of its own, so what it changes
    /// (a reload's channels) applies to the notifications from it on; all of them are journaled
    /// once, then dispatched.
    private func step() {
        let now = options.clock.now()
        let core = shell.core
        var inputs: [Core.Input] = []
        var command: (Command, @Sendable (Reply) -> Void)? // a step of its own
        var queries: [@Sendable (Core) -> Void] = []
        var added: [Outbox.Entry] = []
        var changed = false
        var lines = 0
        func run() {
            let started = ContinuousClock.now
            let out = core.step(inputs, at: now)
            if lines > 0 { observe(ContinuousClock.now - started, lines: lines) }
            changed = changed || out.changed
            let answer = out.replies.first ?? .refused("the core gave no answer")
            if let (c, _) = command { completed(c, answer) } // a reload's channels, before its notifications
            take(out, at: now, into: &added)
            if let (_, reply) = command {
                publish() // what the command changed is visible when it returns
                reply(answer)
            }
            inputs.removeAll()
            command = nil
            lines = 0
        }
        for input in inbox.take() {
            switch input {
            case .stream(.lines(let batch)):
                shell.recorder?.write(batch, at: now)
                shell.snapshot.lines += batch.count + batch.tooLong.count
                lines += batch.count
                inputs.append(.lines(batch))
            case .readings(let readings):
                inputs.append(.samples(samples(readings, at: now), fromStream: false))
            case .scraped(let result):
                inputs.append(.scrape(result))
            case .tailed(let batch, let position):
                shell.recorder?.write(batch, at: now)
                shell.snapshot.lines += batch.count + batch.tooLong.count
                lines += batch.count
                if !batch.isEmpty { inputs.append(.lines(batch)) } // an empty one only says where a file starts
                shell.tails.advance(position, lines: batch.count)
                shell.tailsMoved = true
            case .tailForgot(let position):
                shell.tails.forget(position)
                shell.tailsMoved = true
            case .scrapeTargets(let names):
                inputs.append(.scrapeTargets(names))
            case .stream(.connected(let up)):
                inputs.append(.connected(up))
                shell.snapshot.connected = up
            case .command(.markReloadFailed, let reply):
                shell.snapshot.lastReloadSuccessful = false
                reply(.ok(""))
            case .command(let c, let reply):
                if case .reload = c { shell.journal?.rebase() } // renumbers what changed
                if !inputs.isEmpty { run() } // what came before keeps the config it came under
                inputs.append(.command(coreCommand(c)))
                command = (c, reply)
                run()
            case .query(let body):
                queries.append(body)
            }
        }
        run()
        if changed || shell.tailsMoved, let journal = shell.journal {
            let outbox = delivery.outbox
            var delta = Journal.Delta(core.takeChanges())
            if shell.tailsMoved { delta.tails = shell.tails }
            let tails = shell.tails
            journal.append(delta, added: added, state: { Journal.State(core.persisted(), tails: tails) }, owed: { outbox.entries })
        }
        shell.snapshot.tailLines = shell.tails.lines
        shell.snapshot.scrapes = core.engine.scrapeCounts
        shell.tailsMoved = false
        for entry in added { delivery.dispatch(entry) }
        for body in queries { body(core) }
        publish()
    }

    /// Logs and counts what a step decided; its notifications go to the outbox (dispatched
    /// once the step is journaled).
    private func take(_ out: Core.Output, at now: Instant, into added: inout [Outbox.Entry]) {
        for r in out.rejects {
            shell.rejects.note(r.reason, source: r.source, offset: r.offset, at: now, log: log, engine: options.engine)
        }
        for tr in out.transitions {
            shell.snapshot.transitions[tr.state.rawValue, default: 0] += 1
            log.logger("engine").log(tr.state == .pending ? .info : .warning, "alert \(tr.state.rawValue)", ["alert": tr.alert, "labels": tr.labels.text(separator: ","),
                                       "value": tr.stringValue ?? formatNumber(tr.value)])
        }
        for n in out.notifications {
            shell.snapshot.notifications[n.channel, default: 0] += 1
            if let entry = delivery.record(n) { added.append(entry) }
        }
        if let mirror = silenceMirror, !out.expireSilences.isEmpty {
            // Acks of alerts that resolved: expired in the cluster off the core thread (every
            // replica tries; the first wins, the others find it expired).
            let ids = out.expireSilences, log = log.logger("silences")
            Thread.detachNewThread {
                for id in ids {
                    if let why = mirror.expire(id) { log.debug("ack silence not expired", ["id": id, "error": why]) }
                }
            }
        }
        for s in out.scrapes {
            if s.up {
                log.logger("scrape").info("scrape target up", ["scrape": s.target])
            } else {
                log.logger("scrape").warning("scrape target down", ["scrape": s.target, "error": s.error ?? "?"])
            }
        }
    }

    private func coreCommand(_ command: Command) -> Core.Command {
        switch command {
        case .ack(let fp, let duration, let by, let comment): .ack(fingerprint: fp, for: duration, by: by, comment: comment)
        case .addSilence(let m, let d, let by, let comment): .addSilence(matchers: m, duration: d, createdBy: by, comment: comment)
        case .removeSilence(let id): .removeSilence(id: id)
        case .syncSilences(let list): .syncSilences(list)
        case .holdSilence(let s): .holdSilence(s)
        case .reload(let rules, let config, _): .reload(rules, config)
        case .markReloadFailed: preconditionFailure("handled by the core thread itself")
        }
    }

    /// The shell's side of a command the core carried out: logs, and a reload's monitor and channels.
    private func completed(_ command: Command, _ reply: Reply) {
        guard case .ok(let text) = reply else { return }
        switch command {
        case .ack(let fp, _, let by, _):
            log.logger("api").info("alert acknowledged", ["fingerprint": fp, "by": by])
        case .addSilence(let matchers, _, let createdBy, _):
            log.logger("api").info("silence added", ["id": text, "matchers": matchers.map(\.description).joined(separator: ","), "by": createdBy])
        case .reload(let rules, let config, let surroundings):
            monitor.reconfigure(surroundings)
            inbox.post(.scrapeTargets(Set(surroundings.scrapes.map(\.name))))
            if surroundings.tails != options.surroundings.tails {
                log.logger("tail").warning("tail blocks changed; they take effect at the next start", ["tails": surroundings.tails.map(\.name).joined(separator: ",")])
            }
            let running = delivery.config
            if config.cluster != running.cluster || config.silencesFrom != running.silencesFrom
                || config.silencesFrom.flatMap({ config.channels[$0]?.peers }) != running.silencesFrom.flatMap({ running.channels[$0]?.peers }) {
                // The mirror reads the cluster it started with; the relay follows the new config.
                log.logger("silences").warning("`cluster` or `silences_from` changed; the silences are read from the new cluster at the next start",
                                               ["cluster": config.cluster ?? "", "silences_from": config.silencesFrom ?? ""])
            }
            delivery.reconfigure(config)
            shell.snapshot.rules = Sidecar.ruleList(rules)
            shell.snapshot.lastReloadSuccessful = true
            log.logger("vigil").info("rules and config reloaded", ["rules": "\(rules.alerts.count)"])
        case .holdSilence(let s) where Acknowledgement.isAck(s):
            log.logger("api").info("alert acknowledged in Alertmanager", ["id": s.id, "matchers": s.matchers.map(\.description).joined(separator: ",")])
        case .holdSilence(let s):
            log.logger("api").info("silence added in Alertmanager", ["id": s.id, "matchers": s.matchers.map(\.description).joined(separator: ","), "by": s.createdBy])
        case .syncSilences:
            if text != "0" { log.logger("silences").info("silences mirrored from Alertmanager changed", ["changes": text]) }
        case .removeSilence, .markReloadFailed:
            break
        }
    }

    private static func ruleList(_ rules: LintResult) -> [RuleEntry] {
        rules.files.flatMap { f in
            f.statements.compactMap { s -> RuleEntry? in
                guard case .alert(let a) = s else { return nil }
                return RuleEntry(name: a.name.name, severity: a.severity ?? .warning, channels: a.channels.map(\.name),
                                 file: f.source.path, line: f.source.position(of: a.range.start).line)
            }
        }
    }

    /// What the monitor measured, as samples. A reading whose metric the stream gave another
    /// kind (or over the series cap) is dropped, and logged once per metric.
    private func samples(_ readings: [Monitor.Reading], at now: Instant) -> [Sample] {
        let engine = shell.core.engine
        var samples: [Sample] = []
        samples.reserveCapacity(readings.count)
        for r in readings {
            let value: Engine.SampleValue = switch r.value {
            case .number(let x): .number(x)
            case .string(let s): .string(s)
            }
            if let sample = engine.sample(metric: r.metric, labels: r.labels, value: value, at: now) {
                samples.append(sample)
            } else if shell.droppedReadings.insert(r.metric).inserted {
                log.logger("monitor").warning("a measurement cannot become a series; dropping it", ["metric": r.metric, "cause": "the stream uses this name for another kind of value, or the series cap is reached"])
            }
        }
        return samples
    }

    /// Records a step's time as `lines` observations of its per-line average (timing each line
    /// alone would cost more than evaluating it).
    private func observe(_ d: Duration, lines: Int) {
        guard lines > 0 else { return }
        let perLine = (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) / Double(lines)
        for (i, bound) in Snapshot.latencyBuckets.enumerated() where perLine <= bound { shell.snapshot.latencyCounts[i] += lines }
        shell.snapshot.latencySum += perLine * Double(lines)
        shell.snapshot.latencyCount += lines
    }

    /// Silences held at once (the core's limit).
    public static let maxSilences = Core.maxSilences

    /// A reload that failed before reaching the core (its diagnostics are logged by the caller).
    public func reloadFailed() {
        inbox.post(.command(.markReloadFailed) { _ in })
    }

    private func publish() {
        let engine = shell.core.engine
        let (pending, firing) = engine.instanceCounts
        shell.snapshot.pending = pending
        shell.snapshot.firing = firing
        shell.snapshot.secondsSinceLastMessage = engine.secondsSinceLastMessage
        shell.snapshot.samples = engine.samplesApplied
        shell.snapshot.evaluations = engine.evaluations
        shell.snapshot.rejected = engine.rejected
        let s = shell.snapshot
        snapshotBox.withLock { $0 = s }
    }
}

/// SPEC §4: the first reject of each kind per minute is logged (WARNING) with its source and
/// byte offset, and how many of that kind were dropped since it was last logged; a series cap
/// says which caps apply. Owned by the core thread.
struct RejectLog {
    private var lastLogged: [RejectReason: Int64] = [:]
    private var unlogged: [RejectReason: Int] = [:]

    static let interval: Int64 = 60_000_000_000

    mutating func note(_ reason: RejectReason, source: String, offset: Int64, at now: Instant, log: LogSink, engine: EngineConfig) {
        if let last = lastLogged[reason], now.nanoseconds.subtractingSaturated(last) < RejectLog.interval {
            unlogged[reason, default: 0] += 1
            return
        }
        lastLogged[reason] = now.nanoseconds
        var data = ["reason": reason.rawValue, "source": source, "offset": "\(offset)"]
        if let n = unlogged.removeValue(forKey: reason) { data["dropped_since_last_log"] = "\(n)" }
        if reason == .seriesCap {
            data["max_series"] = "\(engine.seriesCap)"
            data["max_series_total"] = "\(engine.seriesTotalCap)"
            log.logger("stream").warning("a series cap is reached: samples of new series are dropped", data)
        } else {
            log.logger("stream").warning("a stream line was rejected", data)
        }
    }
}

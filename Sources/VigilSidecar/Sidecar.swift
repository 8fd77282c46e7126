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

    /// What the API reads without asking the core: counters refreshed after every step (cheap;
    /// alert lists are built on demand, see `alerts()`).
    public struct Snapshot: Sendable {
        public var pending = 0
        public var firing = 0
        public var rules: [(name: String, severity: Severity, channels: [String])] = []
        public var connected = false
        public var secondsSinceLastMessage = 0.0
        public var samples = 0
        public var lines = 0
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
        case ack(fingerprint: String, for: Int64?)
        case addSilence(matchers: [LabelMatcher], duration: Int64, createdBy: String, comment: String)
        case removeSilence(id: String)
        case reload(LintResult, AlertingConfig, Surroundings)
        case markReloadFailed
    }

    public enum Reply: Sendable, Equatable {
        case ok(String)
        case notFound(String)
        /// Not done: a limit says no (the reason names it).
        case refused(String)
    }

    private enum Input: Sendable {
        case stream(StreamEvent)
        case readings([Monitor.Reading])
        case command(Command, @Sendable (Reply) -> Void)
        case query(@Sendable (Engine, Router, Set<String>) -> Void)
    }

    /// Pending and firing alerts with their acks and the active silences, built on the core
    /// thread when asked (nil if the core did not answer in 5 s).
    public func alerts() -> (alerts: [InstanceSnapshot], acked: Set<String>, silences: [Silence])? {
        final class Box: @unchecked Sendable { var value: ([InstanceSnapshot], Set<String>, [Silence])? } // written once by the core, read after the signal
        let box = Box()
        let done = DispatchSemaphore(value: 0)
        inbox.post(.query { engine, router, acked in
            box.value = (engine.instances(), acked, router.activeSilences)
            done.signal()
        })
        guard done.wait(timeout: .now() + 5) == .success, let v = box.value else { return nil }
        return (v.0, v.1, v.2)
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
    private let core: Core

    /// The engine and router, touched only by the core thread.
    private final class Core: @unchecked Sendable {
        let engine: Engine
        let router: Router
        var snapshot = Snapshot()
        var silenceCounter = 0
        var acked: Set<String> = []
        var recorder: Recorder?
        var journal: Journal?
        /// Something the journal must keep happened in this step.
        var dirty = false
        /// Notifications this step added to the outbox, dispatched once the step is journaled.
        var added: [Outbox.Entry] = []
        /// The acks changed since the last journal record.
        var ackedChanged = false
        /// Monitor metrics already logged as undeliverable.
        var droppedReadings: Set<String> = []
        var rejects = RejectLog()

        init(engine: Engine, router: Router) {
            self.engine = engine
            self.router = router
        }
    }

    public init(rules: LintResult, config: AlertingConfig, options: Options, log: LogSink,
                transport: HTTPTransport = URLSessionTransport(), console: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        self.options = options
        self.log = log
        let journal = options.stateDir.map { Journal(directory: $0, log: log) }
        let restored = journal?.load() ?? Journal.Loaded(state: nil, owed: [])
        let outbox = Outbox(restoring: restored.owed, onOwe: { journal?.owe($0) }, onDone: { journal?.done($0.id) })
        delivery = Delivery(config: config, transport: transport, outbox: outbox, policy: options.policy, log: log, console: console)
        let engine = Engine(rules: rules, config: options.engine, start: options.clock.now())
        engine.setConnected(false, at: options.clock.now())
        core = Core(engine: engine, router: Router(rules: rules, config: config))
        core.recorder = options.recordDir.map { Recorder(directory: $0, log: log) }
        core.journal = journal
        if let state = restored.state {
            engine.restore(state.instances)
            core.router.restore(state.router, at: options.clock.now())
            core.acked = state.acked
            log.write(LogRecord(level: .info, service: "journal", message: "state restored",
                                data: ["alerts": "\(state.instances.count)", "silences": "\(state.router.silenceCount)", "owed_notifications": "\(restored.owed.count)"]))
        }
        // With a journal, the engine and router remember what they change: a step's record costs
        // what changed (the first record after a start holds the whole state).
        engine.recordsChanges = journal != nil
        core.router.recordsChanges = journal != nil
        core.snapshot.rules = rules.alerts.map { ($0.name.name, $0.severity ?? .warning, $0.channels.map(\.name)) }
        let initial = core.snapshot
        snapshotBox.withLock { $0 = initial }
        let inbox = self.inbox
        source = StreamSource(options.source, maxLine: options.engine.maxLine, log: log) { event in inbox.post(.stream(event)) }
        monitor = Monitor(options.surroundings, log: log) { readings in inbox.post(.readings(readings)) }
    }

    /// Starts the stream source and the core thread.
    public func start() throws {
        delivery.resume()
        try source.start()
        monitor.start()
        let thread = Thread { [self] in loop() }
        thread.name = "vigil-core"
        thread.start()
    }

    /// Stops reading, lets delivery flush for up to `flush`, and returns when the core has stopped.
    public func stop(flush: Duration = .seconds(10)) async -> Bool {
        source.stop()
        monitor.stop()
        running.withLock { $0 = false }
        inbox.wake.signal()
        while !finished.withLock({ $0 }) { try? await Task.sleep(for: .milliseconds(5)) } // not a blocking wait: this may run on the cooperative pool
        return await delivery.drain(timeout: flush)
    }

    public var snapshot: Snapshot { snapshotBox.withLock { $0 } }

    /// Runs an operator command on the core thread; nil when the core did not answer in 5 s.
    public func run(_ command: Command) -> Reply? {
        let reply = Mutex<Reply?>(nil)
        let done = DispatchSemaphore(value: 0)
        inbox.post(.command(command) { r in reply.withLock { $0 = r }; done.signal() })
        guard done.wait(timeout: .now() + 5) == .success else { return nil }
        return reply.withLock { $0 }
    }

    // MARK: - The core thread

    private func loop() {
        let clock = options.clock
        while running.withLock({ $0 }) {
            step()
            let now = clock.now()
            let next = [core.engine.nextDeadline, core.router.nextDeadline].compactMap { $0 }.min()
            if let next {
                let wait = max(0, clock.realDuration(next - now))
                _ = inbox.wake.wait(timeout: .now() + .nanoseconds(Int(min(wait, 3_600_000_000_000))))
            } else {
                inbox.wake.wait()
            }
        }
        step()
        core.recorder?.close()
        if let journal = core.journal {
            journal.compact(journalState(), owed: delivery.outbox.entries)
            journal.close()
        }
        inbox.close()
        finished.withLock { $0 = true }
    }

    private func step() {
        let now = options.clock.now()
        let inputs = inbox.take()
        let engine = core.engine
        engine.advance(before: now)
        route(through: Instant(nanoseconds: now.nanoseconds - 1))
        for input in inputs {
            switch input {
            case .stream(.lines(let batch)):
                if !batch.tooLong.isEmpty {
                    engine.countRejected(.tooLong, batch.tooLong.count)
                    for offset in batch.tooLong { core.rejects.note(.tooLong, source: batch.source, offset: offset, at: now, log: log, engine: options.engine) }
                }
                core.recorder?.write(batch, at: now)
                let started = ContinuousClock.now
                for k in 0..<batch.count {
                    let reason = batch.withLine(k) { engine.ingest($0, arrival: now) }
                    if let reason {
                        core.rejects.note(reason, source: batch.source, offset: batch.offsets[k], at: now, log: log, engine: options.engine)
                    } else if let dropped = engine.droppedFromLastLine {
                        core.rejects.note(dropped, source: batch.source, offset: batch.offsets[k], at: now, log: log, engine: options.engine)
                    }
                }
                observe(ContinuousClock.now - started, lines: batch.count)
                core.snapshot.lines += batch.count + batch.tooLong.count
            case .readings(let readings):
                apply(readings, at: now)
            case .stream(.connected(let up)):
                engine.setConnected(up, at: now)
                core.snapshot.connected = up
            case .command(let command, let reply):
                route(through: now)
                core.dirty = true
                reply(execute(command, at: now))
            case .query(let body):
                route(through: now)
                body(engine, core.router, core.acked)
            }
        }
        engine.advance(through: now)
        route(through: now)
        if core.dirty, let journal = core.journal {
            let outbox = delivery.outbox
            let delta = Journal.Delta(instances: engine.takeInstanceChanges(), router: core.router.takeChanges(),
                                      acked: core.ackedChanged ? core.acked : nil)
            core.ackedChanged = false
            journal.append(delta, added: core.added, state: { journalState() }, owed: { outbox.entries })
        }
        core.dirty = false
        for entry in core.added { delivery.dispatch(entry) }
        core.added.removeAll(keepingCapacity: true)
        publish()
    }

    /// What the monitor measured, as samples that do not count as stream messages. A reading
    /// whose metric the stream gave another kind (or over the series cap) is dropped, and
    /// logged once per metric.
    private func apply(_ readings: [Monitor.Reading], at now: Instant) {
        let engine = core.engine
        var samples: [Sample] = []
        samples.reserveCapacity(readings.count)
        for r in readings {
            let value: Engine.SampleValue = switch r.value {
            case .number(let x): .number(x)
            case .string(let s): .string(s)
            }
            if let sample = engine.sample(metric: r.metric, labels: r.labels, value: value, at: now) {
                samples.append(sample)
            } else if core.droppedReadings.insert(r.metric).inserted {
                log.write(LogRecord(level: .warning, service: "monitor", message: "a measurement cannot become a series; dropping it",
                                    data: ["metric": r.metric, "cause": "the stream uses this name for another kind of value, or the series cap is reached"]))
            }
        }
        engine.apply(samples, fromStream: false)
    }

    private func journalState() -> Journal.State {
        Journal.State(instances: core.engine.persistedInstances(), router: core.router.persisted(), acked: core.acked)
    }

    /// Records a batch's ingest+evaluation time as `lines` observations of its per-line average
    /// (timing each line alone would cost more than evaluating it).
    private func observe(_ d: Duration, lines: Int) {
        guard lines > 0 else { return }
        let perLine = (Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18) / Double(lines)
        for (i, bound) in Snapshot.latencyBuckets.enumerated() where perLine <= bound { core.snapshot.latencyCounts[i] += lines }
        core.snapshot.latencySum += perLine * Double(lines)
        core.snapshot.latencyCount += lines
    }

    private func route(through t: Instant) {
        let engine = core.engine, router = core.router
        if !engine.transitions.isEmpty { core.dirty = true }
        for tr in engine.transitions {
            core.snapshot.transitions[tr.state.rawValue, default: 0] += 1
            log.write(LogRecord(level: tr.state == .pending ? .info : .warning, service: "engine", message: "alert \(tr.state.rawValue)",
                                data: ["alert": tr.alert, "labels": tr.labels.text(separator: ","),
                                       "value": tr.stringValue ?? formatNumber(tr.value)]))
            if tr.state == .resolved, core.acked.remove(fingerprint(alert: tr.alert, labels: tr.labels)) != nil { core.ackedChanged = true }
        }
        router.handle(engine.transitions)
        engine.transitions.removeAll(keepingCapacity: true)
        router.advance(through: t)
        // Recorded now, journaled with the step's state at its end, dispatched after that fsync.
        for n in router.notifications {
            core.snapshot.notifications[n.channel, default: 0] += 1
            core.dirty = true
            if let entry = delivery.record(n) { core.added.append(entry) }
        }
        router.notifications.removeAll(keepingCapacity: true)
    }

    private func execute(_ command: Command, at now: Instant) -> Reply {
        switch command {
        case .ack(let fp, let duration):
            guard core.router.acknowledge(fingerprint: fp, at: now, for: duration) else { return .notFound("no firing alert has fingerprint \(fp)") }
            core.acked.insert(fp)
            core.ackedChanged = true
            route(through: now)
            log.write(LogRecord(level: .info, service: "api", message: "alert acknowledged", data: ["fingerprint": fp]))
            return .ok(fp)
        case .addSilence(let matchers, let duration, let createdBy, let comment):
            guard core.router.silenceCount < Sidecar.maxSilences else {
                return .refused("vigil holds at most \(Sidecar.maxSilences) silences; expire some first")
            }
            core.silenceCounter += 1
            let id = String(format: "s%04d-%@", core.silenceCounter, String(UInt64(now.nanoseconds), radix: 36))
            core.router.add(Silence(id: id, matchers: matchers, startsAt: now, endsAt: now + duration, createdBy: createdBy, comment: comment))
            log.write(LogRecord(level: .info, service: "api", message: "silence added", data: ["id": id, "matchers": matchers.map(\.description).joined(separator: ","), "by": createdBy]))
            return .ok(id)
        case .removeSilence(let id):
            guard core.router.removeSilence(id: id, at: now) else { return .notFound("no silence has id \(id)") }
            return .ok(id)
        case .markReloadFailed:
            core.snapshot.lastReloadSuccessful = false
            return .ok("")
        case .reload(let rules, let config, let surroundings):
            core.journal?.rebase()
            core.engine.reload(rules: rules)
            monitor.reconfigure(surroundings)
            core.router.reload(rules: rules, config: config, at: now)
            delivery.reconfigure(config)
            core.snapshot.rules = rules.alerts.map { ($0.name.name, $0.severity ?? .warning, $0.channels.map(\.name)) }
            core.snapshot.lastReloadSuccessful = true
            route(through: now)
            log.write(LogRecord(level: .info, service: "vigil", message: "rules and config reloaded", data: ["rules": "\(rules.alerts.count)"]))
            return .ok("\(rules.alerts.count) rules")
        }
    }

    /// Silences held at once: each is journaled and matched against every alert, so a client
    /// looping on POST /api/v1/silences cannot grow vigil without end.
    public static let maxSilences = 10_000

    /// A reload that failed before reaching the core (its diagnostics are logged by the caller).
    public func reloadFailed() {
        inbox.post(.command(.markReloadFailed) { _ in })
    }

    private func publish() {
        let engine = core.engine
        let (pending, firing) = engine.instanceCounts
        core.snapshot.pending = pending
        core.snapshot.firing = firing
        core.snapshot.secondsSinceLastMessage = engine.secondsSinceLastMessage
        core.snapshot.samples = engine.samplesApplied
        core.snapshot.evaluations = engine.evaluations
        core.snapshot.rejected = engine.rejected
        let s = core.snapshot
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
            log.write(LogRecord(level: .warning, service: "stream", message: "a series cap is reached: samples of new series are dropped", data: data))
        } else {
            log.write(LogRecord(level: .warning, service: "stream", message: "a stream line was rejected", data: data))
        }
    }
}

import Foundation
import VigilEngine
import VigilRules

/// The deterministic core every driver runs (DESIGN: "One core, one step"): the engine, the
/// router, acks and silences behind one `step`. `run`, `replay`, `test`, `demo`, the bench and
/// the test rigs call it; none of them moves the engine and the router by hand. It never
/// touches a socket, a file or a clock: time comes in as the step's instant, and
/// `nextDeadline` says when to step again with no input.
public final class Core {
    public let engine: Engine
    public let router: Router

    /// Silences held at once: each is journaled and matched against every alert, so a client
    /// looping on POST /api/v1/silences cannot grow vigil without end.
    public static let maxSilences = 10_000

    /// What an operator asks of the core.
    public enum Command: Sendable {
        /// `by` and `comment` say who acked and why (the on-call page and `vigil alerts` show them).
        case ack(fingerprint: String, for: Int64?, by: String = "", comment: String = "")
        case addSilence(matchers: [LabelMatcher], duration: Int64, createdBy: String, comment: String)
        case removeSilence(id: String)
        /// The silences an Alertmanager cluster holds now (ids `am:…`), mirrored.
        case syncSilences([Silence])
        /// One silence just written to that cluster (its id `am:…`), held at once.
        case holdSilence(Silence)
        /// New rules and config (their surroundings are the shell's business).
        case reload(LintResult, AlertingConfig)
    }

    public enum Reply: Sendable, Equatable {
        case ok(String)
        case notFound(String)
        /// Not done: a limit says no (the reason names it).
        case refused(String)
        /// Not done: a peer vigil relies on (the Alertmanager that holds silences) said no or
        /// did not answer.
        case upstream(String)
    }

    /// One input of a step; all of a step's inputs happen at its instant, in order.
    public enum Input {
        /// Stream lines, as they arrived (each counts as a stream message).
        case lines(LineBatch)
        /// Samples built with `engine.sample`; `fromStream: false` for what vigil measures
        /// itself (probes, watches), which does not make the stream look alive.
        case samples([Sample], fromStream: Bool)
        /// One scrape of a target: its answer is one instant.
        case scrape(ScrapeResult)
        /// The scrape targets configured now (after a start or a reload): others are forgotten.
        case scrapeTargets(Set<String>)
        /// The stream's connection went up or down (`up`).
        case connected(Bool)
        case command(Command)
    }

    /// A line the step did not take whole: rejected, or some of its samples dropped.
    public struct LineReject: Sendable, Equatable {
        public let reason: RejectReason
        public let source: String
        public let offset: Int64
    }

    /// What a step decided, in time order.
    public struct Output {
        public var transitions: [Transition] = []
        public var notifications: [AlertNotification] = []
        /// One per `.command` input, in order.
        public var replies: [Reply] = []
        public var rejects: [LineReject] = []
        /// Scrape targets whose state changed (up, down, another error): to log once each.
        public var scrapes: [ScrapeState] = []
        /// Ack silences of alerts that resolved (their Alertmanager ids, `am:` dropped): to expire
        /// in the cluster, so the alert's next firing is not acked.
        public var expireSilences: [String] = []
        /// Something a journal must keep changed (a transition, a notification, a command).
        public var changed = false
    }

    /// What the journal keeps of the core.
    public struct State: Sendable {
        public var instances: [PersistedInstance]
        public var router: Router.Persisted

        public init(instances: [PersistedInstance], router: Router.Persisted) {
            self.instances = instances
            self.router = router
        }
    }

    /// What changed since the last `takeChanges()` (with `recordsChanges`): costs what changed.
    public struct Changes: Sendable {
        public var instances: (upserted: [PersistedInstance], removed: [InstanceKey])
        public var router: Router.Changes
    }

    private var silenceCounter = 0
    private var output = Output()

    public init(rules: LintResult, config: AlertingConfig, engine settings: EngineConfig, start: Instant) {
        engine = Engine(rules: rules, config: settings, start: start)
        router = Router(rules: rules, config: config)
    }

    /// Whether the engine and the router remember what they change, for `takeChanges`.
    public var recordsChanges: Bool {
        get { router.recordsChanges }
        set {
            engine.recordsChanges = newValue
            router.recordsChanges = newValue
        }
    }

    /// The earliest instant the core must be stepped to, if any.
    public var nextDeadline: Instant? {
        switch (engine.nextDeadline, router.nextDeadline) {
        case (let e?, let r?): min(e, r)
        case (let e, let r): e ?? r
        }
    }

    /// Firing alerts acknowledged now.
    public var acknowledged: Set<String> { router.acknowledged }

    /// Applies `inputs` at `now`: deadlines before `now` first (with their routing), then each
    /// input in order, then the deadlines at `now`. What the engine decides reaches the router
    /// in the same step; nothing is left for the caller to move along.
    public func step(_ inputs: [Input], at now: Instant) -> Output {
        engine.advance(before: now)
        route(through: Instant(nanoseconds: now.nanoseconds.subtractingSaturated(1)))
        for input in inputs {
            switch input {
            case .lines(let batch):
                ingest(batch, at: now)
            case .samples(let samples, let fromStream):
                engine.apply(samples, fromStream: fromStream)
            case .scrape(let result):
                if let changed = engine.applyScrape(result, at: now) { output.scrapes.append(changed) }
            case .scrapeTargets(let names):
                engine.keepScrapeTargets(names, at: now)
            case .connected(let up):
                engine.setConnected(up, at: now)
            case .command(let command):
                settle(at: now)
                output.changed = true
                output.replies.append(execute(command, at: now))
            }
        }
        settle(at: now)
        defer { output = Output() }
        return output
    }

    /// The state a journal writes whole.
    public func persisted() -> State {
        State(instances: engine.persistedInstances(), router: router.persisted())
    }

    /// Puts back what a journal kept; a router step that came due while vigil was down goes out
    /// with the next step. Returns whether it kept all of it as it was (then the journal, which
    /// ends in that state, needs no whole-state record to go on).
    @discardableResult
    public func restore(_ state: State, at now: Instant) -> Bool {
        let instances = engine.restore(state.instances)
        let router = router.restore(state.router, at: now)
        return instances && router
    }

    public func takeChanges() -> Changes {
        Changes(instances: engine.takeInstanceChanges(), router: router.takeChanges())
    }

    // MARK: - Steps

    private func ingest(_ batch: LineBatch, at now: Instant) {
        if !batch.tooLong.isEmpty {
            engine.countRejected(.tooLong, batch.tooLong.count)
            for offset in batch.tooLong { output.rejects.append(LineReject(reason: .tooLong, source: batch.source, offset: offset)) }
        }
        engine.ingest(batch, arrival: now) { k, reason in
            output.rejects.append(LineReject(reason: reason, source: batch.source, offset: batch.offsets[k]))
        }
    }

    /// Runs the engine's deadlines through `t` and routes what it decided up to `t`.
    private func settle(at t: Instant) {
        engine.advance(through: t)
        route(through: t)
    }

    private func route(through t: Instant) {
        if !engine.transitions.isEmpty {
            output.changed = true
            router.handle(engine.transitions)
            output.transitions += engine.transitions
            engine.transitions.removeAll(keepingCapacity: true)
        }
        router.advance(through: t)
        if !router.notifications.isEmpty {
            output.changed = true
            output.notifications += router.notifications
            router.notifications.removeAll(keepingCapacity: true)
        }
        if !router.endedAcks.isEmpty {
            output.expireSilences += router.endedAcks.filter { $0.hasPrefix("am:") }.map { String($0.dropFirst(3)) }
            router.endedAcks.removeAll()
        }
    }

    private func execute(_ command: Command, at now: Instant) -> Reply {
        let reply: Reply
        switch command {
        case .ack(let fp, let duration, let by, let comment):
            reply = router.acknowledge(fingerprint: fp, at: now, for: duration, by: by, comment: comment)
                ? .ok(fp) : .notFound("no firing alert has fingerprint \(fp)")
        case .addSilence(let matchers, let duration, let createdBy, let comment):
            guard router.silenceCount < Core.maxSilences else {
                return .refused("vigil holds at most \(Core.maxSilences) silences; expire some first")
            }
            silenceCounter += 1
            // Unique across restarts without journaling the counter: the instant is in the id.
            let id = String(format: "s%04d-%@", silenceCounter, String(UInt64(bitPattern: now.nanoseconds), radix: 36))
            router.add(Silence(id: id, matchers: matchers, startsAt: now, endsAt: now + duration, createdBy: createdBy, comment: comment))
            reply = .ok(id)
        case .removeSilence(let id):
            reply = router.removeSilence(id: id, at: now) ? .ok(id) : .notFound("no silence has id \(id)")
        case .holdSilence(let s):
            guard router.silenceCount < Core.maxSilences else {
                return .refused("vigil holds at most \(Core.maxSilences) silences; expire some first")
            }
            router.add(s)
            reply = .ok(s.id)
        case .syncSilences(let list):
            reply = .ok("\(router.syncSilences(list, prefix: "am:", at: now, limit: Core.maxSilences))")
        case .reload(let rules, let config):
            engine.reload(rules: rules)
            router.reload(rules: rules, config: config, at: now)
            reply = .ok("\(rules.alerts.count) rules")
        }
        settle(at: now)
        return reply
    }
}

import Foundation
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules

/// Per-channel delivery counters (`/metrics`).
public struct DeliveryStats: Sendable, Equatable {
    public var sent = 0
    public var failed = 0
    public var retried = 0
    /// Cluster mode: handed to the Alertmanager cluster, which delivers them.
    public var relayed = 0
}

/// A channel's last success and last failure (an attempt's cause: a status or a connection
/// error, never a URL), and when: the on-call page's delivery table.
public struct ChannelHealth: Sendable, Equatable {
    public var lastSuccess: Date?
    public var lastError: String?
    public var lastErrorAt: Date?
}

/// One recent notification and how its delivery went (the on-call page lists the last 100).
public struct DeliveryRecord: Sendable, Equatable {
    public let at: Instant
    public let channel: String
    public let kind: AlertNotification.Kind
    public let alert: String
    public let labels: [Label]
    /// `queued`, `sent`, `retrying`, `failed`, `printed` (console), `synced` (Alertmanager's
    /// state) or `relayed` (cluster mode: Alertmanager delivers it).
    public internal(set) var status: String
    /// Why it is retrying or failed.
    public internal(set) var detail: String?
}

/// Delivers notifications: durable outbox first, then per-channel workers that retry, pace and
/// keep each alert's notifications in order. A delivery that finally fails is logged at ERROR
/// with channel, alert and status, counted, and reported once on the `fallback` channel.
public final class Delivery: Sendable {
    public var config: AlertingConfig { state.withLock { $0.config } }
    let transport: HTTPTransport
    let outbox: Outbox
    let policy: RetryPolicy
    let log: Logger
    let console: @Sendable (String) -> Void
    /// Config, workers and state syncs, swapped together on a reload.
    private let state: Mutex<(config: AlertingConfig, workers: [String: ChannelWorker], syncs: [String: StateSync])>
    private let counters = Mutex<[String: DeliveryStats]>([:])
    private let healthBox = Mutex<[String: ChannelHealth]>([:])

    /// Each channel's last success and last error.
    public var health: [String: ChannelHealth] { healthBox.withLock { $0 } }

    func succeeded(_ channel: String) { healthBox.withLock { $0[channel, default: ChannelHealth()].lastSuccess = Date() } }

    func failed(_ channel: String, _ cause: String) {
        healthBox.withLock { h in
            h[channel, default: ChannelHealth()].lastError = cause
            h[channel, default: ChannelHealth()].lastErrorAt = Date()
        }
    }
    /// The last `recentLimit` notifications, oldest first, each with its outbox id when it has one.
    private let recentRecords = Mutex<[(id: UInt64?, record: DeliveryRecord)]>([])
    public static let recentLimit = 100

    /// The last 100 notifications, newest first.
    public var recent: [DeliveryRecord] { recentRecords.withLock { $0.reversed().map(\.record) } }

    private func note(_ n: AlertNotification, id: UInt64?, status: String) {
        let r = DeliveryRecord(at: n.at, channel: n.channel, kind: n.kind, alert: n.alerts.first?.name ?? "?",
                               labels: n.alerts.first?.labels ?? [], status: status, detail: nil)
        recentRecords.withLock { list in
            list.append((id, r))
            if list.count > Delivery.recentLimit { list.removeFirst(list.count - Delivery.recentLimit) }
        }
    }

    /// A delivery attempt's outcome for the outbox entry `id`, if it is still among the recent.
    func update(_ id: UInt64, status: String, detail: String? = nil) {
        recentRecords.withLock { list in
            if let i = list.lastIndex(where: { $0.id == id }) {
                list[i].record.status = status
                list[i].record.detail = detail
            }
        }
    }

    public init(config: AlertingConfig, transport: HTTPTransport = CurlTransport(), outbox: Outbox,
                policy: RetryPolicy = RetryPolicy(), log: LogSink,
                console: @escaping @Sendable (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) {
        self.transport = transport
        self.outbox = outbox
        self.policy = policy
        let logger = log.logger("delivery")
        self.log = logger
        self.console = console
        let sync: @Sendable (ChannelConfig) -> StateSync? = { c in
            guard let integration = c.type.integration as? any StateSyncIntegration else { return nil }
            let s = StateSync(channel: c, integration: integration, transport: transport, policy: policy, log: logger)
            s.start()
            return s
        }
        makeSync = sync
        state = Mutex((config, Dictionary(uniqueKeysWithValues: config.channels.values.map { ($0.name, ChannelWorker(channel: $0, policy: policy)) }),
                       Dictionary(uniqueKeysWithValues: config.channels.values.compactMap { c in sync(c).map { (c.name, $0) } })))
    }

    private let makeSync: @Sendable (ChannelConfig) -> StateSync?

    /// A reload: channels whose settings changed get a new worker (the old one finishes what it
    /// holds); removed channels keep theirs until it is idle.
    public func reconfigure(_ config: AlertingConfig) {
        state.withLock { s in
            for (name, channel) in config.channels where s.config.channels[name] != channel {
                s.workers[name] = ChannelWorker(channel: channel, policy: policy)
                // A changed sync starts over from what the next notifications say, seeded with what it held.
                let old = s.syncs[name]
                s.syncs[name] = makeSync(channel)
                if let old, let new = s.syncs[name] { new.inherit(old) }
            }
            for name in s.syncs.keys where config.channels[name] == nil { s.syncs[name] = nil }
            s.config = config
        }
    }

    private var workers: [String: ChannelWorker] { state.withLock { $0.workers } }

    /// Tells a state-sync channel the alerts it was told about before a restart.
    public func seed(channel: String, active: [AlertInfo]) {
        state.withLock { $0.syncs[channel] }?.seed(active)
    }

    /// Cluster mode, at a start: the cluster hears again which alerts fire for each channel it
    /// delivers (`active(C)`: the restored router's firing alerts told to C).
    public func seedCluster(active: (String) -> [AlertInfo]) {
        let config = self.config
        guard let cluster = config.cluster, let sync = state.withLock({ $0.syncs[cluster] }) else { return }
        for channel in config.channels.values.sorted(by: { $0.name < $1.name }) where config.relay(for: channel) != nil {
            let firing = active(channel.name)
            if !firing.isEmpty { sync.relay(AlertNotification(at: firing[0].startsAt, channel: channel.name, kind: .firing, step: 0, alerts: firing)) }
        }
    }

    /// The state-sync channels (Alertmanager).
    public var syncedChannels: [String] { state.withLock { Array($0.syncs.keys).sorted() } }

    /// Re-sends what the outbox held at the last stop.
    public func resume() {
        for entry in outbox.entries { dispatch(entry) }
    }

    /// Records a notification in the outbox, to be dispatched once it is durable (`now`: made
    /// durable here, else with the core step). A console notification is printed at once, a
    /// state-sync channel's (Alertmanager) changes its state, and an undeclared channel is
    /// logged: none of them is owed (nil).
    public func record(_ n: AlertNotification, now: Bool = false) -> Outbox.Entry? {
        guard let channel = config.channels[n.channel] else {
            log.error("notification for an undeclared channel", ["channel": n.channel])
            return nil
        }
        if let sync = state.withLock({ $0.syncs[n.channel] }) {
            sync.apply(n) // the peer gets the state, not the notice: nothing is owed
            note(n, id: nil, status: "synced")
            return nil
        }
        if let cluster = config.relay(for: channel), let sync = state.withLock({ $0.syncs[cluster] }) {
            sync.relay(n) // cluster mode: Alertmanager delivers it, once for every replica
            count(n.channel) { $0.relayed += 1 }
            note(n, id: nil, status: "relayed")
            return nil
        }
        if let line = channel.type.integration.consoleLine(for: n) {
            console(line)
            count(n.channel) { $0.sent += 1 }
            note(n, id: nil, status: "printed")
            return nil
        }
        let entry = now ? outbox.addNow(n) : outbox.add(n)
        note(n, id: entry.id, status: "queued")
        return entry
    }

    /// Hands an owed notification to its channel's worker.
    public func dispatch(_ entry: Outbox.Entry) {
        guard let worker = workers[entry.channel] else { outbox.done(entry); return }
        worker.enqueue(entry, delivery: self)
    }

    /// Waits until every channel is idle or `timeout` passes; true when idle.
    public func drain(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if workers.values.allSatisfy(\.isIdle), state.withLock({ $0.syncs.values }).allSatisfy(\.isIdle) { return true }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }

    public var stats: [String: DeliveryStats] { counters.withLock { $0 } }

    func count(_ channel: String, _ change: (inout DeliveryStats) -> Void) {
        counters.withLock { change(&$0[channel, default: DeliveryStats()]) }
    }

    /// Called by a worker when an entry will not be delivered.
    func finalFailure(_ entry: Outbox.Entry, cause: String) {
        update(entry.id, status: "failed", detail: cause)
        failed(entry.channel, cause)
        let alert = entry.notification.alerts.first?.name ?? "?"
        log.error("delivery failed for good", ["channel": entry.channel, "alert": alert, "status": cause, "kind": entry.notification.kind.rawValue])
        count(entry.channel) { $0.failed += 1 }
        guard let fallback = config.fallback, fallback != entry.channel, config.channels[fallback] != nil else { return }
        let info = AlertInfo(name: "vigil_delivery_failed", severity: .warning,
                             labels: [Label("alert", alert), Label("channel", entry.channel)],
                             fingerprint: fingerprint(alert: "vigil_delivery_failed", labels: [Label("alert", alert), Label("channel", entry.channel)]),
                             value: 0, stringValue: cause,
                             summary: "vigil could not deliver a \(entry.notification.kind.rawValue) notification about \(alert) to \(entry.channel): \(cause)",
                             description: nil, runbook: nil, startsAt: entry.notification.at, endsAt: nil)
        if let report = record(AlertNotification(at: entry.notification.at, channel: fallback, kind: .firing, step: 0, alerts: [info]), now: true) {
            dispatch(report)
        }
    }
}

/// One channel's queue: per-alert FIFOs, up to `policy.concurrency` alerts in flight, each on a
/// thread of its own that lives while that alert has notifications queued. Delivery blocks on
/// its own threads rather than awaiting on Swift's cooperative pool: a pool starved by other
/// work (on Linux it shares Dispatch's global threads) must not delay a page or drift pacing.
/// A paced channel (Slack, at `rate`, 1/s by default) sends one request at a time and starts
/// the next 1/rate after the previous one completed, so requests *arrive* at most `rate` a second.
final class ChannelWorker: Sendable {
    let channel: ChannelConfig
    let policy: RetryPolicy

    private struct State {
        var queues: [String: [Outbox.Entry]] = [:]
        var order: [String] = []
        var inFlight: Set<String> = []
        var nextSlot = ContinuousClock.now
    }

    private let state = Mutex(State())

    init(channel: ChannelConfig, policy: RetryPolicy) {
        self.channel = channel
        self.policy = policy
    }

    var isIdle: Bool { state.withLock { $0.queues.isEmpty && $0.inFlight.isEmpty } }

    func enqueue(_ entry: Outbox.Entry, delivery: Delivery) {
        let key = entry.notification.alerts.first?.fingerprint ?? ""
        let start = state.withLock { s -> [String] in
            if s.queues[key] == nil { s.order.append(key) }
            s.queues[key, default: []].append(entry)
            return claim(&s)
        }
        for key in start { spawn(key, delivery) }
    }

    /// The integration's pacing interval, if it is paced.
    private var interval: Int64? { channel.type.integration.pacing(channel) }
    private var isPaced: Bool { interval != nil }

    /// Marks as in flight the alerts that may start now (under the lock).
    private func claim(_ s: inout State) -> [String] {
        var started: [String] = []
        while s.inFlight.count < (isPaced ? 1 : policy.concurrency),
              let key = s.order.first(where: { !s.inFlight.contains($0) && !(s.queues[$0]?.isEmpty ?? true) }) {
            s.inFlight.insert(key)
            started.append(key)
        }
        return started
    }

    private func spawn(_ key: String, _ delivery: Delivery) {
        let thread = Thread { [self] in work(key, delivery) }
        thread.name = "vigil-delivery-\(channel.name)"
        thread.start()
    }

    /// Delivers the alert's queued notifications in order, then frees its slot.
    private func work(_ key: String, _ delivery: Delivery) {
        while let entry = state.withLock({ $0.queues[key]?.first }) {
            deliver(entry, delivery)
            state.withLock { _ = $0.queues[key]?.removeFirst() }
        }
        let next = state.withLock { s -> [String] in
            // An entry enqueued after the last look keeps this alert going on a new thread.
            if s.queues[key]?.isEmpty ?? true {
                s.queues[key] = nil
                s.order.removeAll { $0 == key }
            }
            s.inFlight.remove(key)
            return claim(&s)
        }
        for key in next { spawn(key, delivery) }
    }

    private func pace() {
        guard isPaced else { return }
        let slot = state.withLock { $0.nextSlot }
        let wait = slot - ContinuousClock.now
        if wait > .zero { sleep(wait) }
    }

    /// After a paced request completes: the next may start 1/rate later.
    private func paced() {
        if let interval { state.withLock { $0.nextSlot = ContinuousClock.now + .nanoseconds(interval) } }
    }

    private func sleep(_ d: Duration) {
        let (seconds, atto) = d.components
        Thread.sleep(forTimeInterval: Double(seconds) + Double(atto) / 1e18)
    }

    private func deliver(_ entry: Outbox.Entry, _ delivery: Delivery) {
        let integration = channel.type.integration
        guard let request = integration.request(for: entry.notification, channel: channel) else {
            delivery.outbox.done(entry) // nothing this target takes (e.g. `acknowledge` outside PagerDuty)
            return
        }
        let started = ContinuousClock.now
        let giveUp = Duration.nanoseconds(integration.giveUpAge(policy))
        var attempt = 0
        while true {
            attempt += 1
            pace()
            let result = delivery.transport.post(request, timeout: channel.timeout)
            paced()
            switch integration.classify(result, now: Date()) {
            case .delivered:
                delivery.count(channel.name) { $0.sent += 1 }
                delivery.succeeded(channel.name)
                delivery.update(entry.id, status: "sent")
                delivery.outbox.done(entry)
                return
            case .final(let cause):
                // The report is owed before the entry is done: a crash between repeats it, never loses it.
                delivery.finalFailure(entry, cause: cause)
                delivery.outbox.done(entry)
                return
            case .retry(let after):
                let wait = Duration.nanoseconds(after ?? policy.backoff(after: attempt))
                if ContinuousClock.now + wait - started > giveUp {
                    delivery.finalFailure(entry, cause: "gave up after \(attempt) attempts: \(result.description)")
                    delivery.outbox.done(entry)
                    return
                }
                delivery.count(channel.name) { $0.retried += 1 }
                delivery.failed(channel.name, result.description)
                delivery.update(entry.id, status: "retrying", detail: result.description)
                delivery.log.warning("delivery will be retried", ["channel": channel.name, "alert": entry.notification.alerts.first?.name ?? "?",
                                                    "attempt": "\(attempt)", "cause": result.description])
                sleep(wait)
            }
        }
    }
}

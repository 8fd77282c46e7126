import Foundation
import VigilEngine
import VigilRules

/// How one rule routes: its channels, escalation steps, repeat, grouping and templates.
struct RoutingRule {
    struct Step {
        let delay: Int64
        let channels: [String]
    }

    let name: String
    let severity: Severity
    let channels: [String]
    let steps: [Step]
    /// nil: never.
    let repeatEvery: Int64?
    let groupBy: [String]?
    let groupWait: Int64
    let summary: String?
    let description: String?
    let runbook: String?
    let threshold: String?

    init(_ a: AlertRule, config: AlertingConfig, consts: [String: Quantity]) {
        name = a.name.name
        severity = a.severity ?? .warning
        channels = a.channels.map(\.name)
        var steps: [Step] = []
        for s in a.escalation {
            switch s.kind {
            case .immediate: steps.append(Step(delay: 0, channels: [config.escalationTarget]))
            case .none: break
            case .after(let d, let to, _): steps.append(Step(delay: d.nanoseconds, channels: to.isEmpty ? [config.escalationTarget] : to.map(\.name)))
            }
        }
        self.steps = steps
        // SPEC §3 defaults: 1h for critical, 4h for warning, never for info.
        var repeatEvery: Int64? = switch severity {
        case .critical: 3_600_000_000_000
        case .warning: 14_400_000_000_000
        case .info: nil
        }
        var groupBy: [String]?
        var groupWait: Int64 = 0
        for c in a.clauses {
            if case .repeatEvery(let d) = c.body { repeatEvery = d?.nanoseconds }
            if let every = repeatEvery, every <= 0 { repeatEvery = nil } // the parser refuses it; never spin on it
            if case .group(let g) = c.body {
                groupBy = g.by.map(\.name)
                groupWait = g.wait?.nanoseconds ?? 0
            }
        }
        self.repeatEvery = repeatEvery
        self.groupBy = groupBy
        self.groupWait = groupWait
        summary = a.template(.summary)?.value
        description = a.template(.description)?.value
        runbook = a.template(.runbook)?.value
        // `{{threshold}}`: the right side of the condition's comparison, when it is a number or const.
        var threshold: String?
        if case .binary(let op, _, let r, _)? = a.condition?.expr, op.isComparison {
            switch r {
            case .number(let n): threshold = formatNumber(n.quantity.value)
            case .selector(let s): threshold = consts[s.qualifiedName].map { formatNumber($0.value) }
            default: break
            }
        }
        self.threshold = threshold
    }
}

/// Turns alert transitions and operator commands into notifications, at the right times
/// (SPEC §3). Alertmanager's pipeline in one pure type: inhibit → silence → group/wait → notify
/// → escalate/repeat, plus acknowledgements and the flapping hold. Time is a value: it returns
/// its next deadline and the driver advances it there.
public final class Router {
    public private(set) var config: AlertingConfig
    /// Notifications since the driver last took them, in time order.
    public var notifications: [AlertNotification] = []

    private var rules: [String: RoutingRule] = [:]
    private var inhibitions: [(target: String, source: String, on: [String])] = []
    private var tracked = ChangeTracked<Tracked>()
    /// Mutated in place (a `didSet` here made every insertion copy the whole dictionary), so
    /// each change sets `silencesChanged` itself.
    private var silences: [String: Silence] = [:]
    private var silencesChanged = false

    /// Whether to remember what changes, for a journal (`takeChanges`).
    public var recordsChanges: Bool {
        get { tracked.recording }
        set { tracked.recording = newValue }
    }

    /// What changed since the last call (with `recordsChanges`): alerts followed now, alerts no
    /// longer followed, and the silences when any changed. Costs what changed.
    public struct Changes: Sendable {
        public var tracked: [String: Tracked] = [:]
        public var untracked: [String] = []
        public var silences: [Silence]?
    }

    public func takeChanges() -> Changes {
        var c = Changes()
        for fp in tracked.takeChanged() {
            if let t = tracked[fp] { c.tracked[fp] = t } else { c.untracked.append(fp) }
        }
        c.untracked.sort()
        if silencesChanged { c.silences = persisted().silences }
        silencesChanged = false
        return c
    }
    private var groups: [String: Group] = [:]
    private var timers = MinHeap<Timer>(key: \.at.nanoseconds)
    private var now = Instant(nanoseconds: .min)

    /// One alert instance the router follows, from firing until its resolve is sent.
    /// One alert the router follows (public so the journal can diff it; its fields are internal).
    public struct Tracked: Codable, Sendable, Equatable {
        var info: AlertInfo
        var firing: Bool
        var isEvent: Bool
        var firedAt: Instant
        /// Channels told about it (in order): they get the resolve.
        var notified: [String] = []
        /// Firing, but the first notification has not gone out (muted, grouped or flapping).
        var pendingFirst = true
        var nextStep = 0
        var nextRepeat: Instant?
        var ackedUntil: Instant?
        var flapping = false
        var stableAt: Instant?
    }

    struct Group {
        var fingerprints: [String]
        let rule: String
        let at: Instant
    }

    public init(rules lint: LintResult, config: AlertingConfig) {
        self.config = config
        install(lint)
    }

    /// Replaces rules and config (a reload). Alerts of rules that still exist keep their state;
    /// a firing alert whose rule is gone is resolved to the channels it reached.
    public func reload(rules lint: LintResult, config: AlertingConfig, at t: Instant) {
        advance(through: t)
        self.config = config
        install(lint)
        for fp in tracked.keys.sorted() where tracked[fp].map({ rules[$0.info.name] == nil }) == true {
            tracked[fp]?.flapping = false
            tracked[fp]?.firing = false
            resolve(fp)
        }
        for fp in tracked.keys.sorted() { schedule(fp) }
    }

    private func install(_ lint: LintResult) {
        var consts: [String: Quantity] = [:]
        inhibitions = []
        rules = [:]
        for f in lint.files {
            for s in f.statements {
                if case .const(let c) = s { consts[c.name.name] = c.value.quantity }
                if case .inhibit(let i) = s { inhibitions.append((i.target.name, i.source.name, i.on.map(\.name))) }
            }
        }
        for a in lint.alerts { rules[a.name.name] = RoutingRule(a, config: config, consts: consts) }
    }

    /// The earliest time the router must be advanced to, if any. A group's flush and a
    /// silence's start or end are deadlines as they stand (they used to be skipped, so a
    /// sidecar with nothing else to do slept through them, and each silence cost every step a
    /// pop); an alert's timer counts if it is still its due time (rescheduling leaves old ones).
    public var nextDeadline: Instant? {
        var heap = timers
        while let top = heap.peek {
            if top.key.hasPrefix("group:") || top.key.hasPrefix("silence:") { return top.at }
            if let d = due(top.key), d <= top.at { return top.at }
            _ = heap.pop()
        }
        return nil
    }

    // MARK: - Input

    /// Routes engine transitions (in time order).
    public func handle(_ transitions: [Transition]) {
        for t in transitions {
            advance(through: t.at)
            handle(t)
        }
    }

    private func handle(_ t: Transition) {
        guard let rule = rules[t.alert], t.state != .pending else { return }
        now = max(now, t.at)
        let fp = fingerprint(alert: t.alert, labels: t.labels)
        let info = alertInfo(t, rule: rule, fingerprint: fp, since: tracked[fp]?.firedAt ?? t.at)
        var tr = tracked[fp] ?? Tracked(info: info, firing: false, isEvent: t.isEvent, firedAt: t.at)
        tr.info = info
        if t.flapping {
            if !tr.flapping {
                tr.flapping = true
                tr.firing = t.state == .firing
                tracked[fp] = tr
                if !isMuted(info) { send(.flapping, to: rule.channels, alerts: [info], fp: fp) }
            }
            tr = tracked[fp] ?? tr
            tr.firing = t.state == .firing
            tr.stableAt = t.at + 600_000_000_000
            tracked[fp] = tr
            schedule(fp)
            return
        }
        switch t.state {
        case .firing:
            tr.firing = true
            tr.firedAt = t.at
            tr.pendingFirst = true
            tr.nextStep = 0
            tr.ackedUntil = nil
            tracked[fp] = tr
            if let by = rule.groupBy, rule.groupWait > 0 {
                let key = rule.name + "\u{0}" + by.map { n in info.labels.first { $0.name == n }?.value ?? "" }.joined(separator: "\u{0}")
                if groups[key] == nil {
                    groups[key] = Group(fingerprints: [], rule: rule.name, at: t.at + rule.groupWait)
                    timers.push(Timer(at: t.at + rule.groupWait, key: "group:" + key))
                }
                // Once: an alert that fires, resolves and fires again within the wait is one alert of the group.
                if groups[key]?.fingerprints.contains(fp) == false { groups[key]?.fingerprints.append(fp) }
            } else {
                sendFirst(fp)
            }
        case .resolved:
            tr.firing = false
            tracked[fp] = tr
            resolve(fp)
            recheckMuted()
        case .pending:
            break
        }
    }

    /// Acknowledges a firing alert: repeats and pending escalation stop until it resolves (or the
    /// ack expires), and PagerDuty channels that were paged get `acknowledge`. False if not firing.
    @discardableResult
    public func acknowledge(fingerprint fp: String, at t: Instant, for duration: Int64? = nil) -> Bool {
        advance(through: t)
        guard var tr = tracked[fp], tr.firing else { return false }
        tr.ackedUntil = duration.map { t + $0 } ?? Instant(nanoseconds: .max)
        tracked[fp] = tr
        let paged = tr.notified.filter { config.channels[$0]?.type == .pagerduty }
        if !paged.isEmpty { send(.acknowledge, to: paged, alerts: [tr.info], fp: fp, record: false) }
        schedule(fp)
        return true
    }

    /// Firing alerts acknowledged now (an ack ends with its duration or the alert's resolve).
    public var acknowledged: Set<String> {
        Set(tracked.filter { $0.value.firing && ($0.value.ackedUntil.map { $0 > now } ?? false) }.keys)
    }

    /// The fingerprints of firing alerts of `alert` whose labels include `labels`.
    public func firing(alert: String, labels: [Label]) -> [String] {
        tracked.filter { $0.value.firing && $0.value.info.name == alert && labels.allSatisfy($0.value.info.labels.contains) }
            .map(\.key).sorted()
    }

    public func add(_ silence: Silence) {
        advance(through: silence.startsAt)
        silences[silence.id] = silence
        silencesChanged = true
        timers.push(Timer(at: silence.endsAt, key: "silence:" + silence.id))
        if silence.startsAt > now { timers.push(Timer(at: silence.startsAt, key: "silence:" + silence.id)) }
    }

    @discardableResult
    public func removeSilence(id: String, at t: Instant) -> Bool {
        advance(through: t)
        guard silences.removeValue(forKey: id) != nil else { return false }
        silencesChanged = true
        recheckMuted()
        return true
    }

    public var activeSilences: [Silence] { silences.values.filter { $0.endsAt > now }.sorted { $0.id < $1.id } }

    /// Silences held, active or not yet started (ended ones are dropped at their end).
    public var silenceCount: Int { silences.count }

    /// What the journal keeps of the router.
    public struct Persisted: Codable, Sendable {
        public var tracked: [String: Tracked]
        public var silences: [Silence]

        public init(tracked: [String: Tracked], silences: [Silence]) {
            self.tracked = tracked
            self.silences = silences
        }

        public var silenceCount: Int { silences.count }
    }

    public func persisted() -> Persisted {
        Persisted(tracked: tracked.storage, silences: Array(silences.values).sorted { $0.id < $1.id })
    }

    /// Puts back alerts, acks, escalation positions and silences from the journal; timers resume
    /// where they were (a step that came due while vigil was down goes out now).
    public func restore(_ p: Persisted, at t: Instant) {
        now = max(now, t)
        for (fp, tr) in p.tracked where rules[tr.info.name] != nil { tracked[fp] = tr }
        for s in p.silences where s.endsAt > t {
            silences[s.id] = s
            silencesChanged = true
            timers.push(Timer(at: s.endsAt, key: "silence:" + s.id))
        }
        for fp in tracked.keys.sorted() {
            if tracked[fp]?.pendingFirst == true { sendFirst(fp) }
            schedule(fp)
        }
    }

    // MARK: - Time

    /// Runs every timer up to and including `t`.
    public func advance(through t: Instant) {
        while let top = timers.peek, top.at <= t {
            _ = timers.pop()
            now = max(now, top.at)
            fire(top.key, at: top.at)
        }
        now = max(now, t)
    }

    private func fire(_ key: String, at t: Instant) {
        if key.hasPrefix("group:") {
            let gk = String(key.dropFirst(6))
            guard let g = groups.removeValue(forKey: gk), let rule = rules[g.rule] else { return }
            let ready = g.fingerprints.filter { fp in
                guard let tr = tracked[fp], tr.firing, !tr.flapping else { return false }
                return !isMuted(tr.info)
            }
            guard !ready.isEmpty else { recheckMuted(); return }
            send(.firing, to: rule.channels, alerts: ready.compactMap { tracked[$0]?.info }, fp: nil)
            for fp in ready {
                tracked[fp]?.pendingFirst = false
                let before = tracked[fp]?.notified ?? []
                tracked[fp]?.notified = merge(before, rule.channels)
                startTimers(fp, rule)
            }
            return
        }
        if key.hasPrefix("silence:") {
            // An ended silence is dropped (the API lists active ones; the journal need not keep it).
            let id = String(key.dropFirst(8))
            if let s = silences[id], s.endsAt <= t {
                silences[id] = nil
                silencesChanged = true
            }
            recheckMuted()
            return
        }
        // A timer whose alert is due no later than it (overdue steps after a mute) runs; one whose
        // alert moved on (a step sent, an ack) is stale.
        guard let d = due(key), d <= t, var tr = tracked[key], let rule = rules[tr.info.name] else { return }
        if let until = tr.ackedUntil, until <= t { tr.ackedUntil = nil; tracked[key] = tr }
        if tr.flapping, let stable = tr.stableAt, stable <= t {
            tr.flapping = false
            tr.stableAt = nil
            tracked[key] = tr
            if tr.firing { tr.pendingFirst = true; tracked[key] = tr; sendFirst(key) } else { resolve(key) }
            return
        }
        guard tr.firing, !tr.flapping, tr.ackedUntil == nil, !tr.pendingFirst else { schedule(key); return }
        // Muted now: the due step waits for the mute to end (`recheckMuted` reschedules it).
        // Rescheduling here would put it at this same instant again, and the clock would spin.
        if isMuted(tr.info) { return }
        // Escalation steps that are due.
        while tr.nextStep < rule.steps.count, tr.firedAt + rule.steps[tr.nextStep].delay <= t {
            let step = rule.steps[tr.nextStep]
            tr.nextStep += 1
            tracked[key] = tr
            // `immediate` goes out with the first notification: a channel that just got it is not paged twice.
            let channels = step.delay == 0 ? step.channels.filter { !rule.channels.contains($0) } : step.channels
            send(.escalation, to: channels, alerts: [tr.info], fp: key, step: tr.nextStep)
            tr = tracked[key] ?? tr
        }
        if let r = tr.nextRepeat, r <= t, let every = rule.repeatEvery {
            send(.repeat, to: rule.channels, alerts: [tr.info], fp: key)
            tr = tracked[key] ?? tr
            // The first repeat after t on the same phase, computed: a replay that jumps years
            // ahead must not walk there one period at a time.
            tr.nextRepeat = r + ((t - r) / every + 1).multipliedSaturated(by: every)
            tracked[key] = tr
        }
        schedule(key)
    }

    // MARK: - Steps

    private func sendFirst(_ fp: String) {
        guard let tr = tracked[fp], tr.firing, tr.pendingFirst, !tr.flapping, let rule = rules[tr.info.name] else { return }
        guard !isMuted(tr.info) else { return } // sent when the mute ends (recheckMuted)
        send(.firing, to: rule.channels, alerts: [tr.info], fp: fp)
        tracked[fp]?.pendingFirst = false
        startTimers(fp, rule)
        fire(fp, at: now) // an `immediate` step goes out with the first notification
    }

    private func startTimers(_ fp: String, _ rule: RoutingRule) {
        guard var tr = tracked[fp] else { return }
        if let every = rule.repeatEvery { tr.nextRepeat = now + every }
        tracked[fp] = tr
        schedule(fp)
    }

    private func resolve(_ fp: String) {
        guard let tr = tracked[fp] else { return }
        if tr.flapping { schedule(fp); return } // held until stable
        if !tr.isEvent, !tr.notified.isEmpty {
            var info = tr.info
            info.endsAt = now
            send(.resolved, to: tr.notified, alerts: [info], fp: fp, record: false)
        }
        tracked[fp] = nil
    }

    /// After a mute may have ended (a silence's start or end, an alert resolved): alerts whose
    /// first notification waited on it are sent, and steps that came due while they were muted
    /// are scheduled now (they go out in this same advance, unless still muted).
    private func recheckMuted() {
        for fp in tracked.keys.sorted() {
            guard let tr = tracked[fp], tr.firing else { continue }
            if tr.pendingFirst {
                let inGroup = groups.values.contains { $0.fingerprints.contains(fp) }
                if !inGroup { sendFirst(fp) }
            } else if let d = due(fp), d <= now {
                timers.push(Timer(at: now, key: fp)) // overdue steps are taken at once: one page, one repeat
            }
        }
    }

    private func isMuted(_ info: AlertInfo) -> Bool {
        if silences.values.contains(where: { $0.isActive(at: now) && $0.mutes(info) }) { return true }
        for inh in inhibitions where inh.target == info.name {
            let sources = tracked.values.filter { $0.firing && $0.info.name == inh.source }
            if sources.contains(where: { src in inh.on.allSatisfy { name in
                src.info.labels.first { $0.name == name }?.value == info.labels.first { $0.name == name }?.value } }) {
                return true
            }
        }
        return false
    }

    /// When a tracked alert next needs attention, if ever.
    private func due(_ fp: String) -> Instant? {
        guard let tr = tracked[fp], let rule = rules[tr.info.name] else { return nil }
        if tr.flapping { return tr.stableAt }
        guard tr.firing, !tr.pendingFirst else { return nil }
        var next: Instant?
        func consider(_ t: Instant?) { if let t { next = min(next ?? t, t) } }
        if let until = tr.ackedUntil {
            consider(until.nanoseconds == .max ? nil : until)
            return next
        }
        if tr.nextStep < rule.steps.count { consider(tr.firedAt + rule.steps[tr.nextStep].delay) }
        consider(tr.nextRepeat)
        return next
    }

    /// Pushes the alert's next timer at its due time, even one already past (an escalation that
    /// came due while vigil was down): the next advance runs it at once. `fire` checks the entry
    /// against `due`, so it must carry the due time itself.
    private func schedule(_ fp: String) {
        if let t = due(fp) { timers.push(Timer(at: t, key: fp)) }
    }

    private func send(_ kind: AlertNotification.Kind, to channels: [String], alerts: [AlertInfo], fp: String?, step: Int = 0, record: Bool = true) {
        for c in channels {
            notifications.append(AlertNotification(at: now, channel: c, kind: kind, step: step, alerts: alerts))
        }
        if record, let fp {
            let before = tracked[fp]?.notified ?? []
            tracked[fp]?.notified = merge(before, channels)
        }
    }

    private func merge(_ a: [String], _ b: [String]) -> [String] { a + b.filter { !a.contains($0) } }

    private func alertInfo(_ t: Transition, rule: RoutingRule, fingerprint fp: String, since: Instant) -> AlertInfo {
        let value = t.stringValue ?? formatHuman(t.value)
        func render(_ text: String?) -> String? {
            guard let text else { return nil }
            guard case .success(let (template, _)) = Template.parse(text) else { return text }
            return template.parts.map { part -> String in
                switch part {
                case .text(let s): return s
                case .placeholder(let name):
                    switch name {
                    case "value": return value
                    case "alert": return t.alert
                    case "severity": return rule.severity.rawValue
                    case "threshold": return rule.threshold ?? ""
                    case "since": return since.rfc3339
                    case "labels": return t.labels.text()
                    default: return t.labels.first { $0.name == name }?.value ?? ""
                    }
                }
            }.joined()
        }
        let labelText = t.labels.isEmpty ? "" : " (" + t.labels.text() + ")"
        return AlertInfo(name: t.alert, severity: rule.severity, labels: t.labels, fingerprint: fp, value: t.value,
                         stringValue: t.stringValue, summary: render(rule.summary) ?? "\(t.alert)\(labelText) is \(value)",
                         description: render(rule.description), runbook: render(rule.runbook), startsAt: since, endsAt: nil)
    }
}

/// A router timer: `key` names what to look at (an alert's fingerprint, `group:…`, `silence:…`);
/// stale entries are skipped by their owner's check.
struct Timer {
    let at: Instant
    let key: String
}

/// A dictionary by fingerprint that remembers, while `recording`, which keys were written since
/// `takeChanged()`: the journal's delta costs what changed, not what is followed.
struct ChangeTracked<Value> {
    private(set) var storage: [String: Value] = [:]
    var recording = false
    private var changed: Set<String> = []

    subscript(key: String) -> Value? {
        get { storage[key] }
        set {
            storage[key] = newValue
            if recording { changed.insert(key) }
        }
    }

    var keys: Dictionary<String, Value>.Keys { storage.keys }
    var values: Dictionary<String, Value>.Values { storage.values }
    func filter(_ isIncluded: ((key: String, value: Value)) throws -> Bool) rethrows -> [String: Value] { try storage.filter(isIncluded) }

    mutating func takeChanged() -> Set<String> {
        defer { changed.removeAll(keepingCapacity: true) }
        return changed
    }
}

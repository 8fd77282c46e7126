import Foundation
import VigilEngine
import VigilRules

/// Turns alert transitions and operator commands into notifications, at the right times
/// (SPEC §3). Alertmanager's pipeline, as stages: the flapping hold, then the mute stage (each
/// `Muter`: silences, inhibitions), grouping (`group by … wait`), the first notification, then
/// escalation and repeat on the alert's timer, which an ack holds. Time is a value: it returns
/// its next deadline and the driver (`Core`) advances it there.
public final class Router {
    public private(set) var config: AlertingConfig
    /// Notifications since the driver last took them, in time order.
    public var notifications: [AlertNotification] = []

    private var rules: [String: RoutingRule] = [:]
    private var inhibitions: Inhibitions
    private var tracked = ChangeTracked<Tracked>()
    private var silences = Silences()

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
        if silences.changed { c.silences = silences.all }
        silences.changed = false
        return c
    }
    private var groups = Grouping()
    /// Grouped rules' resolves waiting for their group's wait (alerts with `resolvingSince`).
    private var resolving = Grouping()
    private var timers = MinHeap<Timer>()
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
        /// When its repeats were started (the first notification): repeat n is due n periods
        /// later, so replicas number the same repeat alike (nil in older journals: `firedAt`).
        var repeatBase: Instant?
        var ackedUntil: Instant?
        /// The ack is an acknowledgement silence held by the cluster (it ends with it).
        var ackHeld: Bool?
        /// Who acked and why.
        var ackBy: String?
        var ackComment: String?
        var flapping = false
        var stableAt: Instant?
        /// Resolved, its resolve waiting for its group's (grouped rules: resolves go out grouped).
        var resolvingSince: Instant?
    }

    public init(rules lint: LintResult, config: AlertingConfig) {
        self.config = config
        inhibitions = Inhibitions(lint)
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
        inhibitions = Inhibitions(lint)
        rules = [:]
        for f in lint.files {
            for case .const(let c) in f.statements { consts[c.name.name] = c.value.quantity }
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
            switch top.key {
            case .group, .resolves, .silence: return top.at
            case .alert(let fp): if let d = due(fp), d <= top.at { return top.at }
            }
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
        let info = rule.alertInfo(t, fingerprint: fp, since: tracked[fp]?.firedAt ?? t.at)
        var tr = tracked[fp] ?? Tracked(info: info, firing: false, isEvent: t.isEvent, firedAt: t.at)
        if t.state == .resolved, tracked[fp] != nil {
            // The resolve tells what fired (its summary and value then) and what it came back to.
            tr.info.resolvedValue = info.valueText
        } else {
            tr.info = info
        }
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
        case .firing where tr.resolvingSince != nil:
            // Firing again before its grouped resolve went out: the channels never heard it
            // resolve, so it simply fires on, with its steps where they were.
            tr.resolvingSince = nil
            tr.firing = true
            tracked[fp] = tr
            schedule(fp)
        case .firing:
            tr.firing = true
            tr.firedAt = t.at
            tr.pendingFirst = true
            tr.nextStep = 0
            tr.ackedUntil = nil
            tr.ackHeld = nil
            tracked[fp] = tr
            if let key = rule.groupKey(info) {
                if groups.add(fp, rule: rule.name, key: key) { timers.push(Timer(at: t.at + rule.groupWait, key: .group(key))) }
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
    public func acknowledge(fingerprint fp: String, at t: Instant, for duration: Int64? = nil, by: String = "", comment: String = "") -> Bool {
        advance(through: t)
        guard var tr = tracked[fp], tr.firing else { return false }
        tr.ackedUntil = duration.map { t + $0 } ?? Instant(nanoseconds: .max)
        tr.ackBy = by
        tr.ackComment = comment
        tracked[fp] = tr
        acknowledged(fp)
        schedule(fp)
        return true
    }

    /// PagerDuty channels that were paged get `acknowledge`.
    private func acknowledged(_ fp: String) {
        guard let tr = tracked[fp] else { return }
        let paged = tr.notified.filter { config.channels[$0]?.type.integration.takesAcknowledgements == true }
        if !paged.isEmpty { send(.acknowledge, to: paged, alerts: [tr.info], fp: fp, record: false) }
    }

    /// Firing alerts that `channel` was told about (a state-sync channel's state after a restart).
    public func active(toldTo channel: String) -> [AlertInfo] {
        tracked.values.filter { $0.firing && $0.notified.contains(channel) }.map(\.info).sorted { $0.fingerprint < $1.fingerprint }
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

    /// Holds a silence from the router's present (the core settled it to the command's
    /// instant). One that starts later (a pending silence mirrored from the cluster) waits for
    /// its start; it must not move the router's clock there (it once did, and ran every timer
    /// up to a start years ahead).
    public func add(_ silence: Silence) {
        madeHere[silence.id] = now
        hold(silence)
        if Acknowledgement.isAck(silence) { reconcileAcks() }
    }

    /// When each silence made through `add` (not mirrored) was made, while it is fresh.
    private var madeHere: [String: Instant] = [:]

    private func hold(_ silence: Silence) {
        silences.add(silence)
        timers.push(Timer(at: silence.endsAt, key: .silence(silence.id)))
        if silence.startsAt > now { timers.push(Timer(at: silence.startsAt, key: .silence(silence.id))) }
    }

    @discardableResult
    public func removeSilence(id: String, at t: Instant) -> Bool {
        advance(through: t)
        guard let gone = silences[id], silences.remove(id: id) else { return false }
        if Acknowledgement.isAck(gone) { reconcileAcks() }
        recheckMuted()
        return true
    }

    // MARK: - Acks held by the cluster

    /// Ack silences of alerts that resolved, made for that alert alone: the cluster should
    /// expire them (`Core` hands them to the shell), so the next firing is not acked.
    public var endedAcks: [String] = []

    /// Makes every firing alert's ack agree with the acknowledgement silences held now (an ack
    /// given on another replica, or with amtool): an alert is acked while one started after it
    /// fired matches it, until the latest such one ends. An ack given here with no silence
    /// (no cluster) is left alone.
    private func reconcileAcks() {
        let acks = silences.all.filter { Acknowledgement.isAck($0) && $0.isActive(at: now) }
        for fp in tracked.keys.sorted() {
            guard let tr = tracked[fp], tr.firing else { continue }
            let labels = tr.info.allLabels
            let latest = acks.filter { $0.startsAt >= tr.firedAt && Acknowledgement.matches($0, labels) }.max { $0.endsAt < $1.endsAt }
            let until = latest?.endsAt
            if let until, let latest, tr.ackedUntil != until {
                let wasAcked = tr.ackedUntil != nil
                tracked[fp]?.ackedUntil = until
                tracked[fp]?.ackHeld = true
                tracked[fp]?.ackBy = latest.createdBy
                tracked[fp]?.ackComment = latest.comment
                if !wasAcked { acknowledged(fp) }
                schedule(fp)
            } else if until == nil, tr.ackHeld == true {
                tracked[fp]?.ackedUntil = nil
                tracked[fp]?.ackHeld = nil
                if let d = due(fp) { timers.push(Timer(at: max(d, now), key: .alert(fp))) } // overdue steps go out now
            }
        }
    }

    /// What the on-call page shows of a followed alert beside the engine's state: its text, its
    /// ack, its next escalation step, and what mutes it.
    public struct Status: Sendable, Equatable {
        public let info: AlertInfo
        /// Acked until then (`.max`: until it resolves), by whom, why.
        public let ackedUntil: Instant?
        public let ackedBy: String?
        public let ackComment: String?
        /// The next escalation step: to which channels, when (nil while acked, muted or done).
        public let nextStep: (channels: [String], at: Instant)?
        /// Silences muting it now, by id; the rule of the firing alert inhibiting it.
        public let silencedBy: [String]
        public let inhibitedBy: String?

        public static func == (a: Status, b: Status) -> Bool {
            a.info == b.info && a.ackedUntil == b.ackedUntil && a.ackedBy == b.ackedBy && a.ackComment == b.ackComment
                && a.nextStep?.channels == b.nextStep?.channels && a.nextStep?.at == b.nextStep?.at
                && a.silencedBy == b.silencedBy && a.inhibitedBy == b.inhibitedBy
        }
    }

    /// Every firing alert the router follows, by fingerprint.
    public var statuses: [String: Status] {
        var out: [String: Status] = [:]
        for (fp, tr) in tracked.storage where tr.firing {
            let acked = tr.ackedUntil.map { $0 > now } ?? false
            let silencedBy = silences.matching(tr.info, at: now)
            let inhibitedBy = inhibitions.source(muting: tr.info, firing: tracked.storage)
            var next: (channels: [String], at: Instant)?
            if let rule = rules[tr.info.name], !acked, !tr.pendingFirst, silencedBy.isEmpty, inhibitedBy == nil, tr.nextStep < rule.steps.count {
                let step = rule.steps[tr.nextStep]
                next = (step.channels, tr.firedAt + step.delay)
            }
            out[fp] = Status(info: tr.info, ackedUntil: acked ? tr.ackedUntil : nil, ackedBy: acked ? tr.ackBy : nil, ackComment: acked ? tr.ackComment : nil,
                             nextStep: next, silencedBy: silencedBy, inhibitedBy: inhibitedBy)
        }
        return out
    }

    /// The firing alert with this fingerprint, if any (what an ack in the cluster matches).
    public func firingAlert(_ fp: String) -> AlertInfo? {
        tracked[fp].flatMap { $0.firing ? $0.info : nil }
    }

    public var activeSilences: [Silence] { silences.all.filter { $0.endsAt > now } }

    /// Makes the silences whose ids start with `prefix` (those held elsewhere: `am:` for an
    /// Alertmanager cluster) those of `list` that have not ended: ended or gone ones are removed
    /// (one made in the last 5 s and not listed yet is kept), new or changed ones added.
    /// Returns how many changed.
    /// How long a silence just made is kept though the cluster's list lacks it.
    static let freshSilence: Int64 = 5_000_000_000

    public func syncSilences(_ list: [Silence], prefix: String, at t: Instant, limit: Int = .max) -> Int {
        advance(through: t)
        var changed = 0
        let wanted = Dictionary(list.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        // The same silence as far as muting goes: its matchers and its end (to the millisecond,
        // as Alertmanager keeps times), whatever its start, author or comment say.
        func same(_ a: Silence, _ b: Silence?) -> Bool {
            guard let b else { return false }
            // Saturated: the times are Alertmanager's, any year it answers (the fuzzer sent 1694).
            return a.matchers == b.matchers && a.endsAt.nanoseconds.subtractingSaturated(b.endsAt.nanoseconds).magnitude < 1_000_000
        }
        for s in silences.all where s.id.hasPrefix(prefix) && !same(s, wanted[s.id]) {
            // Made here a moment ago (a read already on its way when it was made may not list
            // it yet): not listed is not gone. One that came from the cluster is gone.
            if wanted[s.id] == nil, let made = madeHere[s.id], t - made < Router.freshSilence { continue }
            silences.remove(id: s.id)
            changed += 1
        }
        // What the removals unmuted goes out, then the new silences are held; the acks follow
        // from all of them at once (each used to recheck and reconcile on its own).
        if changed > 0 { recheckMuted() }
        for s in list where silences[s.id] == nil && s.endsAt > t && silences.count < limit {
            hold(s)
            changed += 1
        }
        madeHere = madeHere.filter { silences[$0.key] != nil && t - $0.value < Router.freshSilence }
        if changed > 0 { reconcileAcks() }
        return changed
    }

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
        Persisted(tracked: tracked.storage, silences: silences.all)
    }

    /// Puts back alerts, acks, escalation positions and silences from the journal; timers resume
    /// where they were (a step that came due while vigil was down goes out now).
    /// Returns whether it kept all of `p` as it was: no alert of a rule gone, no silence
    /// expired, none with a first notification or a grouped resolve still to send (those
    /// change it as they go out).
    @discardableResult
    public func restore(_ p: Persisted, at t: Instant) -> Bool {
        now = max(now, t)
        for (fp, tr) in p.tracked where rules[tr.info.name] != nil { tracked[fp] = tr }
        var silencesKept = 0
        for s in p.silences where s.endsAt > t {
            silences.add(s)
            timers.push(Timer(at: s.endsAt, key: .silence(s.id)))
            silencesKept += 1
        }
        let unchanged = tracked.storage.count == p.tracked.count && silencesKept == p.silences.count
            && !tracked.values.contains { $0.pendingFirst || $0.resolvingSince != nil }
        for fp in tracked.keys.sorted() {
            if tracked[fp]?.pendingFirst == true { sendFirst(fp) }
            if let tr = tracked[fp], let since = tr.resolvingSince, let rule = rules[tr.info.name], let key = rule.groupKey(tr.info),
               resolving.add(fp, rule: rule.name, key: key) {
                timers.push(Timer(at: since + rule.groupWait, key: .resolves(key))) // overdue: goes out at once
            }
            schedule(fp)
        }
        return unchanged
    }

    // MARK: - Time

    /// Runs every timer up to and including `t`.
    public func advance(through t: Instant) {
        while let top = timers.peek, top.at <= t {
            _ = timers.pop()
            now = max(now, top.at)
            // At the router's present: a timer that came due while vigil was down runs now, once
            // (its repeats do not walk the missed periods one by one).
            fire(top.key, at: now)
        }
        now = max(now, t)
    }

    private func fire(_ key: TimerKey, at t: Instant) {
        switch key {
        case .group(let k): flush(group: k)
        case .resolves(let k): flush(resolves: k)
        case .silence(let id): silenceChanged(id, at: t)
        case .alert(let fp): attend(fp, at: t)
        }
    }

    /// Grouping: the group's wait is over; its alerts that fire and are not muted go out as one
    /// notification.
    private func flush(group key: String) {
        guard let g = groups.take(key), let rule = rules[g.rule] else { return }
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
    }

    /// A silence started or ended. An ended one is dropped (the API lists active ones; the
    /// journal need not keep it).
    private func silenceChanged(_ id: String, at t: Instant) {
        let ack = silences[id].map(Acknowledgement.isAck) ?? false
        if let s = silences[id], s.endsAt <= t { silences.remove(id: id) }
        if ack { reconcileAcks() } // an ack silence that starts now acks; one that ended, its ack ended with it
        recheckMuted()
    }

    /// The alert's timer, through its stages in order: the ack's expiry, the flapping hold's
    /// end, then (unless acked, held, waiting for its first notification or muted) the
    /// escalation steps and the repeat that are due.
    private func attend(_ fp: String, at t: Instant) {
        // A timer whose alert is due no later than it (overdue steps after a mute) runs; one whose
        // alert moved on (a step sent, an ack) is stale.
        guard let d = due(fp), d <= t, let tr = tracked[fp], let rule = rules[tr.info.name] else { return }
        if let until = tr.ackedUntil, until <= t {
            tracked[fp]?.ackedUntil = nil
            tracked[fp]?.ackHeld = nil
        }
        if endFlapping(fp, at: t) { return }
        guard let tr = tracked[fp], tr.firing, !tr.flapping, tr.ackedUntil == nil, !tr.pendingFirst else { schedule(fp); return }
        // Muted now: the due step waits for the mute to end (`recheckMuted` reschedules it).
        // Rescheduling here would put it at this same instant again, and the clock would spin.
        if isMuted(tr.info) { return }
        escalate(fp, rule, at: t)
        repeatIfDue(fp, rule, at: t)
        schedule(fp)
    }

    /// Flapping: once the alert has been stable long enough, its stable state is sent (firing
    /// as a first notification, resolved as a resolve). True when the hold ended.
    private func endFlapping(_ fp: String, at t: Instant) -> Bool {
        guard var tr = tracked[fp], tr.flapping, let stable = tr.stableAt, stable <= t else { return false }
        tr.flapping = false
        tr.stableAt = nil
        if tr.firing { tr.pendingFirst = true }
        tracked[fp] = tr
        if tr.firing { sendFirst(fp) } else { resolve(fp) }
        return true
    }

    /// Escalation: every step that is due, in order.
    private func escalate(_ fp: String, _ rule: RoutingRule, at t: Instant) {
        while let tr = tracked[fp], tr.nextStep < rule.steps.count, tr.firedAt + rule.steps[tr.nextStep].delay <= t {
            let step = rule.steps[tr.nextStep]
            tracked[fp]?.nextStep += 1
            // `immediate` goes out with the first notification: a channel that just got it is not paged twice.
            let channels = step.delay == 0 ? step.channels.filter { !rule.channels.contains($0) } : step.channels
            send(.escalation, to: channels, alerts: [tr.info], fp: fp, step: tr.nextStep + 1)
        }
    }

    /// Repeat: one re-notification when due, then the next on the same phase.
    private func repeatIfDue(_ fp: String, _ rule: RoutingRule, at t: Instant) {
        guard let tr = tracked[fp], let r = tr.nextRepeat, r <= t, let every = rule.repeatEvery else { return }
        let n = Int(clamping: max(1, (r - (tr.repeatBase ?? tr.firedAt)) / every))
        send(.repeat, to: rule.channels, alerts: [tr.info], fp: fp, step: n)
        // The first repeat after t, computed: a replay that jumps years ahead must not walk there
        // one period at a time.
        tracked[fp]?.nextRepeat = r + ((t - r) / every + 1).multipliedSaturated(by: every)
    }

    // MARK: - Steps

    private func sendFirst(_ fp: String) {
        guard let tr = tracked[fp], tr.firing, tr.pendingFirst, !tr.flapping, let rule = rules[tr.info.name] else { return }
        guard !isMuted(tr.info) else { return } // sent when the mute ends (recheckMuted)
        send(.firing, to: rule.channels, alerts: [tr.info], fp: fp)
        tracked[fp]?.pendingFirst = false
        startTimers(fp, rule)
        attend(fp, at: now) // an `immediate` step goes out with the first notification
    }

    private func startTimers(_ fp: String, _ rule: RoutingRule) {
        guard var tr = tracked[fp] else { return }
        if let every = rule.repeatEvery {
            tr.nextRepeat = now + every
            tr.repeatBase = now
        }
        tracked[fp] = tr
        schedule(fp)
    }

    private func resolve(_ fp: String) {
        guard let tr = tracked[fp] else { return }
        if tr.flapping { schedule(fp); return } // held until stable
        if tr.ackHeld == true {
            let labels = tr.info.allLabels
            endedAcks += silences.all.filter { Acknowledgement.isAck($0) && Acknowledgement.isFor($0, exactly: labels) }.map(\.id)
        }
        if !tr.isEvent, !tr.notified.isEmpty {
            if let rule = rules[tr.info.name], let key = rule.groupKey(tr.info) {
                // Grouped like its firing: the group's resolves go out together after the wait.
                tracked[fp]?.resolvingSince = now
                if resolving.add(fp, rule: rule.name, key: key) { timers.push(Timer(at: now + rule.groupWait, key: .resolves(key))) }
                return
            }
            var info = tr.info
            info.endsAt = now
            send(.resolved, to: tr.notified, alerts: [info], fp: fp, record: false)
        }
        tracked[fp] = nil
    }

    /// A group's resolve wait is over: per channel, one resolved notification with every alert
    /// of the group that resolved meanwhile and was told to that channel.
    private func flush(resolves key: String) {
        guard let g = resolving.take(key) else { return }
        let done = g.fingerprints.compactMap { fp -> (String, Tracked)? in
            guard let tr = tracked[fp], !tr.firing, tr.resolvingSince != nil else { return nil } // fired again meanwhile
            return (fp, tr)
        }
        var channels: [String] = []
        for (_, tr) in done { channels = merge(channels, tr.notified) }
        for c in channels {
            let alerts = done.filter { $0.1.notified.contains(c) }.map { _, tr -> AlertInfo in
                var info = tr.info
                info.endsAt = tr.resolvingSince
                return info
            }
            send(.resolved, to: [c], alerts: alerts, fp: nil, record: false)
        }
        for (fp, _) in done { tracked[fp] = nil }
    }

    /// After a mute may have ended (a silence's start or end, an alert resolved): alerts whose
    /// first notification waited on it are sent, and steps that came due while they were muted
    /// are scheduled now (they go out in this same advance, unless still muted).
    private func recheckMuted() {
        for fp in tracked.keys.sorted() {
            guard let tr = tracked[fp], tr.firing else { continue }
            if tr.pendingFirst {
                if !groups.contains(fp) { sendFirst(fp) }
            } else if let d = due(fp), d <= now {
                timers.push(Timer(at: now, key: .alert(fp))) // overdue steps are taken at once: one page, one repeat
            }
        }
    }

    /// The mute stage: silences first (cheap), then inhibitions by the alerts firing now.
    private func isMuted(_ info: AlertInfo) -> Bool {
        silences.mutes(info, at: now) || inhibitions.muter(firing: tracked.storage).mutes(info, at: now)
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
        if let t = due(fp) { timers.push(Timer(at: t, key: .alert(fp))) }
    }

    private func send(_ kind: AlertNotification.Kind, to channels: [String], alerts: [AlertInfo], fp: String?, step: Int = 0, record: Bool = true) {
        // Alertmanager's groupLabels: alertname and the rule's group-by labels the alerts carry.
        let groupLabels = alerts.first.map { a in
            [Label("alertname", a.name)] + (rules[a.name]?.groupBy ?? []).compactMap { n in a.labels.first { $0.name == n } }
        }
        func notification(_ c: String, _ alerts: [AlertInfo]) -> AlertNotification {
            var n = AlertNotification(at: now, channel: c, kind: kind, step: step, alerts: alerts)
            n.groupLabels = groupLabels
            return n
        }
        for c in channels {
            // A target that takes one alert a message (PagerDuty: one event per dedup_key) gets
            // a group as one notification per alert, so each can be resolved later.
            if alerts.count > 1, config.channels[c]?.type.integration.groupsAlerts == false {
                for a in alerts { notifications.append(notification(c, [a])) }
            } else {
                notifications.append(notification(c, alerts))
            }
        }
        if record, let fp {
            let before = tracked[fp]?.notified ?? []
            tracked[fp]?.notified = merge(before, channels)
        }
    }

    private func merge(_ a: [String], _ b: [String]) -> [String] { a + b.filter { !a.contains($0) } }
}

/// A router timer. Stale entries (an alert that moved on, a silence already gone) are skipped
/// by their owner's check.
struct Timer: HeapOrdered {
    let at: Instant
    let key: TimerKey

    var heapKey: Int64 { at.nanoseconds }
}

enum TimerKey {
    /// An alert's next step (escalation, repeat, ack expiry, flapping hold), by fingerprint.
    case alert(String)
    /// A group's wait ends.
    case group(String)
    /// A group's resolves go out.
    case resolves(String)
    /// A silence starts or ends.
    case silence(String)
}

/// Alerts waiting for their group's first notification (`group by … wait …`), by group key.
struct Grouping {
    struct Group {
        var fingerprints: [String]
        let rule: String
    }

    private var groups: [String: Group] = [:]

    /// Adds a firing alert to its group; true when the group is new (its wait starts now). An
    /// alert that fires, resolves and fires again within the wait is one alert of the group.
    mutating func add(_ fp: String, rule: String, key: String) -> Bool {
        guard groups[key] != nil else {
            groups[key] = Group(fingerprints: [fp], rule: rule)
            return true
        }
        if groups[key]?.fingerprints.contains(fp) == false { groups[key]?.fingerprints.append(fp) }
        return false
    }

    /// The group whose wait ended, no longer waiting.
    mutating func take(_ key: String) -> Group? { groups.removeValue(forKey: key) }

    func contains(_ fp: String) -> Bool { groups.values.contains { $0.fingerprints.contains(fp) } }
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

import Foundation
import VigilRules

/// Alert instances: each rule's state machines stepped by the evaluator, their transitions,
/// and their persistence and restore.
extension Engine {
    // MARK: - Stepping

    /// An instance whose series the evaluation did not produce (gone, stale, filtered out) goes
    /// false, keeping its last value; unless it was restored from the journal and the grace
    /// period for its series to come back is not over.
    func goFalse(rule r: Int, labels: Int32) {
        guard activeInstances[r] > 0, now.nanoseconds >= restoredUntil, let inst = instances[r][labels] else { return }
        step(rule: r, labels: labels, holds: false, value: inst.value, isString: inst.isString, hint: .max, staleAt: .max)
    }

    /// Steps rule `r`'s instance for `labels` with one evaluation's result. Inlined into every
    /// evaluation: the quiet case (nothing holds, no instance of the rule) is two tests here,
    /// and the state machine's work is not, so a sample's pass keeps its registers.
    @inline(__always) func step(rule r: Int, labels: Int32, holds: Bool, value: Double, isString: Bool, hint: Int64, staleAt: Int64) {
        if hint != .max { schedule(rule: r, labels: labels, at: hint) }
        // Nothing holds and nothing is active: nothing to step (the common case of a quiet rule).
        if !holds, activeInstances[r] == 0 { return }
        stepInstance(rule: r, labels: labels, holds: holds, value: value, isString: isString, staleAt: staleAt)
    }

    /// `step`'s state machine, for a rule that holds or has instances.
    @inline(never) private func stepInstance(rule r: Int, labels: Int32, holds: Bool, value: Double, isString: Bool, staleAt: Int64) {
        let current = activeInstances[r] == 0 ? nil : instances[r][labels]
        if !holds, current == nil { return }
        let rule = rules[r]
        var (next, report, timer) = StateMachine.step(current, holds: holds, value: value, now: now.nanoseconds,
                                                      holdFor: rule.holdFor, resolveAfter: rule.resolveAfter)
        next?.isString = isString
        instances[r][labels] = next
        let active = Int32(instances[r].count)
        if thresholdMetric[r] >= 0 { quiet[Int(thresholdMetric[r])].active += active - activeInstances[r] }
        activeInstances[r] = active
        if recordsChanges, next != current { changedInstances.insert(Int64(r) << 32 | Int64(UInt32(bitPattern: labels))) }
        if let report { emit(rule: r, labels: labels, state: report, value: value, isString: isString) }
        if let timer { schedule(rule: r, labels: labels, at: timer) }
        if next != nil, staleAt != .max { schedule(rule: r, labels: labels, at: staleAt) }
    }

    func emit(rule r: Int, labels: Int32, state: AlertStateKind, value: Double, isString: Bool) {
        let rule = rules[r]
        let t = now.nanoseconds
        var history = changes[r][labels] ?? []
        history.append(t)
        history.removeAll { $0 <= t - 600_000_000_000 }
        changes[r][labels] = history
        var all = symbols.labels(labels)
        for l in rule.labels where !all.contains(where: { $0.name == l.name }) { all.append(l) }
        all.sort()
        transitions.append(Transition(at: now, alert: rule.name, severity: rule.severity, labels: all, state: state,
                                      value: value, stringValue: isString ? symbols.string(Int32(value)) : nil,
                                      flapping: history.count > 6, isEvent: isEvent(rule)))
    }

    /// Whether a rule's alerts are events (no resolved notice): declared so, or every metric it
    /// reads came in as event lines. An undeclared name (a seed JSON table's) learns its kind
    /// from the stream, so the answer is the series', at run time.
    func isEvent(_ rule: CompiledRule) -> Bool {
        if rule.isEvent { return true }
        guard !rule.metrics.isEmpty else { return false }
        return rule.metrics.allSatisfy { Int($0) < symbols.metricKind.count && symbols.metricKind[Int($0)] == .event }
    }

    // MARK: - Persistence

    /// Pending and firing instances, for the journal.
    public func persistedInstances() -> [PersistedInstance] {
        var out: [PersistedInstance] = []
        for r in rules.indices {
            for (labels, inst) in instances[r] { out.append(persisted(r, labels, inst)) }
        }
        return out
    }

    /// The instances changed since the last call (with `recordsChanges`): those that are now
    /// pending or firing, and the keys of those that are gone. Costs what changed.
    public func takeInstanceChanges() -> (upserted: [PersistedInstance], removed: [InstanceKey]) {
        var upserted: [PersistedInstance] = [], removed: [InstanceKey] = []
        for key in changedInstances {
            let r = Int(key >> 32), labels = Int32(bitPattern: UInt32(truncatingIfNeeded: key))
            guard r < rules.count else { continue }
            if let inst = instances[r][labels] {
                upserted.append(persisted(r, labels, inst))
            } else {
                removed.append(InstanceKey(rule: rules[r].name, signature: rules[r].signature, labels: symbols.labels(labels)))
            }
        }
        changedInstances.removeAll(keepingCapacity: true)
        return (upserted, removed)
    }

    func persisted(_ r: Int, _ labels: Int32, _ inst: Instance) -> PersistedInstance {
        PersistedInstance(rule: rules[r].name, signature: rules[r].signature, labels: symbols.labels(labels), state: inst.state.rawValue,
                          activeAt: inst.activeAt, value: inst.value, falseSince: inst.falseSince, isString: inst.isString)
    }

    /// Puts back instances from the journal (of rules that are unchanged). Returns whether it
    /// put back every one as it was (so `persistedInstances()` gives them back unchanged): none
    /// of a rule gone or changed, none repeated, each with its labels sorted as the engine keeps them.
    @discardableResult
    public func restore(_ persisted: [PersistedInstance]) -> Bool {
        var restored = Set<Int>()
        var byRule: [String: Int] = [:]
        for (r, rule) in rules.enumerated() { byRule[rule.name + "\u{1F}" + rule.signature] = r }
        var kept = 0
        for p in persisted {
            guard let r = byRule[p.rule + "\u{1F}" + p.signature],
                  let state = AlertStateKind(rawValue: p.state), state != .resolved else { continue }
            if zip(p.labels, p.labels.dropFirst()).allSatisfy({ $0 < $1 }) { kept += 1 }
            let labels = symbols.labelSet(p.labels)
            instances[r][labels] = Instance(state: state, activeAt: p.activeAt, value: p.value, falseSince: p.falseSince, isString: p.isString)
            restored.insert(r)
            if state == .pending { schedule(rule: r, labels: labels, at: max(now.nanoseconds.addingSaturated(1), p.activeAt.addingSaturated(rules[r].holdFor))) }
        }
        countInstances()
        restoredUntil = now.nanoseconds.addingSaturated(config.staleAfter)
        for r in restored { schedule(rule: r, labels: 0, at: restoredUntil) }
        return kept == persisted.count && instances.reduce(0) { $0 + $1.count } == persisted.count
    }
}

import Foundation
import VigilRules

/// The evaluator: a compiled condition over the store at `now`, as a vector of label sets that
/// hold or not, with when each may change by time alone.
extension Engine {
    // MARK: - Evaluation

    /// One vector element: a label set with a value, whether it holds, and when it may change.
    struct Element {
        var labels: Int32
        var value: Double
        var truth: Bool
        var isString = false
        /// For values that grow with time (`age`, `time_since_last_update`): value = (now − since) × rate.
        var since: Int64 = 0
        var rate = 0.0
        /// The earliest time this element's result can change with no new sample.
        var hint: Int64 = .max
        /// When its series goes stale: it matters only to an instance that exists.
        var staleAt: Int64 = .max
    }

    /// A scalar, or a range of `arena`.
    struct Vector {
        var scalar: Element?
        var range: Range<Int> = 0..<0
    }

    /// Evaluates `rule` at `now` for the instances consistent with `focus` (0: all) and steps
    /// their state machines. `series` is the sample's series when a message triggered it.
    func evaluate(rule r: Int, focus: Int32, series: SeriesID) {
        evaluations += 1
        lastEvaluated[r] = now.nanoseconds
        // The fast path reads numbers; a metric the stream turned into events or strings does not qualify.
        if let fast = simple[r], readsAsNumbers(fast.metric) {
            evaluateSimple(rule: r, fast, focus: focus, series: series)
            return
        }
        let rule = rules[r]
        // A histogram rule's instances are groups of buckets: the bucket that triggered it
        // stands for its group (its labels without `le`).
        let (focus, series) = rule.readsHistogram && series >= 0 ? (labelSet(focus, without: symbols.stringID("le")), SeriesID(-1)) : (focus, series)
        arena.clear()
        let v = eval(rule.condition, focus: focus, series: series)
        if let s = v.scalar {
            step(rule: r, labels: 0, holds: s.truth, value: s.value, isString: s.isString, hint: s.hint, staleAt: s.staleAt)
        } else {
            for k in v.range {
                let e = arena[k]
                // A label set may come out of a join twice: the first that holds wins.
                if k > v.range.lowerBound, arena[v.range.lowerBound..<k].contains(where: { $0.labels == e.labels }) { continue }
                step(rule: r, labels: e.labels, holds: e.truth, value: e.value, isString: e.isString, hint: e.hint, staleAt: e.staleAt)
            }
        }
        // Instances this evaluation covered but did not produce go false.
        guard !instances[r].isEmpty else { return }
        let produced: (Int32) -> Bool = { labels in
            if v.scalar != nil { return labels == 0 }
            return self.arena[v.range].contains { $0.labels == labels }
        }
        if series >= 0, rule.metrics.count == 1 {
            if !produced(focus) { goFalse(rule: r, labels: focus) }
            return
        }
        for labels in instances[r].keys where symbols.consistent(labels, focus) && !produced(labels) { goFalse(rule: r, labels: labels) }
    }

    /// The fast path: one series, one comparison with a constant. The instance is the series'.
    func evaluateSimple(rule r: Int, _ c: SimpleCondition, focus: Int32, series: SeriesID) {
        growSeries()
        if series < 0, focus == 0 {
            // The whole rule (the start, a reload, a restore's grace ending): every series of its
            // metric, as the general evaluator's `candidates` (its matchers are checked in the
            // step), then the instances whose series is gone.
            if Int(c.metric) < symbols.metricSeries.count {
                for s in symbols.metricSeries[Int(c.metric)] {
                    let id = Int(s)
                    stepSimple(rule: r, c, series: id, labels: symbols.seriesLabels[id], reading(id), memo: .record)
                }
            }
            for labels in instances[r].keys where symbols.existingSeries(metric: c.metric, labelSet: labels) == nil { goFalse(rule: r, labels: labels) }
            return
        }
        let id: Int
        if series >= 0, symbols.seriesMetric[Int(series)] == c.metric {
            id = Int(series)
        } else if let s = symbols.existingSeries(metric: c.metric, labelSet: focus) {
            id = Int(s)
        } else {
            // No such series (yet): an instance restored for it goes once the grace period is over.
            goFalse(rule: r, labels: focus)
            return
        }
        // A deadline's evaluation (its key was just taken off the schedule) or a queued one:
        // it schedules what it finds, and leaves the memo saying so.
        stepSimple(rule: r, c, series: id, labels: symbols.seriesLabels[id], reading(id), memo: .record)
    }

    /// What `stepSimple` does with its window's memo (`windowHints`), for a sole reader.
    enum HintMemo {
        /// Not a sole reader: schedule the deadline found, remember nothing.
        case none
        /// A sample's pass: schedule nothing when the deadline found is the one remembered.
        case reuse
        /// Schedule the deadline found and remember it (after a deadline took the rule's key off
        /// the schedule, what is remembered may no longer be scheduled).
        case record
    }

    /// What the simple rules of a series read of its state: read once for all the rules a
    /// sample feeds (nothing a rule's step does changes it), not once a rule.
    struct SeriesReading {
        /// Its last value while it is fresh (nil: stale or none yet), and when it goes stale.
        let last: Double?
        let staleAt: Int64
        let windowBase: Int
        let windowCount: Int
    }

    @inline(__always) func reading(_ id: Int) -> SeriesReading { reading(seriesState[id], fresh: !isStale(id)) }

    /// `reading` of a series whose sample was just stored (so it has one): `isStale`'s test
    /// inlined, on every sample's path.
    @inline(__always) func reading(justStored id: Int) -> SeriesReading {
        let s = seriesState[id]
        return reading(s, fresh: s.vanishedAt < s.lastTime && now.nanoseconds - s.lastTime < config.staleAfter)
    }

    @inline(__always) private func reading(_ s: SeriesState, fresh: Bool) -> SeriesReading {
        SeriesReading(last: fresh ? s.lastValue : nil, staleAt: fresh ? s.lastTime.addingSaturated(config.staleAfter) : .max,
                      windowBase: Int(s.windowBase), windowCount: Int(s.windowCount))
    }

    /// The deadline window `w`'s reader schedules, after `memo` (`windowHints`): `.max`, nothing
    /// to schedule, when a sample's pass finds the one remembered.
    @inline(__always) func remembered(_ hint: Int64, window w: Int, _ memo: HintMemo) -> Int64 {
        switch memo {
        case .none: return hint
        case .reuse:
            if windowHints[w] == hint { return .max }
            windowHints[w] = hint
            return hint
        case .record:
            windowHints[w] = hint
            return hint
        }
    }

    /// Steps a simple rule's instance for series `id` (whose label set is `labels`, whose state
    /// is `series`): its value (last or windowed) compared with the constant, or false when the
    /// series does not qualify or holds no value. Inlined into both callers: a sample's pass
    /// over the rules it feeds (`evaluateRules`) and `evaluateSimple`.
    ///
    /// A window's evaluation gives the deadline of its next change (its oldest sample or bucket
    /// leaving), which moves only every few samples. Scheduling it again is a map look-up that
    /// finds it there, so a window's sole simple reader remembers it per window: a sample's pass
    /// that finds the same deadline skips the look-up. That is sound because a window's deadline
    /// never moves back, an entry leaves the schedule only when it runs (and its evaluation,
    /// here with `.record`, schedules and remembers again), and a reload, which empties the
    /// schedule, forgets every window's.
    @inline(__always) func stepSimple(rule r: Int, _ c: SimpleCondition, series id: Int, labels: Int32, _ series: SeriesReading, memo: HintMemo) {
        var value: Double?
        var hint = Int64.max, staleAt = Int64.max
        if !c.hasMatchers || simpleMatch(rule: r, labels: labels) {
            if c.spec >= 0, c.spec < series.windowCount {
                let w = series.windowBase + c.spec
                let found = c.counts.map { windows[w].evaluateCounts($0, at: now.nanoseconds) } ?? windows[w].evaluateInPlace(c.function, at: now.nanoseconds, scratch: &windowScratch)
                if let v = found { (value, hint) = v }
                hint = remembered(hint, window: w, memo)
            } else if c.spec < 0, let last = series.last {
                value = last
                staleAt = series.staleAt
            }
        }
        if let v = value {
            step(rule: r, labels: labels, holds: c.holds(v), value: v, isString: false, hint: hint, staleAt: staleAt)
        } else {
            goFalse(rule: r, labels: labels)
        }
    }

    /// Whether a simple rule's matchers admit `labels`.
    @inline(__always) func simpleMatch(rule r: Int, labels: Int32) -> Bool {
        let plan = simpleMatchPlan[r]
        if plan.regex { return simpleMatchers[r].allSatisfy { $0.matches(labels, symbols) } }
        var k = Int(plan.start)
        let end = k + Int(plan.count)
        while k < end {
            if !simplePlain[k].matches(labels, symbols) { return false }
            k += 1
        }
        return true
    }

    /// No sample yet, none for `stale_after`, or gone from its scrape target since its last one.
    func isStale(_ id: Int) -> Bool {
        let s = seriesState[id]
        return s.lastTime == .min || s.vanishedAt >= s.lastTime || now.nanoseconds - s.lastTime >= config.staleAfter
    }

    /// The series of a selector that the focus admits.
    func candidates(_ sel: SeriesSelector, focus: Int32, series: SeriesID, _ body: (Int) -> Void) {
        growSeries()
        if series >= 0, symbols.seriesMetric[Int(series)] == sel.metric {
            if sel.matchers.allSatisfy({ $0.matches(focus, symbols) }) { body(Int(series)) }
            return
        }
        guard Int(sel.metric) < symbols.metricSeries.count else { return }
        for id in symbols.metricSeries[Int(sel.metric)] {
            let labels = symbols.seriesLabels[Int(id)]
            guard symbols.consistent(labels, focus), sel.matchers.allSatisfy({ $0.matches(labels, symbols) }) else { continue }
            body(Int(id))
        }
    }

    func eval(_ node: Node, focus: Int32, series: SeriesID) -> Vector {
        let t = now.nanoseconds
        switch node {
        case .number(let x): return Vector(scalar: Element(labels: 0, value: x, truth: x != 0))
        case .string(let s): return Vector(scalar: Element(labels: 0, value: Double(s), truth: true, isString: true))
        case .bool(let b): return Vector(scalar: Element(labels: 0, value: b ? 1 : 0, truth: b))
        case .timeSinceLastUpdate:
            return Vector(scalar: Element(labels: 0, value: Double(t - lastMessage) / 1e9, truth: t != lastMessage, since: lastMessage, rate: 1))
        case .up:
            return Vector(scalar: Element(labels: 0, value: connected ? 1 : 0, truth: connected))
        case .instant(let sel):
            let start = arena.count
            let kind = Int(sel.metric) < symbols.metricKind.count ? symbols.metricKind[Int(sel.metric)] : .unknown
            candidates(sel, focus: focus, series: series) { id in
                guard !isStale(id) else { return }
                let labels = symbols.seriesLabels[id]
                let staleAt = seriesState[id].lastTime.addingSaturated(config.staleAfter)
                switch kind {
                case .event:
                    // True (1) only at the instant it arrives, then 0 (SPEC §1.2).
                    let fresh = seriesState[id].lastTime == t
                    arena.append(Element(labels: labels, value: fresh ? 1 : 0, truth: fresh, hint: fresh ? t.addingSaturated(1) : .max))
                case .string:
                    arena.append(Element(labels: labels, value: seriesState[id].lastValue, truth: true, isString: true, staleAt: staleAt))
                case .number, .unknown:
                    arena.append(Element(labels: labels, value: seriesState[id].lastValue, truth: seriesState[id].lastValue != 0 && !seriesState[id].lastValue.isNaN, staleAt: staleAt))
                }
            }
            return Vector(range: start..<arena.count)
        case .window(let sel, let spec, let f):
            let start = arena.count
            candidates(sel, focus: focus, series: series) { id in
                let w = Int(seriesState[id].windowBase) + spec
                guard spec < Int(seriesState[id].windowCount), let (value, hint) = windows[w].evaluateInPlace(f, at: t, scratch: &windowScratch) else { return }
                arena.append(Element(labels: symbols.seriesLabels[id], value: value, truth: value != 0, hint: hint))
            }
            return Vector(range: start..<arena.count)
        case .histogramQuantile(let q, let sel, let spec):
            return histogramQuantile(q, sel, spec: spec, focus: focus)
        case .age(let sel):
            let start = arena.count
            candidates(sel, focus: focus, series: series) { id in
                guard seriesState[id].lastTime != .min else { return }
                arena.append(Element(labels: symbols.seriesLabels[id], value: Double(t - seriesState[id].lastTime) / 1e9, truth: t != seriesState[id].lastTime,
                                     since: seriesState[id].lastTime, rate: 1))
            }
            return Vector(range: start..<arena.count)
        case .absent(let sel):
            var newest = Int64.min
            candidates(sel, focus: 0, series: -1) { id in newest = max(newest, seriesState[id].lastTime) }
            let absent = newest == .min || t - newest >= config.staleAfter
            return Vector(scalar: Element(labels: 0, value: absent ? 1 : 0, truth: absent, hint: absent ? .max : newest.addingSaturated(config.staleAfter)))
        case .negate(let x):
            return map(eval(x, focus: focus, series: series)) { e in
                e.value = -e.value
                e.rate = -e.rate
                e.truth = e.value != 0
            }
        case .not(let x):
            return map(eval(x, focus: focus, series: series)) { e in
                e.truth.toggle()
                e.rate = 0
            }
        case .abs(let x):
            return map(eval(x, focus: focus, series: series)) { e in
                e.value = Swift.abs(e.value)
                e.rate = 0
            }
        case .scale(let x, let factor):
            return map(eval(x, focus: focus, series: series)) { e in
                e.value *= factor
                e.rate *= factor
            }
        case .clamp(let x, let lo, let hi):
            let lv = eval(lo, focus: focus, series: series).scalar?.value ?? -.infinity
            let hv = eval(hi, focus: focus, series: series).scalar?.value ?? .infinity
            return map(eval(x, focus: focus, series: series)) { e in
                e.value = Swift.min(Swift.max(e.value, lv), hv)
                e.rate = 0
                e.truth = e.value != 0
            }
        case .binary(let op, let l, let r):
            let lv = eval(l, focus: focus, series: series)
            let rv = eval(r, focus: focus, series: series)
            return combine(op, lv, rv)
        }
    }

    func map(_ v: Vector, _ f: (inout Element) -> Void) -> Vector {
        if var s = v.scalar {
            f(&s)
            return Vector(scalar: s)
        }
        for k in v.range { f(&arena[k]) }
        return v
    }

    func combine(_ op: BinaryOperator, _ lv: Vector, _ rv: Vector) -> Vector {
        if let l = lv.scalar, let r = rv.scalar { return Vector(scalar: apply(op, l, r)) }
        let start = arena.count
        switch (lv.scalar, rv.scalar) {
        case (let l?, nil):
            for k in rv.range { arena.append(apply(op, l, arena[k])) }
        case (nil, let r?):
            for k in lv.range { arena.append(apply(op, arena[k], r)) }
        default:
            // Vector matching on shared labels; `or` keeps the unmatched elements of both sides.
            for i in lv.range {
                var matched = false
                for j in rv.range where symbols.consistent(arena[i].labels, arena[j].labels) {
                    var e = apply(op, arena[i], arena[j])
                    e.labels = symbols.union(arena[i].labels, arena[j].labels)
                    arena.append(e)
                    matched = true
                }
                if !matched, op == .or { arena.append(arena[i]) }
            }
            if op == .or {
                for j in rv.range where !lv.range.contains(where: { symbols.consistent(arena[$0].labels, arena[j].labels) }) {
                    arena.append(arena[j])
                }
            }
        }
        return Vector(range: start..<arena.count)
    }

    /// One element-wise operation. Comparisons hold or not and keep the left value; when one side
    /// grows with time, the element carries the instant the comparison will flip.
    func apply(_ op: BinaryOperator, _ l: Element, _ r: Element) -> Element {
        var e = Element(labels: l.labels == 0 ? r.labels : l.labels, value: l.value, truth: false, hint: min(l.hint, r.hint),
                        staleAt: min(l.staleAt, r.staleAt))
        switch op {
        case .add, .subtract:
            e.value = op == .add ? l.value + r.value : l.value - r.value
            e.rate = op == .add ? l.rate + r.rate : l.rate - r.rate
            e.since = l.since != 0 ? l.since : r.since
            e.truth = e.value != 0
        case .multiply:
            e.value = l.value * r.value
            e.rate = l.rate * r.value + r.rate * l.value
            e.since = l.since != 0 ? l.since : r.since
            e.truth = e.value != 0
        case .divide:
            e.value = r.value == 0 ? .nan : l.value / r.value
            e.truth = e.value != 0 && !e.value.isNaN
        case .and:
            e.truth = l.truth && r.truth
        case .or:
            e.truth = l.truth || r.truth
            e.value = l.truth ? l.value : r.value
        case .greater, .greaterEqual, .less, .lessEqual, .equal, .notEqual:
            e.isString = l.isString // the instance's value is the left side's (SPEC §1.2)
            if l.isString || r.isString {
                let same = l.isString && r.isString && l.value == r.value
                e.truth = op == .equal ? same : op == .notEqual ? !same : false
            } else {
                switch op {
                case .greater: e.truth = l.value > r.value
                case .greaterEqual: e.truth = l.value >= r.value
                case .less: e.truth = l.value < r.value
                case .lessEqual: e.truth = l.value <= r.value
                case .equal: e.truth = l.value == r.value
                default: e.truth = l.value != r.value
                }
                if let flip = crossing(op, l, r) { e.hint = min(e.hint, flip) }
            }
        }
        return e
    }

    /// When `l OP r` flips, if one side grows with time at a known rate and the other is fixed.
    func crossing(_ op: BinaryOperator, _ l: Element, _ r: Element) -> Int64? {
        let (moving, fixed, flipped): (Element, Element, Bool)
        if l.rate != 0, r.rate == 0 { (moving, fixed, flipped) = (l, r, false) }
        else if r.rate != 0, l.rate == 0 { (moving, fixed, flipped) = (r, l, true) }
        else { return nil }
        // moving = (t − since) × rate reaches `fixed` at since + fixed / rate seconds.
        let seconds = fixed.value / moving.rate
        guard seconds.isFinite, seconds > -9e9, seconds < 9e9 else { return nil }
        let at = moving.since.addingSaturated(Int64((seconds * 1e9).rounded()))
        // A strict comparison flips just after equality, a non-strict one at it (for a growing side).
        var strictAfter: Bool
        switch op {
        case .greater, .lessEqual: strictAfter = !flipped
        case .greaterEqual, .less: strictAfter = flipped
        default: return nil
        }
        if moving.rate < 0 { strictAfter.toggle() }
        let flip = strictAfter ? at.addingSaturated(1) : at
        return flip > now.nanoseconds ? flip : nil
    }
}

import Foundation
import VigilRules

/// The store: lines and samples in, series values and windows kept, the rules they feed queued
/// for evaluation.
extension Engine {
    // MARK: - Input

    /// Decodes one stream line and applies it. Returns the reason when the line is rejected
    /// whole; samples of a good line dropped (over the series cap, older than their series) are
    /// counted in `rejected` only.
    ///
    /// A batch of one, without a batch's bookkeeping (line indices, reports): the stream's
    /// usual call, on every line's path.
    @discardableResult
    public func ingest(_ line: UnsafeRawBufferPointer, arrival: Instant) -> RejectReason? {
        decoded.clear()
        let (reason, capped) = decodeCounted(line, arrival: arrival)
        if let reason { return reason }
        switch decoded.count {
        case 0: return capped > 0 ? .seriesCap : nil
        case 1: applyLone(decoded[0], fromStream: true) // no array passed on: no retain
        default: apply(decoded) { _ in }
        }
        return nil
    }

    @discardableResult
    public func ingest(_ line: String, arrival: Instant) -> RejectReason? {
        var line = line
        return line.withUTF8 { ingest(UnsafeRawBufferPointer($0), arrival: arrival) }
    }

    /// Decodes a batch of lines and applies them as one (SPEC §1.2, consistent instants): the
    /// samples of one timestamp, whichever lines carry them, are all stored before the rules
    /// reading them are evaluated, once each. So `a_sum / a_count`, written as two lines of one
    /// instant, is never seen with one updated and not the other. `rejected(k, reason)` names
    /// each line dropped, or with samples dropped, by its index in the batch (once per line).
    public func ingest(_ batch: LineBatch, arrival: Instant, rejected report: (Int, RejectReason) -> Void) {
        let count = batch.count
        decoded.clear()
        decodedLine.removeAll()
        // Each line is reported at most once, whichever phase finds it wanting: those reported
        // for `series_cap` here (in order) are not reported again for `out_of_order` below.
        cappedLines.clear()
        batch.forEachLine { k, line in
            let start = decoded.count
            let (reason, capped) = decodeCounted(line, arrival: arrival)
            if let reason {
                report(k, reason)
                return
            }
            if capped > 0 {
                report(k, .seriesCap)
                cappedLines.append(Int32(k))
            }
            // One line's samples all come from line 0: no index to keep.
            if count > 1 { for _ in start..<decoded.count { decodedLine.append(Int32(k)) } }
        }
        // Dropped samples come in order, so their lines do too.
        var lastReported: Int32 = -1
        var nextCapped = 0
        apply(decoded) { index in
            // A sample older than its series' last: its line is reported, once.
            let k = count > 1 ? decodedLine[index] : 0
            guard k != lastReported else { return }
            lastReported = k
            while nextCapped < cappedLines.count, cappedLines[nextCapped] < k { nextCapped += 1 }
            if nextCapped < cappedLines.count, cappedLines[nextCapped] == k { return }
            report(Int(k), .outOfOrder)
        }
    }

    /// Decodes one line into `decoded`, counting in `rejected` the line when it is rejected
    /// whole and each of its samples over the series cap.
    @inline(__always) private func decodeCounted(_ line: UnsafeRawBufferPointer, arrival: Instant) -> (RejectReason?, capped: Int) {
        var capped = 0
        let reason = decoder.decode(line, arrival: arrival, symbols: symbols, into: &decoded, capped: &capped)
        if capped > 0 { rejected[.seriesCap, default: 0] += capped }
        if let reason { rejected[reason, default: 0] += 1 }
        return (reason, capped)
    }

    /// Applies decoded samples: deadlines before each timestamp first, then the samples of that
    /// timestamp together, then the rules they affect. Samples vigil measures itself (probes,
    /// watches) pass `fromStream: false`: they do not make the stream look alive.
    public func apply(_ samples: [Sample], fromStream: Bool = true) {
        apply(samples, fromStream: fromStream) { _ in }
    }

    /// `apply`, calling `dropped` with the index of each sample older than its series' last.
    func apply(_ samples: [Sample], fromStream: Bool = true, dropped: (Int) -> Void) {
        var i = 0
        while i < samples.count {
            let t = max(samples[i].time.nanoseconds, now.nanoseconds)
            // The instant's samples: those after it not later than it (it is at least `now`).
            var j = i + 1
            while j < samples.count, samples[j].time.nanoseconds <= t { j += 1 }
            if j == i + 1 {
                if !applyLone(samples[i], fromStream: fromStream) { dropped(i) }
            } else {
                advance(before: Instant(nanoseconds: t))
                now = Instant(nanoseconds: t)
                pendingEvaluations.clear()
                for k in i..<j {
                    if store(samples[k]) { queueRules(of: samples[k].series) } else { dropped(k) }
                }
                if fromStream { lastMessage = max(lastMessage, t) }
                evaluatePending(samples: j - i)
                if fromStream { for r in tsluRules { evaluate(rule: r, focus: 0, series: -1) } }
            }
            i = j
        }
    }

    /// Applies the one sample of an instant (the usual stream): deadlines before it first, then
    /// its rules evaluated as it is stored, in rule order, as the queue would have them, without
    /// the queue. False when it is older than its series' last (dropped).
    @discardableResult
    @inline(__always) func applyLone(_ sample: Sample, fromStream: Bool) -> Bool {
        let t = max(sample.time.nanoseconds, now.nanoseconds)
        advance(before: Instant(nanoseconds: t))
        now = Instant(nanoseconds: t)
        let stored = store(sample)
        if fromStream { lastMessage = max(lastMessage, t) } // before: a rule may read it
        if stored { evaluateRules(of: sample.series) }
        if fromStream { for r in tsluRules { evaluate(rule: r, focus: 0, series: -1) } }
        return stored
    }

    /// Counts lines dropped before decoding (the framer's `too_long`).
    public func countRejected(_ reason: RejectReason, _ n: Int = 1) {
        rejected[reason, default: 0] += n
    }

    /// When the stream's last message came (the start, before any).
    public var lastMessageAt: Instant { Instant(nanoseconds: lastMessage) }

    /// Seconds since the stream's last message.
    public var secondsSinceLastMessage: Double { Double(now.nanoseconds - lastMessage) / 1e9 }

    /// What a test or tool sample holds.
    public enum SampleValue: Sendable {
        case number(Double)
        case string(String)
        case event
    }

    /// A sample built by name (for `vigil test`); nil when the metric's kind disagrees or the
    /// series is over the cap.
    public func sample(metric: String, labels: [Label], value: SampleValue, at t: Instant) -> Sample? {
        let kind: SeriesKind
        let v: Double
        switch value {
        case .number(let x): kind = .number; v = x
        case .string(let s): kind = .string; v = Double(symbols.stringID(s))
        case .event: kind = .event; v = 1
        }
        guard let m = symbols.metric(named: metric, kind: kind),
              let series = symbols.series(metric: m, labelSet: symbols.labelSet(labels)) else { return nil }
        return Sample(series: series, value: v, time: t)
    }

    /// The kind the rules or the stream gave a metric, if known.
    public func kind(ofMetric name: String) -> SeriesKind? {
        symbols.metricID(name).map { symbols.metricKind[Int($0)] }
    }

    /// Connection state for `up` (the stream drivers set it).
    public func setConnected(_ isUp: Bool, at t: Instant) {
        advance(before: t)
        now = max(now, t)
        connected = isUp
        for r in upRules { evaluate(rule: r, focus: 0, series: -1) }
    }

    /// Stores a sample, unless it is older than its series' last one (dropped: `out_of_order`,
    /// and false). The caller evaluates or queues the rules it feeds.
    @inline(__always) func store(_ s: Sample) -> Bool {
        growSeries()
        let id = Int(s.series)
        let t = s.time.nanoseconds
        var state = seriesState[id]
        guard t >= state.lastTime else {
            rejected[.outOfOrder, default: 0] += 1
            return false
        }
        state.lastTime = t
        state.lastValue = s.value
        seriesState[id] = state
        let base = Int(state.windowBase)
        for k in base..<(base + Int(state.windowCount)) { windows[k].add(time: t, value: s.value) }
        samplesApplied += 1
        return true
    }

    /// Evaluates the rules that read `series`, now: the one sample of an instant, in rule order.
    /// The simple ones (one comparison of the series' value, or of one window, with a constant)
    /// are stepped right here, in one pass over the series' state, without the general
    /// evaluator's per-rule dispatch; the others go through `evaluate`.
    ///
    /// A metric's thresholds on the last value are first asked all at once (`QuietThresholds`):
    /// while none has an instance, a value none of them holds steps none of them, and the pass
    /// goes over the metric's other rules only.
    func evaluateRules(of series: SeriesID) {
        let id = Int(series)
        let metric = Int(symbols.seriesMetric[id])
        guard metric < quiet.count, let steps = sampleSteps.baseAddress else { return } // a metric first seen after compilation: no rules
        let numeric = readsAsNumbers(Int32(metric))
        let state = reading(justStored: id)
        let q = quiet.pointer(metric)
        if q.pointee.active == 0, numeric, state.last.map({ $0 >= q.pointee.lo && $0 <= q.pointee.hi }) ?? true {
            q.pointee.passedAt = now.nanoseconds
            evaluations += Int(q.pointee.count)
            guard let others = otherSteps.baseAddress else { return }
            for k in Int(q.pointee.otherStart)..<Int(q.pointee.otherEnd) {
                if others[k].condition.counts != nil {
                    stepCountsWindow(others + k, series: id, state)
                } else {
                    stepRules(others, k..<(k + 1), series: series, state, numeric: true)
                }
            }
        } else {
            stepRules(steps, rules(reading: Int32(metric)), series: series, state, numeric: numeric)
        }
    }

    /// Steps a simple rule on a window's count, sum or avg (the usual window rule) for the
    /// sample just stored in series `id`: `stepSimple`'s window branch written for this shape
    /// alone, outside `stepRules`' loop (whose spills and dispatch were half its cost there),
    /// reading each field of the rule where it uses it instead of copying the condition out.
    @inline(__always) private func stepCountsWindow(_ step: UnsafeMutablePointer<SampleStep>, series id: Int, _ state: SeriesReading) {
        let r = Int(step.pointee.rule), t = now.nanoseconds
        lastEvaluated[r] = t
        evaluations += 1
        let labels = symbols.seriesLabels[id]
        let w = state.windowBase + step.pointee.condition.spec
        guard step.pointee.condition.spec < state.windowCount, !step.pointee.condition.hasMatchers || simpleMatch(rule: r, labels: labels),
              let (value, found) = windows[w].evaluateCounts(step.pointee.condition.counts.unsafelyUnwrapped, at: t) else {
            goFalse(rule: r, labels: labels)
            return
        }
        let hint = remembered(found, window: w, step.pointee.soleReader ? .reuse : .none)
        self.step(rule: r, labels: labels, holds: step.pointee.condition.holds(value), value: value, isString: false, hint: hint, staleAt: .max)
    }

    /// Steps `steps[range]` (rules reading `series`' metric, in rule order) for the sample just
    /// stored in `series`, whose state is `state`.
    @inline(never) private func stepRules(_ steps: UnsafeMutablePointer<SampleStep>, _ range: Range<Int>, series: SeriesID, _ state: SeriesReading, numeric: Bool) {
        let id = Int(series)
        let labels = symbols.seriesLabels[id]
        let t = now.nanoseconds
        var stepped = 0
        for k in range {
            let step = steps + k
            let r = Int(step.pointee.rule)
            guard numeric, step.pointee.isSimple else {
                evaluate(rule: r, focus: labels, series: series)
                continue
            }
            stepped += 1
            lastEvaluated[r] = t
            // A threshold on the last value, of a rule with no instance anywhere (a quiet rule,
            // the usual case): its step does nothing unless the value holds (it schedules
            // nothing, and "go false" finds no instance), so that is all it is asked.
            if step.pointee.condition.spec < 0, activeInstances[r] == 0 {
                guard let v = state.last, step.pointee.condition.holds(v) else { continue }
            }
            stepSimple(rule: r, step.pointee.condition, series: id, labels: labels, state, memo: step.pointee.soleReader ? .reuse : .none)
        }
        evaluations += stepped
    }

    /// Queues the rules that read `series` for this instant's evaluation, each with the series'
    /// label set (its focus).
    func queueRules(of series: SeriesID) {
        let labels = symbols.seriesLabels[Int(series)]
        for k in rules(reading: symbols.seriesMetric[Int(series)]) { pendingEvaluations.append((Int(sampleSteps[k].rule), labels, series)) }
    }

    /// Where the rules reading `metric` are in `sampleSteps`, in rule order (none for a metric
    /// first seen in the stream, after compilation).
    @inline(__always) private func rules(reading metric: Int32) -> Range<Int> {
        let m = Int(metric)
        guard m + 1 < metricRuleStart.count else { return 0..<0 }
        return Int(metricRuleStart[m])..<Int(metricRuleStart[m + 1])
    }

    /// Whether `metric`'s series hold numbers, as the fast path reads them: not a metric the
    /// stream or the rules made events or strings.
    @inline(__always) func readsAsNumbers(_ metric: Int32) -> Bool {
        guard Int(metric) < symbols.metricKind.count else { return false }
        switch symbols.metricKind[Int(metric)] {
        case .number, .unknown: return true
        case .event, .string: return false
        }
    }

    /// Gives the series made since the last call their per-series state. On every evaluation's
    /// path, so the check is inlined and the work is not.
    @inline(__always) func growSeries() {
        if !symbols.newSeries.isEmpty { addNewSeries() }
    }

    @inline(never) private func addNewSeries() {
        for id in symbols.newSeries {
            let specs = windowSpecs[symbols.seriesMetric[Int(id)]] ?? []
            seriesState.append(SeriesState(windowBase: Int32(windows.count), windowCount: UInt8(specs.count)))
            guard !specs.isEmpty else { continue }
            let seed = phaseSeed(of: id)
            windows.append(contentsOf: specs.map { Window(width: $0.width, needs: $0.needs, phaseSeed: seed) })
            windowHints.append(contentsOf: repeatElement(.min, count: specs.count))
        }
        symbols.newSeries.removeAll(keepingCapacity: true)
    }

    /// What a series' windows take their bucket phase from (`Window.phase`): a hash of its
    /// metric's name and its labels' text, not of its ids or with Swift's per-process seed, so
    /// the same series has the same buckets in every run, `vigil replay` and `vigil test`.
    func phaseSeed(of series: Int32) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325 // FNV-1a
        func mix(_ s: String) {
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
            h = (h ^ 0xFF) &* 0x100_0000_01B3 // a separator no UTF-8 byte is
        }
        mix(symbols.metricName(symbols.seriesMetric[Int(series)]))
        for label in symbols.labels(symbols.seriesLabels[Int(series)]) {
            mix(label.name)
            mix(label.value)
        }
        // FNV's low bits mix poorly; the phase is taken modulo the bucket width.
        h = (h ^ (h >> 30)) &* 0xBF58_476D_1CE4_E5B9
        h = (h ^ (h >> 27)) &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    /// Evaluates what the samples just stored affect, once per (rule, focus). One sample's rules
    /// are distinct already; only a group of samples needs sorting to deduplicate.
    func evaluatePending(samples: Int) {
        if samples > 1, pendingEvaluations.count > 1 {
            pendingEvaluations.sort { ($0.rule, $0.focus) < ($1.rule, $1.focus) }
        }
        var previous: (Int, Int32)?
        for e in pendingEvaluations {
            if samples > 1, let p = previous, p == (e.rule, e.focus) { continue }
            previous = (e.rule, e.focus)
            evaluate(rule: e.rule, focus: e.focus, series: e.series)
        }
    }
}

extension Array {
    /// Empties the array and keeps its storage. `removeAll(keepingCapacity:)` runs ~85
    /// instructions of generic code even on an empty array, and the per-line buffers are cleared
    /// on every line holding one element or a few: those are popped instead.
    @inline(__always) mutating func clear() {
        if count > 8 {
            removeAll(keepingCapacity: true)
        } else {
            while !isEmpty { removeLast() }
        }
    }
}

import Foundation
import VigilRules

/// Runtime settings of the engine (SPEC §4, config `stale_after`, `max_series`,
/// `max_series_total`, `max_line`, `max_clock_skew`).
public struct EngineConfig: Sendable {
    public var staleAfter: Int64 = EngineSettings.defaultStaleAfter
    public var seriesCap = 10_000
    public var seriesTotalCap = EngineSettings.defaultMaxSeriesTotal
    public var maxLine = 1 << 20
    /// nil: the stream's timestamps are the clock (`replay`, `test`). Set (in `run`): the clock
    /// is the caller's (the wall clock, passed as each line's arrival); a line stamped more than
    /// this ahead of its arrival is rejected as `future_timestamp`, one stamped ahead by less is
    /// taken as arriving now, so no stream timestamp moves the clock.
    public var maxClockSkew: Int64?

    public init() {}

    /// The defaults, overridden by a (linted) config file's `stale_after`, `max_series` and
    /// `max_line`.
    public init(config: RuleFile?) {
        self.init()
        let set = EngineSettings(config: config)
        if let v = set.staleAfter { staleAfter = v }
        if let v = set.maxSeries { seriesCap = v }
        if let v = set.maxSeriesTotal { seriesTotalCap = v }
        if let v = set.maxLine { maxLine = v }
    }

    /// `run`'s settings: the wall clock is the clock, with the config's `max_clock_skew` (default 5 s).
    public static func live(config: RuleFile?) -> EngineConfig {
        var c = EngineConfig(config: config)
        c.maxClockSkew = EngineSettings(config: config).maxClockSkew ?? EngineSettings.defaultMaxClockSkew
        return c
    }
}

/// The deterministic core: applies samples, evaluates the compiled rules, drives every alert
/// instance through pending → firing → resolved, and reports its next deadline. It never reads
/// a clock: time comes in with the samples and through `advance`.
public final class Engine {
    public let symbols: Symbols
    public let config: EngineConfig
    public private(set) var now: Instant
    /// Transitions since the driver last took them, in time order.
    public var transitions: [Transition] = []
    /// Rejected lines (and dropped series samples) by reason.
    public private(set) var rejected: [RejectReason: Int] = [:]
    public private(set) var samplesApplied = 0
    /// Why some samples of the last ingested line were dropped although the line was taken
    /// (`series_cap`, `out_of_order`), for reject logs.
    public private(set) var droppedFromLastLine: RejectReason?
    private var outOfOrderDrops = 0
    public private(set) var evaluations = 0

    private var rules: [CompiledRule] = []
    /// Rules reading each metric: `metricRules[metricRuleStart[m]..<metricRuleStart[m + 1]]`
    /// (metrics first seen in the stream, after compilation, have none).
    @exclusivity(unchecked) private var metricRuleStart: [Int32] = [0]
    @exclusivity(unchecked) private var metricRules: [Int32] = []
    /// The fast-path shape of each rule, if it has it.
    @exclusivity(unchecked) private var simple: [SimpleCondition?] = []
    private var simpleMatchers: [[MatcherNode]] = []
    private var tsluRules: [Int] = []
    private var upRules: [Int] = []
    private var windowSpecs: [Int32: [WindowSpec]] = [:]

    // The engine has one writer (DESIGN: "One writer"), so the hot state opts out of the runtime's
    // dynamic exclusivity checks, which cost ~9% of decode+evaluate (perf).

    // Per series.
    @exclusivity(unchecked) private var lastValue: [Double] = []
    @exclusivity(unchecked) private var lastTime: [Int64] = []
    /// Every series' windows in one array: series `id` has `windowCount[id]` from `windowBase[id]`.
    @exclusivity(unchecked) private var windows: [Window] = []
    @exclusivity(unchecked) private var windowBase: [Int32] = []
    @exclusivity(unchecked) private var windowCount: [UInt8] = []

    private var lastMessage: Int64
    private var connected = true
    private var decoder: LineDecoder
    private var decoded: [Sample] = []

    // Per rule: instances by label set, and recent state changes for flapping.
    @exclusivity(unchecked) private var instances: [[Int32: Instance]] = []
    /// Whether to remember which instances change, for a journal (`takeInstanceChanges`).
    public var recordsChanges = false
    /// `rule << 32 | labels` of the instances changed since the last take.
    private var changedInstances: Set<Int64> = []
    private var changes: [[Int32: [Int64]]] = []

    // Deadlines: "evaluate rule R for label set L at T", deduplicated to the earliest per (R, L).
    @exclusivity(unchecked) private var heap = MinHeap<Deadline>(key: \.at)
    @exclusivity(unchecked) private var scheduled: [Int64: Int64] = [:]

    // Reused buffers.
    @exclusivity(unchecked) private var arena: [Element] = []
    @exclusivity(unchecked) private var windowScratch = WindowScratch()
    @exclusivity(unchecked) private var pendingEvaluations: [(rule: Int, focus: Int32, series: SeriesID)] = []

    /// Builds an engine for rules that lint without errors (`LintResult`), starting at `start`.
    public init(rules lint: LintResult, config: EngineConfig = EngineConfig(), start: Instant) {
        self.config = config
        symbols = Symbols(seriesCap: config.seriesCap, seriesTotalCap: config.seriesTotalCap)
        now = start
        lastMessage = start.nanoseconds
        decoder = LineDecoder(maxLine: config.maxLine)
        decoder.maxClockSkew = config.maxClockSkew
        install(lint)
        instances = Array(repeating: [:], count: self.rules.count)
        changes = Array(repeating: [:], count: self.rules.count)
        // Every rule once at the start: some hold with no sample at all (`absent(x)`, `up == 0`)
        // or will by time alone (`time_since_last_update > 30s`).
        for i in self.rules.indices { evaluate(rule: i, focus: 0, series: -1) }
    }

    /// Replaces the rules (a reload). Series, their windows and the clock stay; instances of
    /// rules whose name and condition are unchanged carry over; deadlines are derived again by
    /// evaluating every rule once.
    public func reload(rules lint: LintResult) {
        let oldRules = rules, oldInstances = instances, oldChanges = changes, oldSpecs = windowSpecs
        changedInstances.removeAll() // rule indices change: a journal writes the whole state after a reload
        install(lint)
        instances = Array(repeating: [:], count: rules.count)
        changes = Array(repeating: [:], count: rules.count)
        for (r, rule) in rules.enumerated() {
            if let o = oldRules.firstIndex(where: { $0.name == rule.name && $0.signature == rule.signature }) {
                instances[r] = oldInstances[o]
                changes[r] = oldChanges[o]
            }
        }
        // Re-lay the windows: a (metric, width) that still exists keeps its samples.
        growSeries()
        var newWindows: [Window] = []
        var newBase: [Int32] = []
        var newCount: [UInt8] = []
        for id in 0..<lastTime.count {
            let metric = symbols.seriesMetric[id]
            let old = oldSpecs[metric] ?? []
            newBase.append(Int32(newWindows.count))
            let specs = windowSpecs[metric] ?? []
            newCount.append(UInt8(specs.count))
            for spec in specs {
                if let k = old.firstIndex(where: { $0.width == spec.width && ($0.quantiles || !spec.quantiles) }) {
                    newWindows.append(windows[Int(windowBase[id]) + k])
                } else {
                    newWindows.append(Window(width: spec.width, quantiles: spec.quantiles))
                }
            }
        }
        windows = newWindows
        windowBase = newBase
        windowCount = newCount
        heap = MinHeap<Deadline>(key: \.at)
        scheduled = [:]
        for i in rules.indices { evaluate(rule: i, focus: 0, series: -1) }
    }

    /// Compiles `lint`'s rules and builds the indexes over them.
    private func install(_ lint: LintResult) {
        var compiler = Compiler(symbols: symbols, files: lint.files)
        rules = []
        for alert in lint.alerts {
            let labels = alert.labels.map { Label($0.0.name, $0.1.value) }
            if let rule = compiler.compile(alert, labelsFromClauses: labels) { self.rules.append(rule) }
        }
        windowSpecs = compiler.windowSpecs
        simple = []
        simpleMatchers = []
        tsluRules = []
        upRules = []
        metricRules = []
        metricRuleStart = [0]
        for rule in self.rules {
            // The fast path reads numbers: string and event series keep the general evaluator.
            var fast = SimpleCondition(rule.condition)
            if let f = fast, Int(f.metric) >= symbols.metricKind.count || ![.number, .unknown].contains(symbols.metricKind[Int(f.metric)]) {
                fast = nil
            }
            simple.append(fast)
            simpleMatchers.append(fast == nil ? [] : SimpleCondition.matchers(of: rule.condition))
        }
        var byMetric = Array(repeating: [Int32](), count: symbols.metricCount)
        for (i, rule) in self.rules.enumerated() {
            for m in rule.metrics.sorted() { byMetric[Int(m)].append(Int32(i)) }
            if rule.readsTimeSinceLastUpdate { tsluRules.append(i) }
            if rule.readsUp { upRules.append(i) }
        }
        for list in byMetric {
            metricRules += list
            metricRuleStart.append(Int32(metricRules.count))
        }
    }

    public var ruleCount: Int { rules.count }

    /// The earliest time the engine must be advanced to, if any.
    public var nextDeadline: Instant? { heap.peek.map { Instant(nanoseconds: $0.at) } }

    // MARK: - Input

    /// Decodes one stream line and applies it. Returns the reason when the line is rejected.
    @discardableResult
    public func ingest(_ line: UnsafeRawBufferPointer, arrival: Instant) -> RejectReason? {
        decoded.removeAll(keepingCapacity: true)
        var capped = 0
        let reason = decoder.decode(line, arrival: arrival, symbols: symbols, into: &decoded, capped: &capped)
        droppedFromLastLine = capped > 0 ? .seriesCap : nil
        if capped > 0 { rejected[.seriesCap, default: 0] += capped }
        if let reason {
            rejected[reason, default: 0] += 1
            return reason
        }
        if capped > 0, decoded.isEmpty { return .seriesCap }
        let drops = outOfOrderDrops
        apply(decoded)
        if outOfOrderDrops != drops, droppedFromLastLine == nil { droppedFromLastLine = .outOfOrder }
        return nil
    }

    @discardableResult
    public func ingest(_ line: String, arrival: Instant) -> RejectReason? {
        var line = line
        return line.withUTF8 { ingest(UnsafeRawBufferPointer($0), arrival: arrival) }
    }

    /// Applies decoded samples: deadlines before each timestamp first, then the samples of that
    /// timestamp together, then the rules they affect. Samples vigil measures itself (probes,
    /// watches) pass `fromStream: false`: they do not make the stream look alive.
    public func apply(_ samples: [Sample], fromStream: Bool = true) {
        var i = 0
        while i < samples.count {
            let t = max(samples[i].time.nanoseconds, now.nanoseconds)
            advance(before: Instant(nanoseconds: t))
            now = Instant(nanoseconds: t)
            pendingEvaluations.removeAll(keepingCapacity: true)
            var j = i
            while j < samples.count, max(samples[j].time.nanoseconds, now.nanoseconds) == t {
                store(samples[j])
                j += 1
            }
            if fromStream { lastMessage = max(lastMessage, t) }
            evaluatePending(samples: j - i)
            if fromStream { for r in tsluRules { evaluate(rule: r, focus: 0, series: -1) } }
            i = j
        }
    }

    /// Counts lines dropped before decoding (the framer's `too_long`).
    public func countRejected(_ reason: RejectReason, _ n: Int = 1) {
        rejected[reason, default: 0] += n
    }

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

    /// Stores a sample, unless it is older than its series' last one (dropped: `out_of_order`).
    private func store(_ s: Sample) {
        growSeries()
        let id = Int(s.series)
        let t = s.time.nanoseconds
        guard t >= lastTime[id] else {
            rejected[.outOfOrder, default: 0] += 1
            outOfOrderDrops += 1
            return
        }
        lastTime[id] = t
        lastValue[id] = s.value
        let base = Int(windowBase[id])
        for k in base..<(base + Int(windowCount[id])) { windows[k].add(time: t, value: s.value) }
        samplesApplied += 1
        let metric = Int(symbols.seriesMetric[id])
        if metric + 1 < metricRuleStart.count {
            let labels = symbols.seriesLabels[id]
            for k in Int(metricRuleStart[metric])..<Int(metricRuleStart[metric + 1]) {
                pendingEvaluations.append((Int(metricRules[k]), labels, s.series))
            }
        }
    }

    private func growSeries() {
        guard !symbols.newSeries.isEmpty else { return }
        for id in symbols.newSeries {
            lastValue.append(0)
            lastTime.append(.min)
            let specs = windowSpecs[symbols.seriesMetric[Int(id)]] ?? []
            windowBase.append(Int32(windows.count))
            windowCount.append(UInt8(specs.count))
            windows += specs.map { Window(width: $0.width, quantiles: $0.quantiles) }
        }
        symbols.newSeries.removeAll(keepingCapacity: true)
    }

    /// Evaluates what the samples just stored affect, once per (rule, focus). One sample's rules
    /// are distinct already; only a group of samples needs sorting to deduplicate.
    private func evaluatePending(samples: Int) {
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

    // MARK: - Time

    /// Runs every deadline strictly before `t`.
    public func advance(before t: Instant) {
        while let top = heap.peek, top.at < t.nanoseconds { runDeadline() }
    }

    /// Runs every deadline up to and including `t`, and sets the clock to `t`.
    public func advance(through t: Instant) {
        while let top = heap.peek, top.at <= t.nanoseconds { runDeadline() }
        now = max(now, t)
    }

    private func runDeadline() {
        guard let d = heap.pop() else { return }
        let key = Int64(d.rule) << 32 | Int64(UInt32(bitPattern: d.labels))
        guard scheduled[key] == d.at else { return }
        scheduled[key] = nil
        now = max(now, Instant(nanoseconds: d.at))
        evaluate(rule: Int(d.rule), focus: d.labels, series: -1)
    }

    private func schedule(rule: Int, labels: Int32, at: Int64) {
        guard at > now.nanoseconds, at != .max else { return }
        let key = Int64(rule) << 32 | Int64(UInt32(bitPattern: labels))
        if let existing = scheduled[key], existing <= at { return }
        scheduled[key] = at
        heap.push(Deadline(at: at, rule: Int32(rule), labels: labels))
    }

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
    private func evaluate(rule r: Int, focus: Int32, series: SeriesID) {
        evaluations += 1
        // The fast path reads numbers; a metric the stream turned into events or strings does not qualify.
        if let fast = simple[r], symbols.metricKind[Int(fast.metric)] != .event, symbols.metricKind[Int(fast.metric)] != .string {
            evaluateSimple(rule: r, fast, focus: focus, series: series)
            return
        }
        let rule = rules[r]
        arena.removeAll(keepingCapacity: true)
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
        // Instances this evaluation covered but did not produce are false now (unless they were
        // restored from the journal and their series have not come back yet).
        guard !instances[r].isEmpty, now.nanoseconds >= restoredUntil else { return }
        let produced: (Int32) -> Bool = { labels in
            if v.scalar != nil { return labels == 0 }
            return self.arena[v.range].contains { $0.labels == labels }
        }
        if series >= 0, rule.metrics.count == 1 {
            if let inst = instances[r][focus], !produced(focus) {
                step(rule: r, labels: focus, holds: false, value: inst.value, isString: inst.isString, hint: .max, staleAt: .max)
            }
            return
        }
        for (labels, inst) in instances[r] where symbols.consistent(labels, focus) && !produced(labels) {
            step(rule: r, labels: labels, holds: false, value: inst.value, isString: inst.isString, hint: .max, staleAt: .max)
        }
    }

    /// The fast path: one series, one comparison with a constant. The instance is the series'.
    private func evaluateSimple(rule r: Int, _ c: SimpleCondition, focus: Int32, series: SeriesID) {
        growSeries()
        let t = now.nanoseconds
        let id: Int
        if series >= 0, symbols.seriesMetric[Int(series)] == c.metric {
            id = Int(series)
        } else if let s = symbols.existingSeries(metric: c.metric, labelSet: focus) {
            id = Int(s)
        } else {
            // No such series (yet): an instance restored for it goes once the grace period is over.
            if focus != 0, now.nanoseconds >= restoredUntil, let inst = instances[r][focus] {
                step(rule: r, labels: focus, holds: false, value: inst.value, isString: false, hint: .max, staleAt: .max)
            } else if focus == 0, now.nanoseconds >= restoredUntil {
                for (labels, inst) in instances[r] where symbols.existingSeries(metric: c.metric, labelSet: labels) == nil {
                    step(rule: r, labels: labels, holds: false, value: inst.value, isString: false, hint: .max, staleAt: .max)
                }
            }
            return
        }
        let labels = symbols.seriesLabels[id]
        var value: Double?
        var hint = Int64.max, staleAt = Int64.max
        if !c.hasMatchers || simpleMatchers[r].allSatisfy({ $0.matches(labels, symbols) }) {
            if c.spec >= 0 {
                let w = Int(windowBase[id]) + c.spec
                if c.spec < Int(windowCount[id]), let v = windows[w].evaluate(c.function, at: t, scratch: &windowScratch) {
                    value = v
                    hint = windows[w].nextExpiry(after: t).map { max($0, t.addingSaturated(1_000_000_000)) } ?? .max
                }
            } else if !isStale(id) {
                value = lastValue[id]
                staleAt = lastTime[id].addingSaturated(config.staleAfter)
            }
        }
        if let v = value {
            step(rule: r, labels: labels, holds: c.holds(v), value: v, isString: false, hint: hint, staleAt: staleAt)
        } else if let inst = instances[r][labels], now.nanoseconds >= restoredUntil {
            step(rule: r, labels: labels, holds: false, value: inst.value, isString: false, hint: .max, staleAt: .max)
        }
    }

    private func step(rule r: Int, labels: Int32, holds: Bool, value: Double, isString: Bool, hint: Int64, staleAt: Int64) {
        if hint != .max { schedule(rule: r, labels: labels, at: hint) }
        let current = instances[r].isEmpty ? nil : instances[r][labels]
        // Nothing holds and nothing is active: nothing to step (the common case of a quiet rule).
        if !holds, current == nil { return }
        let rule = rules[r]
        var (next, report, timer) = StateMachine.step(current, holds: holds, value: value, now: now.nanoseconds,
                                                      holdFor: rule.holdFor, resolveAfter: rule.resolveAfter)
        next?.isString = isString
        instances[r][labels] = next
        if recordsChanges, next != current { changedInstances.insert(Int64(r) << 32 | Int64(UInt32(bitPattern: labels))) }
        if let report { emit(rule: r, labels: labels, state: report, value: value, isString: isString) }
        if let timer { schedule(rule: r, labels: labels, at: timer) }
        if next != nil, staleAt != .max { schedule(rule: r, labels: labels, at: staleAt) }
    }

    private func emit(rule r: Int, labels: Int32, state: AlertStateKind, value: Double, isString: Bool) {
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
                                      flapping: history.count > 6, isEvent: rule.isEvent))
    }

    private func isStale(_ id: Int) -> Bool { lastTime[id] == .min || now.nanoseconds - lastTime[id] >= config.staleAfter }

    /// The series of a selector that the focus admits.
    private func candidates(_ sel: SeriesSelector, focus: Int32, series: SeriesID, _ body: (Int) -> Void) {
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

    private func eval(_ node: Node, focus: Int32, series: SeriesID) -> Vector {
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
                let staleAt = lastTime[id].addingSaturated(config.staleAfter)
                switch kind {
                case .event:
                    // True (1) only at the instant it arrives, then 0 (SPEC §1.2).
                    let fresh = lastTime[id] == t
                    arena.append(Element(labels: labels, value: fresh ? 1 : 0, truth: fresh, hint: fresh ? t.addingSaturated(1) : .max))
                case .string:
                    arena.append(Element(labels: labels, value: lastValue[id], truth: true, isString: true, staleAt: staleAt))
                case .number, .unknown:
                    arena.append(Element(labels: labels, value: lastValue[id], truth: lastValue[id] != 0 && !lastValue[id].isNaN, staleAt: staleAt))
                }
            }
            return Vector(range: start..<arena.count)
        case .window(let sel, let spec, let f):
            let start = arena.count
            candidates(sel, focus: focus, series: series) { id in
                let w = Int(windowBase[id]) + spec
                guard spec < Int(windowCount[id]), let value = windows[w].evaluate(f, at: t, scratch: &windowScratch) else { return }
                // Re-evaluate when the oldest sample leaves, at most once a second.
                let hint = windows[w].nextExpiry(after: t).map { max($0, t.addingSaturated(1_000_000_000)) } ?? .max
                arena.append(Element(labels: symbols.seriesLabels[id], value: value, truth: value != 0, hint: hint))
            }
            return Vector(range: start..<arena.count)
        case .age(let sel):
            let start = arena.count
            candidates(sel, focus: focus, series: series) { id in
                guard lastTime[id] != .min else { return }
                arena.append(Element(labels: symbols.seriesLabels[id], value: Double(t - lastTime[id]) / 1e9, truth: t != lastTime[id],
                                     since: lastTime[id], rate: 1))
            }
            return Vector(range: start..<arena.count)
        case .absent(let sel):
            var newest = Int64.min
            candidates(sel, focus: 0, series: -1) { id in newest = max(newest, lastTime[id]) }
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

    private func map(_ v: Vector, _ f: (inout Element) -> Void) -> Vector {
        if var s = v.scalar {
            f(&s)
            return Vector(scalar: s)
        }
        for k in v.range { f(&arena[k]) }
        return v
    }

    private func combine(_ op: BinaryOperator, _ lv: Vector, _ rv: Vector) -> Vector {
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
    private func apply(_ op: BinaryOperator, _ l: Element, _ r: Element) -> Element {
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
    private func crossing(_ op: BinaryOperator, _ l: Element, _ r: Element) -> Int64? {
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

    // MARK: - Persistence

    /// Restored instances are left alone until this time (the restore plus `stale_after`), so an
    /// alert does not resolve because vigil restarted before the stream came back.
    private var restoredUntil: Int64 = .min

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

    private func persisted(_ r: Int, _ labels: Int32, _ inst: Instance) -> PersistedInstance {
        PersistedInstance(rule: rules[r].name, signature: rules[r].signature, labels: symbols.labels(labels), state: inst.state.rawValue,
                          activeAt: inst.activeAt, value: inst.value, falseSince: inst.falseSince, isString: inst.isString)
    }

    /// Puts back instances from the journal (of rules that are unchanged).
    public func restore(_ persisted: [PersistedInstance]) {
        var restored = Set<Int>()
        for p in persisted {
            guard let r = rules.firstIndex(where: { $0.name == p.rule && $0.signature == p.signature }),
                  let state = AlertStateKind(rawValue: p.state), state != .resolved else { continue }
            let labels = symbols.labelSet(p.labels)
            instances[r][labels] = Instance(state: state, activeAt: p.activeAt, value: p.value, falseSince: p.falseSince, isString: p.isString)
            restored.insert(r)
            if state == .pending { schedule(rule: r, labels: labels, at: max(now.nanoseconds.addingSaturated(1), p.activeAt.addingSaturated(rules[r].holdFor))) }
        }
        restoredUntil = now.nanoseconds.addingSaturated(config.staleAfter)
        for r in restored { schedule(rule: r, labels: 0, at: restoredUntil) }
    }

    // MARK: - Queries

    /// How many instances are pending and firing (cheap: no labels are built).
    public var instanceCounts: (pending: Int, firing: Int) {
        var pending = 0, firing = 0
        for per in instances {
            for inst in per.values {
                if inst.state == .pending { pending += 1 } else { firing += 1 }
            }
        }
        return (pending, firing)
    }

    /// Pending and firing instances of an alert (all alerts when nil), sorted by labels.
    public func instances(of alert: String? = nil) -> [InstanceSnapshot] {
        var out: [InstanceSnapshot] = []
        for (r, rule) in rules.enumerated() where alert == nil || rule.name == alert {
            for (labels, inst) in instances[r] {
                var all = symbols.labels(labels)
                for l in rule.labels where !all.contains(where: { $0.name == l.name }) { all.append(l) }
                all.sort()
                out.append(InstanceSnapshot(alert: rule.name, labels: all, state: inst.state, activeAt: Instant(nanoseconds: inst.activeAt),
                                            value: inst.value, stringValue: inst.isString ? symbols.string(Int32(inst.value)) : nil))
            }
        }
        func key(_ i: InstanceSnapshot) -> String { i.alert + "{" + i.labels.text(separator: ",") }
        return out.sorted { key($0) < key($1) }
    }

    /// Approximate bytes held by series state, windows and symbols.
    public var memoryBytes: Int {
        symbols.memoryBytes + lastValue.capacity * 16 + windowBase.capacity * 5 + windows.reduce(0) { $0 + $1.memoryBytes }
    }
}

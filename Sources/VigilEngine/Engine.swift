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

/// The engine: applies samples, evaluates the compiled rules, drives every alert instance
/// through pending → firing → resolved, and reports its next deadline. It never reads a clock:
/// time comes in with the samples and through `advance`. This file holds its state, its
/// construction and reload, and queries; by job, the rest is in `Engine+Store` (samples in),
/// `Engine+Evaluator` (conditions), `Engine+Instances` (state machines, restore) and
/// `Engine+Deadlines` (time).
///
/// The engine has one writer (DESIGN: "One writer"), so the state a sample or an evaluation
/// touches opts out of the runtime's dynamic exclusivity checks (`@exclusivity(unchecked)`):
/// each costs ~150 instructions, and they were a quarter of decode_evaluate's (callgrind).
public final class Engine {
    public let symbols: Symbols
    public let config: EngineConfig
    @exclusivity(unchecked) public internal(set) var now: Instant
    /// Transitions since the driver last took them, in time order.
    @exclusivity(unchecked) public var transitions: [Transition] = []
    /// Rejected lines (and dropped series samples) by reason.
    @exclusivity(unchecked) public internal(set) var rejected: [RejectReason: Int] = [:]
    @exclusivity(unchecked) public internal(set) var samplesApplied = 0
    /// Rule evaluations so far.
    @exclusivity(unchecked) public internal(set) var evaluations = 0

    @exclusivity(unchecked) var rules: [CompiledRule] = []
    /// When each rule (by index) was last evaluated, in ns (`Int64.min`: not yet). A buffer of
    /// its own, not an array: the store is on every evaluation's path, and an array's
    /// uniqueness check there cost 6–10% of `decode_evaluate`.
    var lastEvaluated = UnsafeMutableBufferPointer<Int64>.allocate(capacity: 0)

    deinit {
        lastEvaluated.deallocate()
        sampleSteps.deallocate()
        activeInstances.deallocate()
        seriesState.free()
        windows.free()
        windowHints.free()
        decodedLine.free()
        quiet.free()
        otherSteps.free()
        thresholdMetric.free()
    }

    /// When each rule was last evaluated, by name (the on-call page's rules).
    public var lastEvaluations: [String: Instant] {
        var out: [String: Instant] = [:]
        for (i, r) in rules.enumerated() {
            // A threshold the sample's pass found quiet with the others of its metric was evaluated then.
            let m = Int(thresholdMetric[i]), at = max(lastEvaluated[i], m >= 0 ? quiet[m].passedAt : .min)
            if at != .min { out[r.name] = Instant(nanoseconds: at) }
        }
        return out
    }
    /// Rules reading each metric, as a sample of it steps them, in rule order:
    /// `sampleSteps[metricRuleStart[m]..<metricRuleStart[m + 1]]` (metrics first seen in the
    /// stream, after compilation, have none). A buffer of plain records, not arrays: a sample's
    /// pass reads one record a rule, with no uniqueness check, retain or optional's copy.
    @exclusivity(unchecked) var metricRuleStart: [Int32] = [0]
    var sampleSteps = UnsafeMutableBufferPointer<SampleStep>.allocate(capacity: 0)
    /// Per metric (as `metricRuleStart`): its thresholds on the last value asked as one, and
    /// where its other rules' steps are in `otherSteps` (in rule order).
    @exclusivity(unchecked) var quiet = OwnedBuffer<QuietThresholds>()
    @exclusivity(unchecked) var otherSteps = OwnedBuffer<SampleStep>()
    /// Per rule: the metric whose `quiet` counts it, for a threshold on the last value (-1: none).
    @exclusivity(unchecked) var thresholdMetric = OwnedBuffer<Int32>()
    /// The fast-path shape of each rule, if it has it.
    @exclusivity(unchecked) var simple: [SimpleCondition?] = []
    /// A simple rule's label matchers: `simplePlain[start..<start + count]` when all are `=` or
    /// `!=` (values, checked with no class touched: no retain a sample), else its
    /// `MatcherNode`s in `simpleMatchers` (`regex`).
    @exclusivity(unchecked) var simpleMatchers: [[MatcherNode]] = []
    @exclusivity(unchecked) var simplePlain: [PlainMatcher] = []
    @exclusivity(unchecked) var simpleMatchPlan: [(start: Int32, count: Int32, regex: Bool)] = []
    @exclusivity(unchecked) var tsluRules: [Int] = []
    var upRules: [Int] = []
    var windowSpecs: [Int32: [WindowSpec]] = [:]

    /// What is kept per series, by id: one record, so a sample reads one cache line of it, not
    /// one line of each of five arrays (their loads were a quarter of `evaluateRules`' time).
    struct SeriesState {
        var lastValue = 0.0
        var lastTime = Int64.min
        /// When it last went missing from its scrape target (.min: never): stale from then
        /// until its next sample.
        var vanishedAt = Int64.min
        /// Its windows: `windowCount` of `windows` from `windowBase`.
        var windowBase: Int32
        var windowCount: UInt8
    }

    @exclusivity(unchecked) var seriesState = OwnedBuffer<SeriesState>()
    /// Every series' windows in one buffer (`SeriesState.windowBase`).
    @exclusivity(unchecked) var windows = OwnedBuffer<Window>()
    /// Per window (as `windows`): the deadline its sole simple reader last scheduled for this
    /// series (`SampleStep.soleReader`; `.min`: none known), so a sample whose evaluation finds
    /// the window's next change where it was schedules nothing (`stepSimple`).
    @exclusivity(unchecked) var windowHints = OwnedBuffer<Int64>()

    @exclusivity(unchecked) var lastMessage: Int64
    var connected = true
    @exclusivity(unchecked) var decoder: LineDecoder
    @exclusivity(unchecked) var decoded: [Sample] = []
    /// Scrapes: the parser, its reused output, and each target's last series and state.
    var exposition = ExpositionParser()
    var scrapeBuffer: [Sample] = []
    var scrapeTargets: [String: ScrapeTarget] = [:]
    /// histogram_quantile's reused buckets, each `le` value's bound, label sets without `le`.
    var histogramBuckets: [Bucket] = []
    var bucketBounds: [Int32: Double] = [:]
    var labelsWithout: [Int64: Int32] = [:]
    /// The batch line each of `decoded` came from, and the lines reported for `series_cap`.
    @exclusivity(unchecked) var decodedLine = OwnedBuffer<Int32>()
    @exclusivity(unchecked) var cappedLines: [Int32] = []

    // Per rule: instances by label set, and recent state changes for flapping.
    @exclusivity(unchecked) var instances: [[Int32: Instance]] = []
    /// How many instances each rule has (`instances[r].count`, kept beside it by `step` and
    /// `restore`): a quiet rule's step tests it, not its map. A buffer of its own, as
    /// `lastEvaluated`.
    var activeInstances = UnsafeMutableBufferPointer<Int32>.allocate(capacity: 0)
    /// Whether to remember which instances change, for a journal (`takeInstanceChanges`).
    @exclusivity(unchecked) public var recordsChanges = false
    /// `rule << 32 | labels` of the instances changed since the last take.
    @exclusivity(unchecked) var changedInstances: Set<Int64> = []
    @exclusivity(unchecked) var changes: [[Int32: [Int64]]] = []

    // Deadlines: "evaluate rule R for label set L at T", deduplicated to the earliest per (R, L).
    @exclusivity(unchecked) var heap = MinHeap<Deadline>()
    @exclusivity(unchecked) var scheduled = Int64Map()

    // Reused buffers.
    @exclusivity(unchecked) var arena: [Element] = []
    @exclusivity(unchecked) var windowScratch = WindowScratch()
    @exclusivity(unchecked) var pendingEvaluations: [(rule: Int, focus: Int32, series: SeriesID)] = []

    /// Whether simple rules take the fast path (`evaluateSimple`, `stepSimple`). Tests turn it
    /// off to check that the general evaluator decides every rule the same.
    let fastPath: Bool

    /// Builds an engine for rules that lint without errors (`LintResult`), starting at `start`.
    public convenience init(rules lint: LintResult, config: EngineConfig = EngineConfig(), start: Instant) {
        self.init(rules: lint, config: config, start: start, fastPath: true)
    }

    init(rules lint: LintResult, config: EngineConfig, start: Instant, fastPath: Bool) {
        self.config = config
        self.fastPath = fastPath
        symbols = Symbols(seriesCap: config.seriesCap, seriesTotalCap: config.seriesTotalCap)
        now = start
        lastMessage = start.nanoseconds
        decoder = LineDecoder(maxLine: config.maxLine)
        decoder.maxClockSkew = config.maxClockSkew
        install(lint)
        instances = Array(repeating: [:], count: self.rules.count)
        countInstances()
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
        countInstances()
        // Re-lay the windows: a (metric, width) that still exists keeps its samples (a bucketed
        // one only if it already kept what the new rules ask of it).
        growSeries()
        var newWindows: [Window] = []
        var newBase: [Int32] = []
        var newCount: [UInt8] = []
        for id in seriesState.indices {
            let metric = symbols.seriesMetric[id]
            let old = oldSpecs[metric] ?? []
            newBase.append(Int32(newWindows.count))
            let specs = windowSpecs[metric] ?? []
            newCount.append(UInt8(specs.count))
            var seed: UInt64? // the series' phase seed, hashed once if a new window needs it
            for spec in specs {
                if let k = old.firstIndex(where: { $0.width == spec.width }), let kept = windows[Int(seriesState[id].windowBase) + k].widened(to: spec.needs) {
                    newWindows.append(kept)
                } else {
                    if seed == nil { seed = phaseSeed(of: Int32(id)) }
                    newWindows.append(Window(width: spec.width, needs: spec.needs, phaseSeed: seed!))
                }
            }
        }
        windows.replaceAll(with: newWindows)
        // The deadlines are dropped below: no window's is scheduled any more. (The evaluation of
        // every rule after it records each sole reader's again; forgetting them here keeps that
        // from being what a sample's pass relies on.)
        windowHints.replaceAll(with: repeatElement(.min, count: windows.count))
        for id in seriesState.indices {
            seriesState[id].windowBase = newBase[id]
            seriesState[id].windowCount = newCount[id]
        }
        heap = MinHeap<Deadline>()
        scheduled = Int64Map()
        for i in rules.indices { evaluate(rule: i, focus: 0, series: -1) }
    }

    /// Compiles `lint`'s rules and builds the indexes over them.
    func install(_ lint: LintResult) {
        var compiler = Compiler(symbols: symbols, files: lint.files)
        rules = []
        for alert in lint.alerts {
            let labels = alert.labels.map { Label($0.0.name, $0.1.value) }
            if let rule = compiler.compile(alert, labelsFromClauses: labels) { self.rules.append(rule) }
        }
        windowSpecs = compiler.windowSpecs
        lastEvaluated.deallocate()
        lastEvaluated = .allocate(capacity: rules.count)
        lastEvaluated.initialize(repeating: .min)
        simple = []
        simpleMatchers = []
        simplePlain = []
        simpleMatchPlan = []
        tsluRules = []
        upRules = []
        metricRuleStart = [0]
        for rule in self.rules {
            // The fast path reads numbers: string and event series keep the general evaluator.
            var fast = SimpleCondition(rule.condition)
            if !fastPath { fast = nil }
            if let f = fast, !readsAsNumbers(f.metric) { fast = nil }
            simple.append(fast)
            let matchers = fast == nil ? [] : SimpleCondition.matchers(of: rule.condition)
            let plain = matchers.compactMap(\.plain)
            let regex = plain.count < matchers.count
            simpleMatchers.append(regex ? matchers : [])
            simpleMatchPlan.append((Int32(simplePlain.count), regex ? 0 : Int32(plain.count), regex))
            if !regex { simplePlain += plain }
        }
        var byMetric = Array(repeating: [Int32](), count: symbols.metricCount)
        for (i, rule) in self.rules.enumerated() {
            for m in rule.metrics.sorted() { byMetric[Int(m)].append(Int32(i)) }
            if rule.readsTimeSinceLastUpdate { tsluRules.append(i) }
            if rule.readsUp { upRules.append(i) }
        }
        var steps: [SampleStep] = []
        quiet.removeAll()
        otherSteps.removeAll()
        thresholdMetric.replaceAll(with: repeatElement(-1, count: rules.count))
        for (m, list) in byMetric.enumerated() {
            // A window with one simple reader among this metric's rules: that reader's deadline
            // can be remembered per window. With two, their keys differ and one memo would not do.
            var readers: [Int: Int] = [:]
            for r in list { if let c = simple[Int(r)], c.spec >= 0 { readers[c.spec, default: 0] += 1 } }
            var q = QuietThresholds(otherStart: Int32(otherSteps.count))
            for r in list {
                let c = simple[Int(r)]
                let step = SampleStep(rule: r, simple: c, soleReader: c.map { $0.spec >= 0 && readers[$0.spec] == 1 } ?? false)
                steps.append(step)
                if let c, c.spec < 0 {
                    q.admit(c)
                    thresholdMetric[Int(r)] = Int32(m)
                } else {
                    otherSteps.append(step)
                }
            }
            q.otherEnd = Int32(otherSteps.count)
            quiet.append(q)
            metricRuleStart.append(Int32(steps.count))
        }
        sampleSteps.deallocate()
        sampleSteps = .allocate(capacity: steps.count)
        _ = sampleSteps.initialize(from: steps)
    }

    public var ruleCount: Int { rules.count }

    /// Sets `activeInstances` from `instances`, after they were set whole.
    func countInstances() {
        activeInstances.deallocate()
        activeInstances = .allocate(capacity: instances.count)
        for m in quiet.indices { quiet[m].active = 0 }
        for r in instances.indices {
            activeInstances[r] = Int32(instances[r].count)
            if thresholdMetric[r] >= 0 { quiet[Int(thresholdMetric[r])].active += activeInstances[r] }
        }
    }

    /// The earliest time the engine must be advanced to, if any.
    public var nextDeadline: Instant? { heap.peek.map { Instant(nanoseconds: $0.at) } }

    /// Restored instances are left alone until this time (the restore plus `stale_after`), so an
    /// alert does not resolve because vigil restarted before the stream came back.
    var restoredUntil: Int64 = .min
}

extension Engine {
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

    /// Approximate bytes held by series state, windows, deadlines and symbols.
    public var memoryBytes: Int {
        symbols.memoryBytes + seriesState.capacity * MemoryLayout<SeriesState>.stride + windows.indices.reduce(0) { $0 + windows[$1].memoryBytes }
            + windowHints.capacity * MemoryLayout<Int64>.stride + scheduled.memoryBytes
    }
}

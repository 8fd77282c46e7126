import Foundation
import VigilRules

/// A label matcher with its ids resolved; regex results are cached per value id.
final class MatcherNode {
    let label: Int32
    let op: MatchOperator
    let value: Int32
    let regex: NSRegularExpression?
    /// An `=` or `!=` matcher as a value (nil for a regex), which `matches` and the simple
    /// rules' path both check.
    let plain: PlainMatcher?
    private var cache: [Int32: Bool] = [:]

    /// `value` is the id of `pattern`, the matcher's value as written.
    init(label: Int32, op: MatchOperator, value: Int32, pattern: String) {
        self.label = label
        self.op = op
        self.value = value
        // Anchored, as in Prometheus; an invalid pattern matches nothing.
        regex = op == .regexMatch || op == .regexNoMatch ? try? NSRegularExpression(pattern: "^(?:\(pattern))$") : nil
        plain = op == .equal || op == .notEqual
            ? PlainMatcher(label: label, value: value, negated: op == .notEqual, emptyValue: pattern.isEmpty) : nil
    }

    func matches(_ labelSet: Int32, _ symbols: Symbols) -> Bool {
        if let plain { return plain.matches(labelSet, symbols) }
        // `=~` or `!~`.
        let v = symbols.value(of: label, in: labelSet)
        let id = v ?? -1
        let hit: Bool
        if let cached = cache[id] {
            hit = cached
        } else {
            let s = v.map { symbols.string($0) } ?? ""
            hit = regex?.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil
            cache[id] = hit
        }
        return op == .regexMatch ? hit : !hit
    }
}

/// An `=` or `!=` matcher as a value: the simple rules' path checks it touching no class, so
/// a sample pays no retain for it.
struct PlainMatcher {
    let label: Int32
    let value: Int32
    let negated: Bool
    /// `label=""` also matches a label set without the label, as in Prometheus.
    let emptyValue: Bool

    @inline(__always) func matches(_ labelSet: Int32, _ symbols: Symbols) -> Bool {
        let v = symbols.value(of: label, in: labelSet)
        return (v == value || (v == nil && emptyValue)) != negated
    }
}

/// A compiled selector: which metric, which series of it, and the scale into the unit the
/// expression around it works in.
struct SeriesSelector {
    let metric: Int32
    let matchers: [MatcherNode]
}

/// A condition compiled to ids: evaluating it looks up no names.
indirect enum Node {
    case number(Double)
    case string(Int32)
    case bool(Bool)
    case instant(SeriesSelector)
    case window(SeriesSelector, spec: Int, WindowFunction)
    /// `histogram_quantile(q, x over W)`: the selector is `x_bucket`'s; `spec` its window.
    case histogramQuantile(Double, SeriesSelector, spec: Int)
    case age(SeriesSelector)
    case absent(SeriesSelector)
    case timeSinceLastUpdate
    case up
    case negate(Node)
    case not(Node)
    case abs(Node)
    case clamp(Node, Node, Node)
    case scale(Node, Double)
    case binary(BinaryOperator, Node, Node)
}

/// `series CMP constant` or `f(series over W) CMP constant`: evaluated on the series directly,
/// with no vectors (most rules have this shape).
/// It holds no references, so reading it on the hot path costs no retain; the selector's
/// matchers stay on the rule (`matchers`), read only when there are some.
struct SimpleCondition {
    let metric: Int32
    let hasMatchers: Bool
    /// The window spec index (-1: the series' last value) and function, for `f(x over W)`.
    let spec: Int
    let function: WindowFunction
    /// `function` when it is `count`, `sum` or `avg` (`Window.evaluateCounts`).
    let counts: CountsFunction?
    let op: BinaryOperator
    let threshold: Double

    init?(_ node: Node) {
        guard case .binary(let op, let l, let r) = node, op.isComparison, let c = SimpleCondition.constant(r) else { return nil }
        let sel: SeriesSelector
        switch l {
        case .instant(let s): sel = s; spec = -1; function = .last
        case .window(let s, let i, let f): sel = s; spec = i; function = f
        default: return nil
        }
        metric = sel.metric
        counts = spec >= 0 ? CountsFunction(function) : nil
        hasMatchers = !sel.matchers.isEmpty
        self.op = op
        threshold = c
    }

    /// The selector's matchers, from the rule's condition.
    static func matchers(of node: Node) -> [MatcherNode] {
        guard case .binary(_, let l, _) = node else { return [] }
        switch l {
        case .instant(let s), .window(let s, _, _): return s.matchers
        default: return []
        }
    }

    /// A condition that is never stepped (`SampleStep` of a general rule).
    init(placeholder: Void) {
        metric = -1
        hasMatchers = false
        spec = -1
        function = .last
        counts = nil
        op = .greater
        threshold = .nan
    }

    private static func constant(_ n: Node) -> Double? {
        switch n {
        case .number(let x): x
        case .scale(let inner, let f): constant(inner).map { $0 * f }
        case .negate(let inner): constant(inner).map { -$0 }
        default: nil
        }
    }

    func holds(_ v: Double) -> Bool {
        switch op {
        case .greater: v > threshold
        case .greaterEqual: v >= threshold
        case .less: v < threshold
        case .lessEqual: v <= threshold
        case .equal: v == threshold
        default: v != threshold
        }
    }
}

/// A rule reading a metric, as a sample of that metric steps it (`Engine.evaluateRules`): all
/// the pass reads of the rule in one plain record.
struct SampleStep {
    let rule: Int32
    /// Whether it has the fast path's shape (`condition`); if not, the general evaluator's.
    let isSimple: Bool
    /// The only simple rule of its metric reading its window: its next deadline for a series is
    /// remembered in `Engine.windowHints`.
    let soleReader: Bool
    /// Its shape when simple (a placeholder, never read, when not): not an optional, whose
    /// unwrapping copied the whole record on every rule a sample steps.
    let condition: SimpleCondition

    init(rule: Int32, simple: SimpleCondition?, soleReader: Bool) {
        self.rule = rule
        isSimple = simple != nil
        self.soleReader = soleReader
        condition = simple ?? SimpleCondition(placeholder: ())
    }
}

/// A metric's thresholds on its last value (its simple rules with no window), asked as one by a
/// sample's pass (`Engine.evaluateRules`): a value in `lo...hi` holds none of them, so while
/// none has an instance (`active`), stepping each would do nothing (nothing to step or resolve,
/// nothing to schedule) and none is stepped. `==` and `!=` hold off an interval: a metric with
/// one never takes the test. A NaN value is in no interval.
struct QuietThresholds {
    var lo = -Double.infinity, hi = Double.infinity
    /// How many thresholds, and their instances all together (kept by `Engine.stepInstance`).
    var count: Int32 = 0
    var active: Int32 = 0
    /// The metric's other rules: `Engine.otherSteps[otherStart..<otherEnd]`, in rule order.
    var otherStart: Int32
    var otherEnd: Int32 = 0
    /// When the test last found them quiet (what `Engine.lastEvaluations` reports for them).
    var passedAt = Int64.min

    init(otherStart: Int32) { self.otherStart = otherStart }

    /// Narrows the interval to the values where `c` (a threshold on the last value) does not hold.
    mutating func admit(_ c: SimpleCondition) {
        count += 1
        let x = c.threshold
        switch c.op {
        case .greater where !x.isNaN: hi = Swift.min(hi, x)
        case .greaterEqual where x == -.infinity, .lessEqual where x == .infinity: never()
        case .greaterEqual where !x.isNaN: hi = Swift.min(hi, x.nextDown)
        case .less where !x.isNaN: lo = Swift.max(lo, x)
        case .lessEqual where !x.isNaN: lo = Swift.max(lo, x.nextUp)
        case .greater, .greaterEqual, .less, .lessEqual: break // a NaN threshold: never holds
        default: never()
        }
    }

    private mutating func never() {
        lo = .infinity
        hi = -.infinity
    }
}

/// One alert rule, ready to evaluate (a class, so reading one on the hot path copies nothing).
final class CompiledRule {
    let name: String
    let severity: Severity
    let condition: Node
    let holdFor: Int64
    let resolveAfter: Int64
    let labels: [Label]
    let metrics: Set<Int32>
    let readsTimeSinceLastUpdate: Bool
    let readsUp: Bool
    let isEvent: Bool
    /// It reads a histogram's buckets: evaluated per group of buckets (their labels without
    /// `le`), not per bucket series.
    let readsHistogram: Bool
    /// What decides its instances (condition, `for`, `resolve after`): equal across a reload
    /// means its state carries over.
    var signature = ""

    init(name: String, severity: Severity, condition: Node, holdFor: Int64, resolveAfter: Int64, labels: [Label],
         metrics: Set<Int32>, readsTimeSinceLastUpdate: Bool, readsUp: Bool, isEvent: Bool) {
        self.name = name
        self.severity = severity
        self.condition = condition
        self.holdFor = holdFor
        self.resolveAfter = resolveAfter
        self.labels = labels
        self.metrics = metrics
        self.readsTimeSinceLastUpdate = readsTimeSinceLastUpdate
        self.readsUp = readsUp
        self.isEvent = isEvent
        readsHistogram = condition.readsHistogram
    }
}

extension Node {
    var readsHistogram: Bool {
        switch self {
        case .histogramQuantile: true
        case .negate(let x), .not(let x), .abs(let x), .scale(let x, _): x.readsHistogram
        case .clamp(let a, let b, let c): a.readsHistogram || b.readsHistogram || c.readsHistogram
        case .binary(_, let l, let r): l.readsHistogram || r.readsHistogram
        default: false
        }
    }
}

/// A window a metric's series must keep: its width and what the functions asked of it need.
struct WindowSpec: Hashable {
    let width: Int64
    let needs: WindowNeeds
}

/// Compiles checked rule files into `CompiledRule`s against `Symbols`.
struct Compiler {
    let symbols: Symbols
    private var consts: [String: Quantity] = [:]
    private var declared: [String: MetricDecl] = [:]
    /// Per metric id: the windows its series keep.
    private(set) var windowSpecs: [Int32: [WindowSpec]] = [:]

    init(symbols: Symbols, files: [RuleFile]) {
        self.symbols = symbols
        for file in files {
            for s in file.statements {
                if case .const(let c) = s { consts[c.name.name] = c.value.quantity }
                if case .metric(let m) = s { declared[m.name.name] = m }
            }
        }
    }

    /// A unit for a metric: its declaration, else its suffix.
    private func unit(ofMetric name: String) -> VigilRules.Unit? {
        if let d = declared[name], let u = d.unit { return VigilRules.Unit.spellings[u.name.lowercased()] }
        if name == "time_since_last_update" { return .seconds }
        return VigilRules.Unit.implied(byMetricName: name)
    }

    private func kind(ofMetric name: String) -> SeriesKind {
        if let d = declared[name] { return d.kind == .event ? .event : .number }
        if name == "service_status" { return .string }
        if name == "health_check" { return .number }
        return .unknown
    }

    mutating func compile(_ alert: AlertRule, labelsFromClauses: [Label]) -> CompiledRule? {
        guard let condition = alert.condition, let severity = alert.severity else { return nil }
        var expr = condition.expr
        if let over = condition.over { expr = Compiler.wrapBareSelectors(expr, over: over, isStreamMetric: { [consts] name in
            consts[name] == nil && Builtins.series[name] == nil }) }
        var metrics: Set<Int32> = []
        var tslu = false, up = false, event = false
        let (node, _) = compile(expr, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
        var resolveAfter: Int64 = 0
        for clause in alert.clauses { if case .resolveAfter(let d) = clause.body { resolveAfter = d.nanoseconds } }
        let rule = CompiledRule(name: alert.name.name, severity: severity, condition: node,
                                holdFor: condition.hold?.duration.nanoseconds ?? 0, resolveAfter: resolveAfter,
                                labels: labelsFromClauses, metrics: metrics, readsTimeSinceLastUpdate: tslu, readsUp: up, isEvent: event)
        rule.signature = "\(ASTDump.expr(expr)) for=\(rule.holdFor) resolve=\(resolveAfter) labels=\(labelsFromClauses)"
        return rule
    }

    /// `fill_rate < 0.7 over 1hour` → `avg(fill_rate over 1hour) < 0.7` (SPEC §1.1).
    static func wrapBareSelectors(_ e: Expr, over: DurationLiteral, isStreamMetric: (String) -> Bool) -> Expr {
        switch e {
        case .selector(let s) where isStreamMetric(s.qualifiedName):
            return .call(Call(function: Identifier("avg", s.range), arguments: [Call.Argument(expr: e, over: over)], range: s.range))
        case .unary(let op, let x, let r): return .unary(op, wrapBareSelectors(x, over: over, isStreamMetric: isStreamMetric), r)
        case .binary(let op, let l, let r, let range):
            return .binary(op, wrapBareSelectors(l, over: over, isStreamMetric: isStreamMetric),
                           wrapBareSelectors(r, over: over, isStreamMetric: isStreamMetric), range)
        default: return e
        }
    }

    /// Compiles an expression; returns the node and the unit its numbers are in.
    private mutating func compile(_ e: Expr, metrics: inout Set<Int32>, tslu: inout Bool, up: inout Bool, event: inout Bool) -> (Node, VigilRules.Unit?) {
        switch e {
        case .number(let n): return (.number(n.quantity.value), n.quantity.unit)
        case .string(let s): return (.string(symbols.stringID(s.value)), nil)
        case .bool(let b, _): return (.bool(b), nil)
        case .selector(let s):
            let name = s.qualifiedName
            if declared[name] == nil, Builtins.series[name] == nil, let c = consts[name] { return (.number(c.value), c.unit) }
            if name == "time_since_last_update" { tslu = true; return (.timeSinceLastUpdate, .seconds) }
            if name == "up" { up = true; return (.up, nil) }
            let sel = selector(s, metrics: &metrics)
            if kind(ofMetric: name) == .event { event = true }
            return (.instant(sel), unit(ofMetric: name))
        case .call(let c):
            return compileCall(c, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
        case .unary(.not, let x, _):
            return (.not(compile(x, metrics: &metrics, tslu: &tslu, up: &up, event: &event).0), nil)
        case .unary(.negate, let x, _):
            let (n, u) = compile(x, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
            return (.negate(n), u)
        case .binary(let op, let l, let r, _):
            let (ln, lu) = compile(l, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
            var (rn, ru) = compile(r, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
            var unit = lu ?? ru
            switch op {
            case .add, .subtract, .greater, .greaterEqual, .less, .lessEqual, .equal, .notEqual:
                // The right side is converted into the left side's unit (values keep the stream's unit).
                if let lu, let r0 = ru, lu.dimension == r0.dimension, lu != r0 {
                    rn = .scale(rn, r0.factor / lu.factor)
                    ru = lu
                }
                unit = lu ?? ru
            case .multiply, .divide:
                unit = lu == nil ? (op == .multiply ? ru : nil) : (ru == nil ? lu : nil)
            case .and, .or:
                unit = nil
            }
            return (.binary(op, ln, rn), unit)
        }
    }

    /// The index of `metric`'s window of `width` (one per metric and width), added if new,
    /// keeping what every function asked of it needs.
    private mutating func windowSpec(_ metric: Int32, width: Int64, needs: WindowNeeds) -> Int {
        var specs = windowSpecs[metric] ?? []
        defer { windowSpecs[metric] = specs }
        if let i = specs.firstIndex(where: { $0.width == width }) {
            specs[i] = WindowSpec(width: width, needs: specs[i].needs.union(needs))
            return i
        }
        specs.append(WindowSpec(width: width, needs: needs))
        return specs.count - 1
    }

    private mutating func selector(_ s: Selector, metrics: inout Set<Int32>) -> SeriesSelector {
        let name = s.qualifiedName
        let metric = symbols.metric(named: name, kind: kind(ofMetric: name)) ?? symbols.metric(named: name, kind: .unknown) ?? 0
        metrics.insert(metric)
        let matchers = s.matchers.map {
            MatcherNode(label: symbols.stringID($0.label.name), op: $0.op, value: symbols.stringID($0.value.value), pattern: $0.value.value)
        }
        return SeriesSelector(metric: metric, matchers: matchers)
    }

    private mutating func compileCall(_ c: Call, metrics: inout Set<Int32>, tslu: inout Bool, up: inout Bool, event: inout Bool) -> (Node, VigilRules.Unit?) {
        let name = c.function.name
        let args = c.arguments
        func windowed(_ a: Call.Argument, _ f: WindowFunction) -> (Node, VigilRules.Unit?) {
            guard case .selector(let s) = a.expr, let over = a.over else { return (.bool(false), nil) }
            let sel = selector(s, metrics: &metrics)
            let index = windowSpec(sel.metric, width: over.nanoseconds, needs: WindowNeeds(f))
            let u = unit(ofMetric: s.qualifiedName)
            switch f {
            case .count, .changes: return (.window(sel, spec: index, f), nil)
            case .rate: return (.window(sel, spec: index, f), nil)
            default: return (.window(sel, spec: index, f), u)
            }
        }
        if let f = WindowFunction(name: name), let a = args.first { return windowed(a, f) }
        switch name {
        case "quantile":
            guard args.count == 2, case .number(let q) = args[0].expr else { return (.bool(false), nil) }
            return windowed(args[1], .quantile(q.quantity.value))
        case "histogram_quantile":
            // The family `x` is read through its buckets, `x_bucket{le}`; the result is in the
            // unit of the bucket bounds: `x`'s declared unit, else its name's (`_seconds`).
            guard args.count == 2, case .number(let q) = args[0].expr, case .selector(let s) = args[1].expr, let over = args[1].over else {
                return (.bool(false), nil)
            }
            let family = s.qualifiedName
            let bucket = symbols.metric(named: family + "_bucket", kind: .number) ?? symbols.metric(named: family + "_bucket", kind: .unknown) ?? 0
            metrics.insert(bucket)
            let matchers = s.matchers.map {
                MatcherNode(label: symbols.stringID($0.label.name), op: $0.op, value: symbols.stringID($0.value.value), pattern: $0.value.value)
            }
            let sel = SeriesSelector(metric: bucket, matchers: matchers)
            let index = windowSpec(bucket, width: over.nanoseconds, needs: WindowNeeds(.increase))
            return (.histogramQuantile(q.quantity.value, sel, spec: index), unit(ofMetric: family) ?? unit(ofMetric: family + "_bucket"))
        case "age", "absent":
            guard case .selector(let s)? = args.first?.expr else { return (.bool(false), nil) }
            let sel = selector(s, metrics: &metrics)
            return name == "age" ? (.age(sel), .seconds) : (.absent(sel), nil)
        case "abs":
            guard let a = args.first else { return (.bool(false), nil) }
            let (n, u) = compile(a.expr, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
            return (.abs(n), u)
        case "clamp":
            guard args.count == 3 else { return (.bool(false), nil) }
            let (x, u) = compile(args[0].expr, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
            var (lo, lu) = compile(args[1].expr, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
            var (hi, hu) = compile(args[2].expr, metrics: &metrics, tslu: &tslu, up: &up, event: &event)
            if let u, let l0 = lu, l0.dimension == u.dimension, l0 != u { lo = .scale(lo, l0.factor / u.factor); lu = u }
            if let u, let h0 = hu, h0.dimension == u.dimension, h0 != u { hi = .scale(hi, h0.factor / u.factor); hu = u }
            return (.clamp(x, lo, hi), u)
        default:
            return (.bool(false), nil) // lint reports unknown functions; a rule set with errors is not run
        }
    }
}

import Foundation
import VigilRules

/// A dense id for one series (metric name + label set).
public typealias SeriesID = Int32

/// One label, as the stream sent it.
public struct Label: Hashable, Sendable, Comparable, Codable {
    public let name: String
    public let value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public static func < (a: Label, b: Label) -> Bool { (a.name, a.value) < (b.name, b.value) }
}

extension Array where Element == Label {
    /// `name=value` pairs joined by `separator`; with `quoted`, values are JSON strings
    /// (`venue="kalshi"`), so a value holding the separator stays readable.
    public func text(separator: String = ", ", quoted: Bool = false) -> String {
        map { "\($0.name)=\(quoted ? jsonString($0.value) : $0.value)" }.joined(separator: separator)
    }
}

/// What a metric's series hold.
public enum SeriesKind: UInt8, Sendable {
    case number, string, event
    /// Named by a rule but not declared: the stream's first sample decides.
    case unknown
}

/// Interned names, label sets and series. Owned by the single writer (the engine's thread), so
/// its hot state opts out of dynamic exclusivity checks.
public final class Symbols {
    /// Metric names (`feed_latency_p95`, `daily_turnover_check.used`).
    @exclusivity(unchecked) var names = ByteInterner(capacity: 256)
    /// Label names, label values and string series values.
    @exclusivity(unchecked) var strings = ByteInterner(capacity: 1024)
    /// Label sets, keyed by their sorted (name id, value id) pairs as bytes.
    @exclusivity(unchecked) var labelSets = ByteInterner(capacity: 1024)
    /// Each label set's pairs, sorted by name id.
    @exclusivity(unchecked) private(set) var labelPairs: [[(name: Int32, value: Int32)]] = []
    /// Series key (metric << 32 | label set) → series id.
    @exclusivity(unchecked) private var seriesByKey: [Int64: SeriesID] = [:]
    @exclusivity(unchecked) private(set) var seriesMetric: [Int32] = []
    @exclusivity(unchecked) private(set) var seriesLabels: [Int32] = []
    /// Per metric: its kind (fixed by first use) and its series.
    @exclusivity(unchecked) private(set) var metricKind: [SeriesKind] = []
    @exclusivity(unchecked) private(set) var metricSeries: [[SeriesID]] = []
    /// New series per metric beyond this are dropped (SPEC §4, `max_series`).
    public var seriesCap: Int
    /// New series beyond this many in all are dropped (`max_series_total`).
    public var seriesTotalCap: Int

    public init(seriesCap: Int = 10_000, seriesTotalCap: Int = EngineSettings.defaultMaxSeriesTotal) {
        self.seriesCap = seriesCap
        self.seriesTotalCap = seriesTotalCap
        _ = internLabelSet([]) // label set 0 is the empty one
    }

    /// How many names, strings, label sets and series existed at a moment, to forget what came after.
    struct Checkpoint {
        let names: Int, strings: Int, labelSets: Int, series: Int
    }

    /// The sizes now (`rollback(to:)` forgets what a rejected line added).
    var checkpoint: Checkpoint { Checkpoint(names: names.count, strings: strings.count, labelSets: labelSets.count, series: seriesMetric.count) }

    /// Forgets the series, names, strings and label sets made since `c`, within one line's
    /// decoding: its series are not yet known to the engine (still in `newSeries`), and nothing
    /// else refers to what is forgotten.
    func rollback(to c: Checkpoint) {
        while seriesMetric.count > c.series, let id = seriesMetric.indices.last {
            let metric = seriesMetric.removeLast(), labels = seriesLabels.removeLast()
            seriesByKey[Int64(metric) << 32 | Int64(labels)] = nil
            metricSeries[Int(metric)].removeLast()
            if newSeries.last == SeriesID(id) { newSeries.removeLast() }
        }
        if names.count > c.names {
            names.truncate(to: c.names)
            metricKind.removeSubrange(c.names...)
            metricSeries.removeSubrange(c.names...)
        }
        strings.truncate(to: c.strings)
        if labelSets.count > c.labelSets {
            labelSets.truncate(to: c.labelSets)
            labelPairs.removeSubrange(c.labelSets...)
        }
    }

    /// Whether the interners have room for another line's names: each is bounded by what the
    /// series caps allow (a few entries per series), so no stream can grow them without end.
    var internersFull: Bool {
        let limit = 4 * seriesTotalCap + 65_536
        return names.count > limit || strings.count > 2 * limit || labelSets.count > limit
    }

    public var seriesCount: Int { seriesMetric.count }
    /// A series' metric and label set (ids), for readers outside the engine (vigil-bench's floor).
    public func metric(of series: SeriesID) -> Int32 { seriesMetric[Int(series)] }
    public func labelSet(of series: SeriesID) -> Int32 { seriesLabels[Int(series)] }
    public var metricCount: Int { metricKind.count }

    /// The id of a metric name, interning it with `kind` if new; nil if it exists with another kind.
    func metric(_ p: UnsafeRawBufferPointer, kind: SeriesKind) -> Int32? {
        let id = names.intern(p)
        return register(id, kind: kind)
    }

    public func metric(named name: String, kind: SeriesKind) -> Int32? {
        register(names.intern(name), kind: kind)
    }

    private func register(_ id: Int32, kind: SeriesKind) -> Int32? {
        if Int(id) == metricKind.count {
            metricKind.append(kind)
            metricSeries.append([])
            return id
        }
        let existing = metricKind[Int(id)]
        if existing == kind || kind == .unknown { return id }
        if existing == .unknown {
            metricKind[Int(id)] = kind
            return id
        }
        return nil
    }

    /// The id of a metric name if it has been seen.
    public func metricID(_ name: String) -> Int32? { names.lookup(name) }
    public func metricName(_ id: Int32) -> String { names.string(id) }

    /// Interns a label set given as pairs sorted by name id without duplicate names.
    func internLabelSet(_ pairs: UnsafeBufferPointer<(name: Int32, value: Int32)>) -> Int32 {
        let id = labelSets.intern(UnsafeRawBufferPointer(pairs))
        if Int(id) == labelPairs.count { labelPairs.append(Array(pairs)) }
        return id
    }

    func internLabelSet(_ pairs: [(name: Int32, value: Int32)]) -> Int32 {
        pairs.withUnsafeBufferPointer { internLabelSet($0) }
    }

    /// Interns a label set given as strings (any order).
    public func labelSet(_ labels: [Label]) -> Int32 {
        var pairs = labels.map { (name: strings.intern($0.name), value: strings.intern($0.value)) }
        pairs.sort { $0.name < $1.name }
        return internLabelSet(pairs)
    }

    /// The labels of a label set, sorted by name.
    public func labels(_ labelSet: Int32) -> [Label] {
        labelPairs[Int(labelSet)].map { Label(strings.string($0.name), strings.string($0.value)) }.sorted()
    }

    /// A label's value id in a label set, if present.
    func value(of name: Int32, in labelSet: Int32) -> Int32? {
        for p in labelPairs[Int(labelSet)] where p.name == name { return p.value }
        return nil
    }

    /// Whether two label sets agree on every label name they share.
    func consistent(_ a: Int32, _ b: Int32) -> Bool {
        if a == b || a == 0 || b == 0 { return true }
        let x = labelPairs[Int(a)], y = labelPairs[Int(b)]
        var i = 0, j = 0
        while i < x.count, j < y.count {
            if x[i].name == y[j].name {
                if x[i].value != y[j].value { return false }
                i += 1; j += 1
            } else if x[i].name < y[j].name { i += 1 } else { j += 1 }
        }
        return true
    }

    private var unions: [Int64: Int32] = [:]

    /// The union of two consistent label sets (cached).
    func union(_ a: Int32, _ b: Int32) -> Int32 {
        if a == b || b == 0 { return a }
        if a == 0 { return b }
        let key = Int64(min(a, b)) << 32 | Int64(max(a, b))
        if let u = unions[key] { return u }
        var merged = labelPairs[Int(a)]
        for p in labelPairs[Int(b)] where !merged.contains(where: { $0.name == p.name }) { merged.append(p) }
        merged.sort { $0.name < $1.name }
        let u = internLabelSet(merged)
        unions[key] = u
        return u
    }

    /// The series of (metric, label set), created if new and under the cap; nil when capped.
    func series(metric: Int32, labelSet: Int32) -> SeriesID? {
        let key = Int64(metric) << 32 | Int64(labelSet)
        if let id = seriesByKey[key] { return id }
        guard metricSeries[Int(metric)].count < seriesCap, seriesMetric.count < seriesTotalCap, !internersFull else { return nil }
        let id = SeriesID(seriesMetric.count)
        seriesByKey[key] = id
        seriesMetric.append(metric)
        seriesLabels.append(labelSet)
        metricSeries[Int(metric)].append(id)
        newSeries.append(id)
        return id
    }

    /// The series of (metric, label set) if it exists.
    func existingSeries(metric: Int32, labelSet: Int32) -> SeriesID? {
        seriesByKey[Int64(metric) << 32 | Int64(labelSet)]
    }

    /// Series created since the engine last looked (it sizes its per-series state from this).
    @exclusivity(unchecked) var newSeries: [SeriesID] = []

    public func string(_ id: Int32) -> String { strings.string(id) }
    public func stringID(_ s: String) -> Int32 { strings.intern(s) }

    /// Approximate bytes held, for the memory report.
    public var memoryBytes: Int {
        names.memoryBytes + strings.memoryBytes + labelSets.memoryBytes + seriesMetric.capacity * 8
            + labelPairs.reduce(0) { $0 + $1.capacity * 8 + 16 } + seriesByKey.capacity * 16
            + metricSeries.reduce(0) { $0 + $1.capacity * 4 + 16 }
    }
}

/// `histogram_quantile(q, x over W)` as Prometheus computes it (promql/quantile.go,
/// `bucketQuantile`): each bucket series `x_bucket{le}`'s increase over W (counter resets
/// handled), grouped by the labels besides `le`; buckets sorted by bound, equal bounds summed,
/// counts made monotonic; no `+Inf` bucket or no observation is absent (Prometheus' NaN);
/// the rank q × count found in its bucket and interpolated linearly inside it (from 0 for the
/// first bucket when its bound is positive), a rank in the `+Inf` bucket giving the highest
/// finite bound.
extension Engine {
    struct Bucket {
        var group: Int32
        var upper: Double
        var count: Double
    }

    func histogramQuantile(_ q: Double, _ sel: SeriesSelector, spec: Int, focus: Int32) -> Vector {
        let t = now.nanoseconds
        let le = symbols.stringID("le")
        // The group the evaluation is for: the focus without `le` (a bucket's sample triggered it).
        let group = focus == 0 ? 0 : labelSet(focus, without: le)
        histogramBuckets.removeAll(keepingCapacity: true)
        var hint = Int64.max
        candidates(sel, focus: group, series: -1) { id in
            let labels = symbols.seriesLabels[id]
            guard spec < Int(seriesState[id].windowCount), let bound = symbols.value(of: le, in: labels).flatMap(bucketBound) else { return }
            let w = Int(seriesState[id].windowBase) + spec
            guard let (increase, next) = windows[w].evaluateInPlace(.increase, at: t, scratch: &windowScratch) else { return }
            hint = min(hint, next)
            histogramBuckets.append(Bucket(group: labelSet(labels, without: le), upper: bound, count: increase))
        }
        histogramBuckets.sort { ($0.group, $0.upper) < ($1.group, $1.upper) }
        let start = arena.count
        var i = 0
        while i < histogramBuckets.count {
            var j = i
            while j < histogramBuckets.count, histogramBuckets[j].group == histogramBuckets[i].group { j += 1 }
            if let v = Engine.bucketQuantile(q, &histogramBuckets[i..<j]) {
                arena.append(Element(labels: histogramBuckets[i].group, value: v, truth: v != 0, hint: hint))
            }
            i = j
        }
        return Vector(range: start..<arena.count)
    }

    /// Prometheus' `bucketQuantile` over one group's buckets, sorted by bound; nil for NaN.
    static func bucketQuantile(_ q: Double, _ group: inout ArraySlice<Bucket>) -> Double? {
        if q < 0 { return -.infinity }
        if q > 1 { return .infinity }
        guard let last = group.last, last.upper == .infinity else { return nil }
        // Equal bounds (`1` and `1.0`) are one bucket.
        var buckets: [Bucket] = []
        buckets.reserveCapacity(group.count)
        for b in group {
            if let l = buckets.last, l.upper == b.upper { buckets[buckets.count - 1].count += b.count } else { buckets.append(b) }
        }
        // A bucket lower than the one below it (a scrape between bucket updates, a reset of
        // some buckets only) is raised to it.
        for k in buckets.indices.dropFirst() where buckets[k].count < buckets[k - 1].count { buckets[k].count = buckets[k - 1].count }
        guard buckets.count >= 2, let observations = buckets.last?.count, observations > 0 else { return nil }
        var rank = q * observations
        guard let b = buckets.firstIndex(where: { $0.count >= rank }) else { return nil }
        if b == buckets.count - 1 { return buckets[buckets.count - 2].upper }
        if b == 0, buckets[0].upper <= 0 { return buckets[0].upper }
        var bucketStart = 0.0
        let bucketEnd = buckets[b].upper
        var count = buckets[b].count
        if b > 0 {
            bucketStart = buckets[b - 1].upper
            count -= buckets[b - 1].count
            rank -= buckets[b - 1].count
        }
        guard count > 0 else { return bucketStart }
        return bucketStart + (bucketEnd - bucketStart) * (rank / count)
    }

    /// A bucket's `le` as a number (`0.5`, `1e3`, `+Inf`); nil if it is not one. Cached per value.
    func bucketBound(_ value: Int32) -> Double? {
        if let b = bucketBounds[value] { return b.isNaN ? nil : b }
        var text = symbols.string(value)
        let parsed = text.withUTF8 { ExpositionParser.float(UnsafeRawBufferPointer($0)) }
        bucketBounds[value] = parsed.flatMap { $0.isNaN ? nil : $0 } ?? .nan
        return parsed.flatMap { $0.isNaN ? nil : $0 }
    }

    /// `labels` without the label `name` (interned; cached).
    func labelSet(_ labels: Int32, without name: Int32) -> Int32 {
        let key = Int64(labels) << 32 | Int64(UInt32(bitPattern: name))
        if let s = labelsWithout[key] { return s }
        let pairs = symbols.labelPairs[Int(labels)].filter { $0.name != name }
        let s = symbols.internLabelSet(pairs)
        labelsWithout[key] = s
        return s
    }
}

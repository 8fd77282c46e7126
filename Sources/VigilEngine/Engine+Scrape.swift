/// Scrapes in: one answer of a Prometheus exposition endpoint is one instant (SPEC §1.2), and
/// the target's series that an answer no longer carries go stale at once, as Prometheus'
/// staleness markers make them, rather than after `stale_after`.
extension Engine {
    /// Applies one scrape of `result.target` at `t`: its samples and health series
    /// (`scrape_up`, `scrape_duration_seconds`, `scrape_samples`, labelled `scrape`). A failed
    /// scrape (no answer, an HTTP error, a body that does not parse) applies no sample and
    /// makes every series of the target's last good scrape stale. Returns the target's state
    /// when it changed (up or down), for the shell to log once.
    @discardableResult
    public func applyScrape(_ result: ScrapeResult, at t: Instant) -> ScrapeState? {
        var target = scrapeTargets[result.target] ?? ScrapeTarget()
        scrapeBuffer.removeAll(keepingCapacity: true)
        var cause: String?, detail: String?
        var outcome = ExpositionParser.Outcome()
        switch result.answer {
        case .failed(let why):
            cause = why
        case .answered(let status, _, _) where !(200..<300).contains(status):
            cause = "HTTP \(status)"
        case .answered(_, let contentType, let body):
            let format = ExpositionParser.Format(contentType: contentType)
            let parsed = body.withUnsafeBytes { exposition.parse($0, format: format, time: t, symbols: symbols, into: &scrapeBuffer) }
            switch parsed {
            case .success(let o): outcome = o
            case .failure(let f):
                cause = "the answer is not the \(format == .openMetrics ? "OpenMetrics" : "Prometheus text") format"
                detail = f.description
            }
        }
        // The series this scrape carries, sorted; what the last one had and this one lacks vanished.
        var current = scrapeBuffer.map(\.series)
        current.sort()
        var vanished: [SeriesID] = []
        var k = 0
        for id in target.series {
            while k < current.count, current[k] < id { k += 1 }
            if k == current.count || current[k] != id { vanished.append(id) }
        }
        target.series = current
        rejected[.seriesCap, default: 0] += outcome.capped
        rejected[.badValue, default: 0] += outcome.nonFinite + outcome.wrongKind

        // The target's health is part of the same instant as what it answered.
        let up = cause == nil
        let labels = [Label("scrape", result.target)]
        for (name, value) in [("scrape_up", up ? 1.0 : 0), ("scrape_duration_seconds", Double(result.duration) / 1e9),
                              ("scrape_samples", Double(outcome.samples))] {
            if let s = sample(metric: name, labels: labels, value: .number(value), at: t) { scrapeBuffer.append(s) }
        }
        applyInstant(scrapeBuffer, vanished: vanished, at: t, fromStream: up && outcome.samples > 0) // an answer with samples: the trader spoke

        let state = ScrapeState(target: result.target, up: up, error: cause.map { c in detail.map { c + ": " + $0 } ?? c })
        // Logged once per change of state (up or down, as the issue asks); a down target whose
        // cause changes (refused, then timing out) is not logged again: scrape_up and
        // vigil_scrapes_total keep counting.
        let changed = target.state?.up != up
        target.state = state
        if up { target.succeeded += 1 } else { target.failed += 1 }
        scrapeTargets[result.target] = target
        return changed ? state : nil
    }

    /// Forgets targets no longer configured; their series go stale now.
    public func keepScrapeTargets(_ names: Set<String>, at t: Instant) {
        for (name, target) in scrapeTargets where !names.contains(name) {
            applyInstant([], vanished: target.series, at: t, fromStream: false)
            scrapeTargets[name] = nil
        }
    }

    /// One instant: `vanished` go stale and `samples` (all stamped `t`) are stored, then the
    /// rules any of them feed are evaluated once.
    func applyInstant(_ samples: [Sample], vanished: [SeriesID], at t: Instant, fromStream: Bool) {
        advance(before: t)
        now = max(now, t)
        pendingEvaluations.clear()
        growSeries()
        for id in vanished where seriesState[Int(id)].lastTime != .min {
            seriesState[Int(id)].vanishedAt = now.nanoseconds
            queueRules(of: id)
        }
        for s in samples where store(s) { queueRules(of: s.series) }
        if fromStream { lastMessage = max(lastMessage, now.nanoseconds) }
        evaluatePending(samples: samples.count + vanished.count)
        if fromStream { for r in tsluRules { evaluate(rule: r, focus: 0, series: -1) } }
    }
}

/// What the shell hands the core of one scrape: the answer (or why there is none) and how
/// long it took.
public struct ScrapeResult: Sendable {
    public enum Answer: Sendable {
        case answered(status: Int, contentType: String?, body: [UInt8])
        case failed(String)
    }

    public let target: String
    public let duration: Int64
    public let answer: Answer

    public init(target: String, duration: Int64, answer: Answer) {
        self.target = target
        self.duration = duration
        self.answer = answer
    }
}

/// A scrape target's state: up, or down and why.
public struct ScrapeState: Sendable, Equatable {
    public let target: String
    public let up: Bool
    public let error: String?
}

/// What the engine keeps per scrape target.
struct ScrapeTarget {
    /// The series of its last good scrape, sorted.
    var series: [SeriesID] = []
    var state: ScrapeState?
    var succeeded = 0
    var failed = 0
}

extension Engine {
    /// Scrapes per target since the start: (succeeded, failed), for `/metrics`.
    public var scrapeCounts: [String: (succeeded: Int, failed: Int)] {
        scrapeTargets.mapValues { ($0.succeeded, $0.failed) }
    }
}

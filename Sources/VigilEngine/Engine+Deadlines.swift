import Foundation
import VigilRules

/// Deadlines: "evaluate rule R for label set L at T", run in time order as the clock advances.
extension Engine {
    // MARK: - Time

    /// Runs every deadline strictly before `t`. Its test is inlined into each sample's path,
    /// where most samples find none due; the loop that runs them is not.
    @inline(__always) public func advance(before t: Instant) {
        if let top = heap.peek, top.at < t.nanoseconds { runDeadlines(before: t) }
    }

    @inline(never) private func runDeadlines(before t: Instant) {
        while let top = heap.peek, top.at < t.nanoseconds { runDeadline() }
    }

    /// Runs every deadline up to and including `t`, and sets the clock to `t`.
    public func advance(through t: Instant) {
        while let top = heap.peek, top.at <= t.nanoseconds { runDeadline() }
        now = max(now, t)
    }

    func runDeadline() {
        guard let d = heap.pop() else { return }
        let key = Int64(d.rule) << 32 | Int64(UInt32(bitPattern: d.labels))
        guard scheduled[key] == d.at else { return }
        scheduled[key] = nil
        now = max(now, Instant(nanoseconds: d.at))
        evaluate(rule: Int(d.rule), focus: d.labels, series: -1)
    }

    /// Schedules an evaluation of `rule` for `labels` at `at`, unless one as early is. Its
    /// first test is inlined into each evaluation; the map and the heap are not.
    @inline(__always) func schedule(rule: Int, labels: Int32, at: Int64) {
        guard at > now.nanoseconds, at != .max else { return }
        scheduleLater(rule: rule, labels: labels, at: at)
    }

    @inline(never) private func scheduleLater(rule: Int, labels: Int32, at: Int64) {
        let key = Int64(rule) << 32 | Int64(UInt32(bitPattern: labels))
        if let existing = scheduled[key], existing <= at { return }
        scheduled[key] = at
        heap.push(Deadline(at: at, rule: Int32(rule), labels: labels))
    }
}

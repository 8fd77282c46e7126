import Synchronization
import VigilAlerting

/// The notifications that are owed: added when the router emits them, done after delivery (or
/// final failure). The outbox itself is memory; with `--state-dir` its contents are made durable
/// by the state journal, in the same record (and the same fsync) as the alert state of the step
/// that produced them, so a crash can never keep one without the other. A notification born
/// outside a step (a fallback report) is journaled at once through `onOwe`; `onDone` tells the
/// journal that an entry is finished. It holds notifications, never rendered requests, so no
/// secret reaches the disk.
public final class Outbox: Sendable {
    public struct Entry: Sendable, Codable, Equatable {
        public let id: UInt64
        public let channel: String
        public let notification: AlertNotification
    }

    private struct State {
        var nextID: UInt64 = 1
        var pending: [UInt64: Entry] = [:]
    }

    private let state: Mutex<State>
    private let onOwe: @Sendable (Entry) -> Void
    private let onDone: @Sendable (Entry) -> Void

    /// An outbox holding `entries` (what the journal restored), calling `onOwe` for each entry
    /// added by `addNow` and `onDone` for each finished entry.
    public init(restoring entries: [Entry] = [], onOwe: @escaping @Sendable (Entry) -> Void = { _ in },
                onDone: @escaping @Sendable (Entry) -> Void = { _ in }) {
        var s = State()
        for e in entries { s.pending[e.id] = e }
        s.nextID = (entries.map(\.id).max() ?? 0) + 1
        state = Mutex(s)
        self.onOwe = onOwe
        self.onDone = onDone
    }

    /// Records a notification that is owed.
    public func add(_ n: AlertNotification) -> Entry {
        state.withLock { s in
            let entry = Entry(id: s.nextID, channel: n.channel, notification: n)
            s.nextID += 1
            s.pending[entry.id] = entry
            return entry
        }
    }

    /// Records a notification that is owed and makes it durable now (not with a core step).
    public func addNow(_ n: AlertNotification) -> Entry {
        let entry = add(n)
        onOwe(entry)
        return entry
    }

    /// Records that an entry needs no more attempts.
    public func done(_ entry: Entry) {
        guard state.withLock({ $0.pending.removeValue(forKey: entry.id) }) != nil else { return }
        onDone(entry)
    }

    /// The entries owed, oldest first.
    public var entries: [Entry] { state.withLock { $0.pending.values.sorted { $0.id < $1.id } } }

    /// Entries waiting per channel (`/metrics` outbox depth).
    public var depth: [String: Int] {
        state.withLock { s in s.pending.values.reduce(into: [:]) { $0[$1.channel, default: 0] += 1 } }
    }
}

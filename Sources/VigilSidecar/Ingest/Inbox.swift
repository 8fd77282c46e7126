import Dispatch
import Synchronization

/// What waits for the core thread, and the semaphore that wakes it. Stream lines are bounded
/// per source: a reader posting while `cap` bytes of its lines wait blocks until the core takes
/// them, so a writer faster than the core fills its own socket buffer and waits, instead of
/// vigil's memory, and a flooding writer cannot crowd out the trader's lines (at most 64
/// writers × 2 MiB wait). Items that weigh nothing (commands, readings) never wait.
final class Inbox<Item: Sendable>: Sendable {
    private struct Queue {
        var items: [Item] = []
        var waiting: [String: Int] = [:]
        var closed = false
    }

    /// About 20 ms of the core's work per source: enough to batch, small enough to bound memory.
    static var defaultCap: Int { 2 << 20 }

    let cap: Int
    /// An item's bytes and the source they count against.
    private let weigh: @Sendable (Item) -> (bytes: Int, source: String)
    private let queue = Mutex(Queue())
    /// Signalled when the core has taken what waited (readers blocked on the cap retry).
    private let space = DispatchSemaphore(value: 0)
    private let blocked = Mutex(0)
    /// Signalled on every post: the core sleeps on it.
    let wake = DispatchSemaphore(value: 0)

    init(cap: Int = Inbox.defaultCap, weigh: @escaping @Sendable (Item) -> (bytes: Int, source: String)) {
        self.cap = cap
        self.weigh = weigh
    }

    /// Queues an item; blocks while its source already has `cap` bytes waiting (a source with
    /// nothing waiting always gets one item in, however large).
    func post(_ item: Item) {
        let (bytes, source) = weigh(item)
        while true {
            let posted = queue.withLock { q -> Bool in
                let waiting = q.waiting[source] ?? 0
                guard q.closed || bytes == 0 || waiting == 0 || waiting + bytes <= cap else { return false }
                q.items.append(item)
                if bytes > 0 { q.waiting[source] = waiting + bytes }
                return true
            }
            if posted { break }
            blocked.withLock { $0 += 1 }
            wake.signal() // the core takes what waits, and lets this reader retry
            space.wait()
        }
        wake.signal()
    }

    /// Everything queued, oldest first; blocked readers retry.
    func take() -> [Item] {
        let taken = queue.withLock { q -> [Item] in
            let taken = q.items
            q.items.removeAll(keepingCapacity: true)
            q.waiting.removeAll(keepingCapacity: true)
            return taken
        }
        releaseBlocked()
        return taken
    }

    /// Lets every blocked reader through from now on (the core has stopped).
    func close() {
        queue.withLock { $0.closed = true }
        releaseBlocked()
    }

    /// Readers blocked on the cap now (for tests).
    var blockedCount: Int { blocked.withLock { $0 } }

    private func releaseBlocked() {
        let n = blocked.withLock { n -> Int in defer { n = 0 }; return n }
        for _ in 0..<n { space.signal() }
    }
}

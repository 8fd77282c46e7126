/// What a `MinHeap` orders its elements by: a time, in nanoseconds.
public protocol HeapOrdered {
    var heapKey: Int64 { get }
}

/// A binary min-heap by `heapKey`: the engine's deadlines and the router's timers. The key is
/// read through the element's type, not a stored closure: a closure (a key path's, as it was)
/// was called on every comparison, and 10,000 series with a 5-minute window push and pop
/// 10,000 deadlines every 5 s.
public struct MinHeap<Element: HeapOrdered> {
    private var items: [Element] = []

    public init() {}

    public var peek: Element? { items.first }
    public var count: Int { items.count }

    /// Sifts `e` up from the end: parents larger than it move down into the hole it leaves.
    /// Not inlined: into a caller's hot loop (a rule's step schedules), its rarely run body
    /// cost that loop registers and spills (+2.5% of decode_evaluate's instructions).
    @inline(never) public mutating func push(_ e: Element) {
        items.append(e)
        items.withUnsafeMutableBufferPointer { p in
            var i = p.count - 1
            let key = e.heapKey
            while i > 0 {
                let parent = (i - 1) / 2
                guard key < p[parent].heapKey else { break }
                p[i] = p[parent]
                i = parent
            }
            p[i] = e
        }
    }

    /// The least; the last element sifts down from the top, smaller children moving up into
    /// the hole, in one pass over the buffer (a swap an edge, each checked, was ~70
    /// instructions a level).
    public mutating func pop() -> Element? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        guard !items.isEmpty else { return top }
        items.withUnsafeMutableBufferPointer { p in
            let n = p.count, key = last.heapKey
            var i = 0
            while true {
                let l = 2 * i + 1
                guard l < n else { break }
                let r = l + 1
                let m = r < n && p[r].heapKey < p[l].heapKey ? r : l
                guard p[m].heapKey < key else { break }
                p[i] = p[m]
                i = m
            }
            p[i] = last
        }
        return top
    }
}

/// A deadline: evaluate `rule` for the label set `labels` at `at`.
struct Deadline: HeapOrdered {
    let at: Int64
    let rule: Int32
    let labels: Int32

    var heapKey: Int64 { at }
}

/// What a `MinHeap` orders its elements by: a time, in nanoseconds.
public protocol HeapOrdered {
    var heapKey: Int64 { get }
}

/// A binary min-heap by `heapKey`: the engine's deadlines and the router's timers. The key is
/// read through the element's type, not a stored closure: a closure (a key path's, as it was)
/// was called on every comparison, and at each bucket boundary 10,000 series' window deadlines
/// are pushed and popped at once.
public struct MinHeap<Element: HeapOrdered> {
    private var items: [Element] = []

    public init() {}

    public var peek: Element? { items.first }
    public var count: Int { items.count }

    public mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].heapKey < items[parent].heapKey else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    public mutating func pop() -> Element? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l].heapKey < items[m].heapKey { m = l }
                if r < items.count, items[r].heapKey < items[m].heapKey { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
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

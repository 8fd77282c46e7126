/// A binary min-heap ordered by `key`: the engine's deadlines and the router's timers.
public struct MinHeap<Element> {
    private var items: [Element] = []
    private let key: (Element) -> Int64

    public init(key: @escaping (Element) -> Int64) { self.key = key }

    public var peek: Element? { items.first }
    public var count: Int { items.count }

    public mutating func push(_ e: Element) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard key(items[i]) < key(items[parent]) else { break }
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
                if l < items.count, key(items[l]) < key(items[m]) { m = l }
                if r < items.count, key(items[r]) < key(items[m]) { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}

/// A deadline: evaluate `rule` for the label set `labels` at `at`.
struct Deadline {
    let at: Int64
    let rule: Int32
    let labels: Int32
}

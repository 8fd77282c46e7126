import Testing
@testable import VigilEngine

struct MinHeapTests {
    struct Item: HeapOrdered, Equatable {
        let heapKey: Int64
        let id: Int
    }

    /// 4,000 seeded pushes and pops, keys from a small space (many equal) and from the whole
    /// Int64 range, checked after every pop against a sorted list of what was pushed: the heap
    /// pops the least key each time, and pops every item pushed once.
    @Test(arguments: [16, Int64.max])
    func popsTheLeastKeyFirst(keySpace: Int64) {
        var heap = MinHeap<Item>()
        var held: [Item] = []
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bitPattern: keySpace)
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        for step in 0..<4_000 {
            if next() % 3 == 0 {
                let popped = heap.pop()
                let least = held.map(\.heapKey).min()
                #expect(popped?.heapKey == least)
                if let popped, let k = held.firstIndex(of: popped) { held.remove(at: k) } else { #expect(popped == nil) }
            } else {
                let key = keySpace == .max ? Int64(bitPattern: next()) : Int64(next() % UInt64(keySpace))
                let item = Item(heapKey: key, id: step)
                heap.push(item)
                held.append(item)
            }
            #expect(heap.count == held.count)
            #expect(heap.peek?.heapKey == held.map(\.heapKey).min())
        }
        var last = Int64.min
        while let item = heap.pop() {
            #expect(item.heapKey >= last)
            last = item.heapKey
            if let k = held.firstIndex(of: item) { held.remove(at: k) }
        }
        #expect(held.isEmpty)
    }
}

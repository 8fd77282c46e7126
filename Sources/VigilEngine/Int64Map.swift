/// A hash map from Int64 to Int64 for the engine's hot keys (`rule << 32 | labels`): open
/// addressing with linear probing and backward-shift deletion, hashed by one multiply. Swift's
/// Dictionary hashes with seeded SipHash, ~450 instructions a lookup in decode_evaluate, where
/// every window rule's evaluation asks for its deadline.
///
/// `Int64.min` marks an empty slot, so it is the one key this map cannot hold.
struct Int64Map {
    /// A key and its value side by side: a lookup that finds its key reads one cache line, not
    /// one of a keys array and another of a values array (the map is larger than the caches
    /// with 10,000 series, so each lookup was two misses).
    private struct Entry {
        var key: Int64
        var value: Int64
    }

    private var entries: [Entry]
    private(set) var count = 0

    init() {
        entries = Array(repeating: Entry(key: .min, value: 0), count: 16)
    }

    private var mask: Int { entries.count - 1 }

    /// The top log2(slots) bits of the key times 2^64/φ (the table's size is a power of two).
    @inline(__always) private func home(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - entries.count.trailingZeroBitCount))
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always) private func slot(_ key: Int64) -> Int {
        var i = home(key)
        while entries[i].key != key, entries[i].key != .min { i = (i + 1) & mask }
        return i
    }

    subscript(key: Int64) -> Int64? {
        get {
            precondition(key != .min, "Int64Map cannot hold Int64.min")
            let e = entries[slot(key)]
            return e.key == key ? e.value : nil
        }
        set {
            precondition(key != .min, "Int64Map cannot hold Int64.min")
            let i = slot(key)
            if let newValue {
                if entries[i].key == key { entries[i].value = newValue; return }
                entries[i] = Entry(key: key, value: newValue)
                count += 1
                if count * 2 > entries.count { grow() }
            } else if entries[i].key == key {
                remove(at: i)
            }
        }
    }

    /// Empties slot `i`, moving back each later entry of its run that may sit there, so every
    /// lookup still finds its key before an empty slot.
    private mutating func remove(at start: Int) {
        var i = start
        var j = start
        while true {
            j = (j + 1) & mask
            if entries[j].key == .min { break }
            let h = home(entries[j].key)
            // Entry j stays unless its home lies cyclically outside (i, j].
            let stays = i <= j ? (i < h && h <= j) : (i < h || h <= j)
            if !stays {
                entries[i] = entries[j]
                i = j
            }
        }
        entries[i].key = .min
        count -= 1
    }

    private mutating func grow() {
        let old = entries
        entries = Array(repeating: Entry(key: .min, value: 0), count: old.count * 2)
        for e in old where e.key != .min { entries[slot(e.key)] = e }
    }

    /// Bytes held, for the memory report.
    var memoryBytes: Int { entries.capacity * MemoryLayout<Entry>.stride }
}

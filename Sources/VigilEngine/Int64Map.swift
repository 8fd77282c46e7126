/// A hash map from Int64 to Int64 for the engine's hot keys (`rule << 32 | labels`): open
/// addressing with linear probing and backward-shift deletion, hashed by one multiply. Swift's
/// Dictionary hashes with seeded SipHash, ~450 instructions a lookup in decode_evaluate, where
/// every window rule's evaluation asks for its deadline.
///
/// `Int64.min` marks an empty slot, so it is the one key this map cannot hold.
struct Int64Map {
    private var keys: [Int64]
    private var values: [Int64]
    private(set) var count = 0

    init() {
        keys = Array(repeating: .min, count: 16)
        values = Array(repeating: 0, count: 16)
    }

    private var mask: Int { keys.count - 1 }

    /// The top log2(slots) bits of the key times 2^64/φ (the table's size is a power of two).
    @inline(__always) private func home(_ key: Int64) -> Int {
        Int(truncatingIfNeeded: (UInt64(bitPattern: key) &* 0x9E37_79B9_7F4A_7C15) >> UInt64(64 - keys.count.trailingZeroBitCount))
    }

    /// The slot holding `key`, or the empty slot where it would go.
    @inline(__always) private func slot(_ key: Int64) -> Int {
        var i = home(key)
        while keys[i] != key, keys[i] != .min { i = (i + 1) & mask }
        return i
    }

    subscript(key: Int64) -> Int64? {
        get {
            precondition(key != .min, "Int64Map cannot hold Int64.min")
            let i = slot(key)
            return keys[i] == key ? values[i] : nil
        }
        set {
            precondition(key != .min, "Int64Map cannot hold Int64.min")
            let i = slot(key)
            if let newValue {
                if keys[i] == key { values[i] = newValue; return }
                keys[i] = key
                values[i] = newValue
                count += 1
                if count * 2 > keys.count { grow() }
            } else if keys[i] == key {
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
            if keys[j] == .min { break }
            let h = home(keys[j])
            // Entry j stays unless its home lies cyclically outside (i, j].
            let stays = i <= j ? (i < h && h <= j) : (i < h || h <= j)
            if !stays {
                keys[i] = keys[j]
                values[i] = values[j]
                i = j
            }
        }
        keys[i] = .min
        count -= 1
    }

    private mutating func grow() {
        let oldKeys = keys, oldValues = values
        keys = Array(repeating: .min, count: oldKeys.count * 2)
        values = Array(repeating: 0, count: oldKeys.count * 2)
        for k in oldKeys.indices where oldKeys[k] != .min {
            let i = slot(oldKeys[k])
            keys[i] = oldKeys[k]
            values[i] = oldValues[k]
        }
    }

    /// Bytes held, for the memory report.
    var memoryBytes: Int { (keys.capacity + values.capacity) * 8 }
}

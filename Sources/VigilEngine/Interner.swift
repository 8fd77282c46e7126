import Foundation

/// Interns byte strings to dense `Int32` ids with an open-addressing table over one byte arena,
/// so looking up a name the engine has seen before allocates nothing.
struct ByteInterner {
    private var arena: [UInt8] = []
    private var starts: [Int32] = [0]
    private var slots: [Int32]          // entry index + 1; 0 is empty
    private var hashes: [UInt32] = []
    private var mask: Int

    init(capacity: Int = 64) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: 0, count: size)
        mask = size - 1
    }

    var count: Int { hashes.count }

    static func hash(_ p: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for b in p { h = (h ^ UInt32(b)) &* 16_777_619 }
        return h
    }

    /// The id of these bytes, if interned.
    func lookup(_ p: UnsafeRawBufferPointer) -> Int32? {
        lookup(p, hash: ByteInterner.hash(p))
    }

    private func lookup(_ p: UnsafeRawBufferPointer, hash: UInt32) -> Int32? {
        var i = Int(hash) & mask
        while true {
            let slot = slots[i]
            if slot == 0 { return nil }
            let id = Int(slot - 1)
            if hashes[id] == hash, equals(id, p) { return Int32(id) }
            i = (i + 1) & mask
        }
    }

    private func equals(_ id: Int, _ p: UnsafeRawBufferPointer) -> Bool {
        let s = Int(starts[id]), e = Int(starts[id + 1])
        guard e - s == p.count else { return false }
        return arena.withUnsafeBytes { a in
            p.count == 0 || memcmp(a.baseAddress! + s, p.baseAddress!, p.count) == 0
        }
    }

    /// The id of these bytes, interning them if new.
    mutating func intern(_ p: UnsafeRawBufferPointer) -> Int32 {
        let h = ByteInterner.hash(p)
        if let id = lookup(p, hash: h) { return id }
        let id = hashes.count
        arena.append(contentsOf: p)
        starts.append(Int32(arena.count))
        hashes.append(h)
        if hashes.count * 2 > slots.count { grow() } else { insert(id, hash: h) }
        return Int32(id)
    }

    mutating func intern(_ s: String) -> Int32 {
        var s = s
        return s.withUTF8 { intern(UnsafeRawBufferPointer($0)) }
    }

    func lookup(_ s: String) -> Int32? {
        var s = s
        return s.withUTF8 { lookup(UnsafeRawBufferPointer($0)) }
    }

    private mutating func insert(_ id: Int, hash: UInt32) {
        var i = Int(hash) & mask
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = Int32(id + 1)
    }

    private mutating func grow() {
        slots = Array(repeating: 0, count: slots.count * 2)
        mask = slots.count - 1
        for id in 0..<hashes.count { insert(id, hash: hashes[id]) }
    }

    /// The bytes of an id, as a String.
    func string(_ id: Int32) -> String {
        let s = Int(starts[Int(id)]), e = Int(starts[Int(id) + 1])
        return String(decoding: arena[s..<e], as: UTF8.self)
    }

    /// The bytes of an id.
    func withBytes<R>(_ id: Int32, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let s = Int(starts[Int(id)]), e = Int(starts[Int(id) + 1])
        return arena.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[s..<e])) }
    }

    /// Approximate bytes held, for the memory report.
    var memoryBytes: Int { arena.capacity + starts.capacity * 4 + slots.capacity * 4 + hashes.capacity * 4 }
}

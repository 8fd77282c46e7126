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

    /// A fast non-cryptographic hash, eight bytes at a time (names are short; this is the hot
    /// path). Each full word is mixed in order, then the last partial word (its bytes little
    /// endian, zero above: what one load of the whole word, masked, gives) and the length. A
    /// scanner that already loads a string's words can so hash it as it goes (`mixWord`,
    /// `finish`) and get what `ByteInterner.hash` gives for the same bytes.
    struct Mixer {
        private var h: UInt64 = 0x9E37_79B9_7F4A_7C15

        init() {}

        @inline(__always) mutating func mixWord(_ w: UInt64) {
            h = (h ^ w) &* 0xBF58_476D_1CE4_E5B9
            h ^= h >> 31
        }

        /// The last `tail` (the bytes after the last full word, zero above them) of `count` bytes.
        @inline(__always) func finish(tail: UInt64, count: Int) -> UInt64 {
            var h = (self.h ^ tail) &* 0x94D0_49BB_1331_11EB
            h ^= h >> 29
            return (h ^ UInt64(truncatingIfNeeded: count)) &* 0xBF58_476D_1CE4_E5B9
        }

        /// The whole hash of `p`.
        static func hash(_ p: UnsafeRawBufferPointer) -> UInt64 { hash(p, 0..<p.count) }

        /// The hash of `p[r]`. Its last partial word is one load of the eight bytes ending at
        /// `r`'s end, shifted, when `p` holds them (a metric name inside a line), else byte by byte.
        static func hash(_ p: UnsafeRawBufferPointer, _ r: Range<Int>) -> UInt64 {
            var m = Mixer()
            var i = r.lowerBound
            while i + 8 <= r.upperBound {
                m.mixWord(UInt64(littleEndian: p.loadUnaligned(fromByteOffset: i, as: UInt64.self)))
                i += 8
            }
            let rest = r.upperBound - i
            var tail: UInt64 = 0
            if rest > 0, r.upperBound >= 8 {
                tail = UInt64(littleEndian: p.loadUnaligned(fromByteOffset: r.upperBound - 8, as: UInt64.self)) >> UInt64(64 - 8 * rest)
            } else {
                var shift: UInt64 = 0
                while i < r.upperBound {
                    tail |= UInt64(p[i]) << shift
                    shift += 8
                    i += 1
                }
            }
            return m.finish(tail: tail, count: r.count)
        }
    }

    static func fold(_ h: UInt64) -> UInt32 { UInt32(truncatingIfNeeded: h ^ (h >> 32)) }

    static func hash(_ p: UnsafeRawBufferPointer) -> UInt32 { fold(Mixer.hash(p)) }

    /// Walks the probe sequence of `hash` to the entry `matches` accepts.
    private func probe(_ hash: UInt32, _ matches: (Int) -> Bool) -> Int32? {
        var i = Int(hash) & mask
        while true {
            let slot = slots[i]
            if slot == 0 { return nil }
            let id = Int(slot - 1)
            if hashes[id] == hash, matches(id) { return Int32(id) }
            i = (i + 1) & mask
        }
    }

    /// The id of these bytes, if interned.
    func lookup(_ p: UnsafeRawBufferPointer) -> Int32? {
        probe(ByteInterner.hash(p)) { equals($0, p) }
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
        if let id = probe(h, { equals($0, p) }) { return id }
        return add(hash: h) { $0.append(contentsOf: p) }
    }

    /// Appends a new entry whose bytes `write` puts in the arena.
    private mutating func add(hash: UInt32, _ write: (inout [UInt8]) -> Void) -> Int32 {
        let id = hashes.count
        write(&arena)
        starts.append(Int32(arena.count))
        hashes.append(hash)
        if hashes.count * 2 > slots.count { grow() } else { insert(id, hash: hash) }
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

    /// Forgets every entry from id `count` on (the latest ones), so a rejected line leaves no
    /// trace. Safe with linear probing without re-seating anything: an entry's probe run crosses
    /// only slots that older entries filled (inserts, and re-inserts on growth, go in id order),
    /// and every entry newer than `count` goes.
    mutating func truncate(to count: Int) {
        guard count < hashes.count else { return }
        for id in count..<hashes.count {
            var i = Int(hashes[id]) & mask
            while slots[i] != Int32(id + 1) { i = (i + 1) & mask }
            slots[i] = 0
        }
        hashes.removeSubrange(count...)
        starts.removeSubrange((count + 1)...)
        arena.removeSubrange(Int(starts[count])...)
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

import Foundation

/// How lines spell their series → the series: the bytes of a metric line's name and of its
/// labels object exactly as they stand in the line, so that a series decoded once decodes again
/// with one hash and one compare, nothing parsed and nothing interned.
///
/// Open addressing (linear probing) over one byte arena. Each slot holds all a hit reads (the
/// hash, where the spelling lies in the arena, the series), so a lookup touches the slot's cache
/// line and the spelling's, where an interner plus an id → series array took five dependent loads
/// (slot, hash, start, bytes, series) that at 10,000 series each miss the first-level cache.
struct SeriesCache {
    /// `count == 0` is empty (a spelling holds at least its separator).
    private struct Slot {
        var hash: UInt32 = 0
        var start: Int32 = 0
        var count: Int32 = 0
        var series: SeriesID = 0
    }

    /// Every spelling, as metric bytes, a 0, labels bytes (neither part holds a 0: a name is
    /// printable and raw JSON has no control bytes, so the 0 says where the metric ends).
    private var arena: [UInt8] = []
    private var slots: [Slot]
    private var mask: Int
    private(set) var count = 0

    init(capacity: Int = 1024) {
        var size = 16
        while size * 3 < capacity * 4 { size <<= 1 }
        slots = Array(repeating: Slot(), count: size)
        mask = size - 1
    }

    /// The hash of the spelling whose metric and labels bytes have these `ByteInterner.Mixer`
    /// hashes (so either may be computed first, or while scanning the line).
    @inline(__always)
    static func hash(metric a: UInt64, labels b: UInt64) -> UInt32 {
        var h = (a &* 0xD6E8_FEB8_6659_FD93) ^ b
        h ^= h >> 32
        return UInt32(truncatingIfNeeded: (h &* 0x9E37_79B9_7F4A_7C15) >> 32) // the product's high half: every bit of h in it
    }

    static func hash(metric: UnsafeRawBufferPointer, labels: UnsafeRawBufferPointer) -> UInt32 {
        hash(metric: ByteInterner.Mixer.hash(metric), labels: ByteInterner.Mixer.hash(labels))
    }

    /// The series this spelling was cached for; `hash` is `SeriesCache.hash` of the two.
    @inline(__always)
    func lookup(metric: UnsafeRawBufferPointer, labels: UnsafeRawBufferPointer, hash: UInt32) -> SeriesID? {
        let total = metric.count + 1 + labels.count
        return slots.withUnsafeBufferPointer { slots in
            arena.withUnsafeBytes { arena in
                var i = Int(hash) & mask
                while true {
                    let slot = slots[i]
                    if slot.count == 0 { return nil }
                    if slot.hash == hash, Int(slot.count) == total {
                        let s = Int(slot.start)
                        if arena[s + metric.count] == 0, SeriesCache.equal(arena.baseAddress! + s, metric),
                           SeriesCache.equal(arena.baseAddress! + s + metric.count + 1, labels) {
                            return slot.series
                        }
                    }
                    i = (i + 1) & mask
                }
            }
        }
    }

    func lookup(metric: UnsafeRawBufferPointer, labels: UnsafeRawBufferPointer) -> SeriesID? {
        lookup(metric: metric, labels: labels, hash: SeriesCache.hash(metric: metric, labels: labels))
    }

    /// Caches a spelling of `series` (a spelling already cached keeps its series). Refused, and
    /// false, when the arena would pass what an `Int32` offset reaches.
    @discardableResult
    mutating func insert(metric: UnsafeRawBufferPointer, labels: UnsafeRawBufferPointer, series: SeriesID) -> Bool {
        let hash = SeriesCache.hash(metric: metric, labels: labels)
        if lookup(metric: metric, labels: labels, hash: hash) != nil { return true }
        let total = metric.count + 1 + labels.count
        guard arena.count + total <= Int(Int32.max) else { return false }
        let start = Int32(arena.count)
        arena.append(contentsOf: metric)
        arena.append(0)
        arena.append(contentsOf: labels)
        count += 1
        if count * 4 > slots.count * 3 { grow() }
        place(Slot(hash: hash, start: start, count: Int32(total), series: series))
        return true
    }

    private mutating func place(_ slot: Slot) {
        var i = Int(slot.hash) & mask
        while slots[i].count != 0 { i = (i + 1) & mask }
        slots[i] = slot
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(), count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot.count != 0 { place(slot) }
    }

    /// Whether the `bytes.count` bytes at `p` are `bytes`: eight at a time, the last word
    /// loaded overlapping the one before it (no byte past either end is read).
    @inline(__always)
    private static func equal(_ p: UnsafeRawPointer, _ bytes: UnsafeRawBufferPointer) -> Bool {
        let n = bytes.count
        guard n >= 8 else {
            var k = 0
            while k < n {
                if p.load(fromByteOffset: k, as: UInt8.self) != bytes[k] { return false }
                k += 1
            }
            return true
        }
        let q = bytes.baseAddress!
        var k = 0
        while k + 8 < n {
            if p.loadUnaligned(fromByteOffset: k, as: UInt64.self) != q.loadUnaligned(fromByteOffset: k, as: UInt64.self) { return false }
            k += 8
        }
        return p.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self) == q.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
    }
}

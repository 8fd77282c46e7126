import Foundation

/// How lines spell their series → the series: the bytes of a metric line's name and of its
/// labels object exactly as they stand in the line, so that a series decoded once decodes again
/// with one hash and one compare, nothing parsed and nothing interned.
///
/// Each spelling is a record in one arena, in the order spellings were first seen: a header
/// (its hash, its length, its series, the record looked up after it last time) and its bytes.
/// A producer writes its series in one order, tick after tick, so a lookup first tries the
/// record that followed the last one found: then a decode reads the arena forward, where the
/// hardware prefetches it, instead of landing on a random slot of a table larger than a core's
/// second-level cache. At 10,000 series that random miss was a sixth of a decode's time on a
/// busy host (vigil-bench decode, median of 10 runs: 177 → 149 ns a line). A wrong guess costs
/// one compare of hashes, then the table (open addressing, linear probing, each slot the
/// hash and the record) finds the record and becomes the next guess.
struct SeriesCache {
    /// `record < 0` is empty.
    private struct Slot {
        var hash: UInt32 = 0
        var record: Int32 = -1
    }

    /// A record's header, before its bytes: the hash, the bytes' count, the series, and the
    /// offset of the record looked up after this one the last time (-1: none yet).
    private static let header = 16

    /// The records: each header, then metric bytes, a 0, labels bytes (neither part holds a 0:
    /// a name is printable and raw JSON has no control bytes, so the 0 says where the metric ends).
    private var arena: [UInt8] = []
    /// The offset of the record the last lookup found (or the last insert made), or -1.
    private var last: Int32 = -1
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
    mutating func lookup(metric: UnsafeRawBufferPointer, labels: UnsafeRawBufferPointer, hash: UInt32) -> SeriesID? {
        let total = metric.count + 1 + labels.count
        let last = self.last
        let (record, series, guessed): (Int32, SeriesID, Bool) = arena.withUnsafeBytes { arena in
            guard let base = arena.baseAddress else { return (-1, 0, false) }
            func series(_ r: Int32) -> SeriesID { (base + Int(r)).loadUnaligned(fromByteOffset: 8, as: SeriesID.self) }
            func matches(_ r: Int32) -> Bool {
                let at = base + Int(r)
                return at.loadUnaligned(as: UInt32.self) == hash && Int(at.loadUnaligned(fromByteOffset: 4, as: Int32.self)) == total
                    && SeriesCache.equal(at + SeriesCache.header, metric, then: labels)
            }
            if last >= 0, case let guess = (base + Int(last)).loadUnaligned(fromByteOffset: 12, as: Int32.self), guess >= 0, matches(guess) {
                return (guess, series(guess), true)
            }
            return slots.withUnsafeBufferPointer { slots in
                var i = Int(hash) & mask
                while true {
                    let slot = slots[i]
                    if slot.record < 0 { return (-1, 0, false) }
                    if slot.hash == hash, matches(slot.record) { return (slot.record, series(slot.record), false) }
                    i = (i + 1) & mask
                }
            }
        }
        guard record >= 0 else { return nil }
        if !guessed { follow(record) }
        self.last = record
        return series
    }

    mutating func lookup(metric: UnsafeRawBufferPointer, labels: UnsafeRawBufferPointer) -> SeriesID? {
        lookup(metric: metric, labels: labels, hash: SeriesCache.hash(metric: metric, labels: labels))
    }

    /// Records that `record` came after the last one found, as the guess for next time (out of
    /// line: a wrong guess is the rare case, and inlined its copy-on-write check kept `lookup`
    /// itself from being inlined).
    @inline(never)
    private mutating func follow(_ record: Int32) {
        guard last >= 0, last != record else { return }
        arena.withUnsafeMutableBytes { $0.storeBytes(of: record, toByteOffset: Int(last) + 12, as: Int32.self) }
    }

    /// Caches a spelling of `series` (a spelling already cached keeps its series). Refused, and
    /// false, when the arena would pass what an `Int32` offset reaches.
    @discardableResult
    mutating func insert(metric: UnsafeRawBufferPointer, labels: UnsafeRawBufferPointer, series: SeriesID) -> Bool {
        let hash = SeriesCache.hash(metric: metric, labels: labels)
        if lookup(metric: metric, labels: labels, hash: hash) != nil { return true }
        let total = metric.count + 1 + labels.count
        guard arena.count + SeriesCache.header + total <= Int(Int32.max) else { return false }
        let record = Int32(arena.count)
        withUnsafeBytes(of: (hash, Int32(total), series, Int32(-1))) { arena.append(contentsOf: $0) }
        arena.append(contentsOf: metric)
        arena.append(0)
        arena.append(contentsOf: labels)
        count += 1
        if count * 4 > slots.count * 3 { grow() }
        place(Slot(hash: hash, record: record))
        follow(record)
        last = record
        return true
    }

    private mutating func place(_ slot: Slot) {
        var i = Int(slot.hash) & mask
        while slots[i].record >= 0 { i = (i + 1) & mask }
        slots[i] = slot
    }

    private mutating func grow() {
        let old = slots
        slots = Array(repeating: Slot(), count: old.count * 2)
        mask = slots.count - 1
        for slot in old where slot.record >= 0 { place(slot) }
    }

    /// Whether the bytes at `p` are `metric`, a 0, then `labels` (their count already compared).
    @inline(__always)
    private static func equal(_ p: UnsafeRawPointer, _ metric: UnsafeRawBufferPointer, then labels: UnsafeRawBufferPointer) -> Bool {
        p.load(fromByteOffset: metric.count, as: UInt8.self) == 0 && equal(p, metric) && equal(p + metric.count + 1, labels)
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

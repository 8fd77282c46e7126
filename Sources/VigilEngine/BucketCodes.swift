/// A bucketed window's values for quantiles: per time bucket, the `LogCode`s of its samples with
/// their counts. The newest bucket (the one samples go to) is open: sorted `code << 17 | count`
/// words, found by binary search. When the ring moves on, it closes into `bytes`, after the
/// closed buckets before it (oldest first from `head`), as runs of LEB128 varints per distinct
/// code, ascending: `(code − previous code) << 1 | (count > 1)`, then `count − 1` when more than
/// one. Random values over three decades take about one byte a sample (2 when open).
struct BucketCodes {
    private var bytes: [UInt8] = []
    private var head = 0
    /// Bytes of each slot's closed bucket (0 for the open one and empty ones).
    private var lengths: [Int32] = []
    private var open: [UInt32] = []
    private static let countBits: UInt32 = 17
    private static let countMask: UInt32 = (1 << countBits) - 1

    init(slots: Int) { lengths = Array(repeating: 0, count: slots) }

    mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        head = 0
        for s in lengths.indices { lengths[s] = 0 }
        open.removeAll(keepingCapacity: true)
    }

    /// Adds one sample's code to the open bucket.
    mutating func addOpen(_ code: UInt16) {
        let key = UInt32(code) << BucketCodes.countBits
        var lo = 0, hi = open.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if open[mid] < key { lo = mid + 1 } else { hi = mid }
        }
        // Equal codes may repeat (a count past 17 bits starts a new word); add to the last.
        var k = lo
        while k + 1 < open.count, open[k + 1] >> BucketCodes.countBits == UInt32(code) { k += 1 }
        if k < open.count, open[k] >> BucketCodes.countBits == UInt32(code), open[k] & BucketCodes.countMask < BucketCodes.countMask {
            open[k] += 1
        } else {
            open.insert(key | 1, at: k < open.count && open[k] >> BucketCodes.countBits == UInt32(code) ? k + 1 : lo)
        }
    }

    /// Closes the open bucket into `slot`'s bytes, at the end (it is the newest).
    mutating func close(into slot: Int) {
        guard !open.isEmpty else { return }
        let run = BucketCodes.encode(open.lazy.map { ($0 >> BucketCodes.countBits, $0 & BucketCodes.countMask) })
        open.removeAll(keepingCapacity: true)
        room(for: run.count)
        bytes.append(contentsOf: run)
        lengths[slot] = Int32(run.count)
    }

    /// Drops `slot`'s closed bucket, the oldest (at the front).
    mutating func drop(_ slot: Int) {
        head += Int(lengths[slot])
        lengths[slot] = 0
        if head > 0, head * 8 >= bytes.count { room(for: 0) }
    }

    /// Adds a late sample's code to the closed bucket in `slot`, whose bytes start at `start`.
    mutating func addClosed(_ code: UInt16, slot: Int, start: Int) {
        var pairs: [(code: UInt32, count: UInt32)] = []
        decode(start..<(start + Int(lengths[slot]))) { pairs.append(($0, $1)) }
        if let k = pairs.firstIndex(where: { $0.code == UInt32(code) }) { pairs[k].count = pairs[k].count.addingReportingOverflow(1).overflow ? .max : pairs[k].count + 1 } else {
            pairs.insert((UInt32(code), 1), at: pairs.firstIndex { $0.code > UInt32(code) } ?? pairs.count)
        }
        let run = BucketCodes.encode(pairs)
        bytes.replaceSubrange(start..<(start + Int(lengths[slot])), with: run)
        lengths[slot] = Int32(run.count)
    }

    /// Where `slot`'s closed bucket starts, given the slots of the buckets before it, oldest first.
    func start(after earlier: some Sequence<Int>) -> Int { earlier.reduce(head) { $0 + Int(lengths[$1]) } }

    func length(_ slot: Int) -> Int { Int(lengths[slot]) }

    /// Calls `body(code, count)` for every code of the open bucket.
    func forEachOpen(_ body: (UInt32, UInt32) -> Void) {
        for w in open { body(w >> BucketCodes.countBits, w & BucketCodes.countMask) }
    }

    /// Calls `body(code, count)` for every code in `range` of the closed bytes (one bucket).
    func decode(_ range: Range<Int>, _ body: (UInt32, UInt32) -> Void) {
        bytes.withUnsafeBufferPointer { b in
            var k = range.lowerBound
            var code: UInt32 = 0
            func varint() -> UInt32 {
                var v: UInt32 = 0, shift: UInt32 = 0
                while k < range.upperBound {
                    let byte = b[k]
                    k += 1
                    v |= UInt32(byte & 0x7F) << shift
                    if byte < 0x80 { break }
                    shift += 7
                }
                return v
            }
            while k < range.upperBound {
                let v = varint()
                code &+= v >> 1
                body(code, v & 1 == 1 ? varint() &+ 1 : 1)
            }
        }
    }

    /// Keeps room for `more` bytes with at most an eighth spare: a long window's codes are most
    /// of its memory, so they grow (and drop their consumed front) by exact copies, not doubling.
    private mutating func room(for more: Int) {
        let live = bytes.count - head
        guard head * 8 >= bytes.count || bytes.count + more > bytes.capacity else { return }
        var fresh: [UInt8] = []
        fresh.reserveCapacity(live + more + (live + more) / 8 + 16)
        fresh.append(contentsOf: bytes[head...])
        bytes = fresh
        head = 0
    }

    /// One bucket's bytes for its (code, count) pairs, ascending by code.
    private static func encode(_ pairs: some Sequence<(code: UInt32, count: UInt32)>) -> [UInt8] {
        var run: [UInt8] = []
        run.reserveCapacity(pairs.underestimatedCount + 8)
        var previous: UInt32 = 0
        for (code, count) in pairs {
            put((code - previous) << 1 | (count > 1 ? 1 : 0), into: &run)
            if count > 1 { put(count - 1, into: &run) }
            previous = code
        }
        return run
    }

    private static func put(_ value: UInt32, into out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }

    var memoryBytes: Int { bytes.capacity + lengths.capacity * 4 + open.capacity * 4 }
}

/// Stream lines of one source, back to back in one buffer (one allocation per read, not per
/// line): each with its byte offset in the source, and the offsets of lines dropped as longer
/// than `max_line`. What the core takes as one input.
public struct LineBatch: Sendable {
    public var source = ""
    public private(set) var bytes: [UInt8] = []
    /// Where each line ends in `bytes` (it starts where the previous one ends).
    private var ends: [Int] = []
    public private(set) var offsets: [Int64] = []
    public var tooLong: [Int64] = []

    public init(source: String = "", capacity: Int = 0) {
        self.source = source
        bytes.reserveCapacity(capacity)
    }

    /// Lines from text, each at the offset it would have in a stream of them joined by newlines.
    public init(_ lines: [String], source: String = "") {
        self.init(source: source)
        var offset: Int64 = 0
        for var line in lines {
            line.withUTF8 { append(UnsafeRawBufferPointer($0), offset: offset) }
            offset += Int64(line.utf8.count + 1)
        }
    }

    public var count: Int { ends.count }
    public var isEmpty: Bool { ends.isEmpty && tooLong.isEmpty }

    /// Line `k`'s bytes.
    public func withLine<R>(_ k: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let range = (k == 0 ? 0 : ends[k - 1])..<ends[k]
        return bytes.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }

    /// Every line's bytes, in order, from one borrow of the buffer: how a batch is decoded,
    /// without `withLine`'s closure and borrow for each line.
    public func forEachLine(_ body: (Int, UnsafeRawBufferPointer) -> Void) {
        bytes.withUnsafeBytes { all in
            ends.withUnsafeBufferPointer { ends in
                var start = 0
                for k in ends.indices {
                    body(k, UnsafeRawBufferPointer(rebasing: all[start..<ends[k]]))
                    start = ends[k]
                }
            }
        }
    }

    /// Every line, copied (for tests).
    public var lines: [[UInt8]] { (0..<count).map { k in withLine(k) { Array($0) } } }

    /// Appends one line made of `head` then `tail` (a line split across two reads).
    public mutating func append(_ head: [UInt8], _ tail: UnsafeRawBufferPointer, offset: Int64) {
        bytes.append(contentsOf: head)
        bytes.append(contentsOf: tail)
        ends.append(bytes.count)
        offsets.append(offset)
    }

    /// Appends every line of `other` (and its too-long offsets).
    public mutating func append(contentsOf other: LineBatch) {
        let base = bytes.count
        bytes.append(contentsOf: other.bytes)
        ends.append(contentsOf: other.ends.map { $0 + base })
        offsets.append(contentsOf: other.offsets)
        tooLong.append(contentsOf: other.tooLong)
    }

    /// Appends one line.
    public mutating func append(_ line: UnsafeRawBufferPointer, offset: Int64) {
        bytes.append(contentsOf: line)
        ends.append(bytes.count)
        offsets.append(offset)
    }
}

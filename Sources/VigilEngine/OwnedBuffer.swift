/// A growable array that one owner keeps and never shares: the engine's per-series records,
/// windows, and the batch line each decoded sample came from. An `Array` checks, on every
/// write through its subscript, that its storage is not shared (a call into the runtime), and
/// a sample writes several: its series' record, each window it adds to, each window a rule
/// evaluates in place. Here an element is written in place through the buffer's address, with
/// its index checked against the count and nothing else.
///
/// It is a value holding a pointer: copies alias one storage. So it is only ever a stored
/// property of its owner, which frees it (`free`) when it goes; no copy of it is kept.
struct OwnedBuffer<Element> {
    private var base: UnsafeMutablePointer<Element>?
    private(set) var count = 0
    private(set) var capacity = 0

    init() {}

    var indices: Range<Int> { 0..<count }
    var isEmpty: Bool { count == 0 }

    subscript(i: Int) -> Element {
        unsafeAddress {
            precondition(i >= 0 && i < count, "OwnedBuffer index out of range")
            return UnsafePointer(base.unsafelyUnwrapped + i)
        }
        nonmutating unsafeMutableAddress {
            precondition(i >= 0 && i < count, "OwnedBuffer index out of range")
            return base.unsafelyUnwrapped + i
        }
    }

    /// The address of element `i`: a record read and written more than once, in place.
    @inline(__always) func pointer(_ i: Int) -> UnsafeMutablePointer<Element> {
        precondition(i >= 0 && i < count, "OwnedBuffer index out of range")
        return base.unsafelyUnwrapped + i
    }

    /// The first element's address (nil while nothing was ever stored).
    var baseAddress: UnsafeMutablePointer<Element>? { base }

    mutating func append(_ element: Element) {
        if count == capacity { grow(to: Swift.max(16, capacity * 2)) }
        (base.unsafelyUnwrapped + count).initialize(to: element)
        count += 1
    }

    mutating func append<C: Collection>(contentsOf elements: C) where C.Element == Element {
        if count + elements.count > capacity { grow(to: Swift.max(count + elements.count, capacity * 2)) }
        for e in elements {
            (base.unsafelyUnwrapped + count).initialize(to: e)
            count += 1
        }
    }

    /// Removes every element and keeps the storage.
    mutating func removeAll() {
        base?.deinitialize(count: count)
        count = 0
    }

    /// Replaces every element with `elements`, keeping the storage where it is large enough.
    mutating func replaceAll<C: Collection>(with elements: C) where C.Element == Element {
        removeAll()
        append(contentsOf: elements)
    }

    /// Deinitializes the elements and frees the storage; the buffer is empty after.
    mutating func free() {
        base?.deinitialize(count: count)
        base?.deallocate()
        base = nil
        count = 0
        capacity = 0
    }

    private mutating func grow(to newCapacity: Int) {
        let new = UnsafeMutablePointer<Element>.allocate(capacity: newCapacity)
        if let base {
            new.moveInitialize(from: base, count: count)
            base.deallocate()
        }
        base = new
        capacity = newCapacity
    }
}

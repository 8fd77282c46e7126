import Foundation

/// A compact binary form of any Codable value, for the journal: JSON's data model (null, bools,
/// integers, doubles, strings, arrays, keyed objects) with lengths instead of punctuation, so a
/// reader skips what it does not know and a record of 10,000 alerts decodes in a fraction of
/// JSONDecoder's time (start-up restores the journal before anything else can happen).
///
/// Values are tagged bytes: `0` null, `1` false, `2` true, `3` a signed integer (zigzag
/// varint), `4` an unsigned one (varint), `5` a double (8 bytes, little-endian), `6` a string
/// (varint length, UTF-8), `7` an array and `8` an object (each a u32 count and a u32 byte
/// length, then the elements; an object's are key strings, without tag, each with its value).
/// Objects are keyed, as in JSON, so a field added later reads as absent from older records
/// and one removed is skipped. Errors carry the path of the outermost container only (building
/// each value's path cost a third of the time); the journal reports the record, not the field.
enum BinaryCoder {
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let writer = Writer()
        try writer.encodeValue(value, into: BinaryEncoder(writer: writer, codingPath: []))
        guard writer.open.isEmpty else { throw EncodingError.invalidValue(value, .init(codingPath: [], debugDescription: "a container left open")) }
        return writer.bytes
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        let reader = Reader(bytes)
        let end = try reader.skip(at: 0)
        guard end == bytes.count else { throw Reader.corrupt([], "bytes after the value") }
        return try T(from: BinaryDecoder(reader: reader, offset: 0, codingPath: []))
    }

    enum Tag: UInt8 { case null, `false`, `true`, int, uint, double, string, array, object }
}

// MARK: - Writing

/// The output and the containers still open on it, innermost last: the synthesized `encode(to:)`
/// nests containers strictly, and a write to any but the innermost is refused (it would land
/// inside another's bytes).
private final class Writer {
    var bytes: [UInt8] = []
    /// Each open array or object: where its header is and how many elements it has.
    var open: [(header: Int, count: UInt32)] = []

    init() { bytes.reserveCapacity(1 << 16) }

    func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    func string(_ s: String) {
        var s = s
        s.withUTF8 { u in
            varint(UInt64(u.count))
            bytes.append(contentsOf: u)
        }
    }

    func u32(_ v: UInt32, at i: Int) {
        withUnsafeBytes(of: v.littleEndian) { b in for k in 0..<4 { bytes[i + k] = b[k] } }
    }

    /// An open container: its index in `open`, and its header's offset, which no other
    /// container shares (a sibling opened at the same depth after it was closed has another).
    struct Slot {
        let depth: Int
        let header: Int
    }

    /// Opens an array or object.
    func openContainer(_ tag: BinaryCoder.Tag) -> Slot {
        bytes.append(tag.rawValue)
        open.append((bytes.count, 0))
        bytes.append(contentsOf: repeatElement(0, count: 8))
        return Slot(depth: open.count - 1, header: open[open.count - 1].header)
    }

    /// Closes every container from `depth` on, writing their counts and lengths.
    func close(from depth: Int) {
        while open.count > depth {
            let c = open.removeLast()
            u32(c.count, at: c.header)
            u32(UInt32(bytes.count - c.header - 8), at: c.header + 4)
        }
    }

    /// Before an element of the container `slot`: it must be open, and becomes the innermost.
    func element(of slot: Slot, _ path: [CodingKey]) throws {
        guard slot.depth < open.count, open[slot.depth].header == slot.header else {
            throw EncodingError.invalidValue((), .init(codingPath: path, debugDescription: "a write to a container already closed"))
        }
        // Containers opened after this one (a nested value's) are done once their parent writes again.
        close(from: slot.depth + 1)
        open[slot.depth].count += 1
    }

    /// Encodes a value in place of one element (or the whole output): a scalar, or whatever
    /// containers its `encode(to:)` opens.
    func encodeValue<T: Encodable>(_ value: T, into encoder: BinaryEncoder) throws {
        let mark = bytes.count, depth = open.count
        try value.encode(to: encoder)
        close(from: depth)
        if bytes.count == mark { bytes.append(BinaryCoder.Tag.null.rawValue) } // encoded nothing at all: a null stands in
    }
}

private struct BinaryEncoder: Encoder {
    let writer: Writer
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        KeyedEncodingContainer(KeyedWriter<Key>(writer: writer, slot: writer.openContainer(.object), codingPath: codingPath))
    }

    func unkeyedContainer() -> UnkeyedEncodingContainer {
        UnkeyedWriter(writer: writer, slot: writer.openContainer(.array), codingPath: codingPath)
    }

    func singleValueContainer() -> SingleValueEncodingContainer { SingleWriter(writer: writer, codingPath: codingPath) }
}

/// Scalars, shared by the three containers.
private extension Writer {
    func encodeNil() { bytes.append(BinaryCoder.Tag.null.rawValue) }
    func encode(_ v: Bool) { bytes.append(v ? BinaryCoder.Tag.true.rawValue : BinaryCoder.Tag.false.rawValue) }
    func encode(_ v: String) {
        bytes.append(BinaryCoder.Tag.string.rawValue)
        string(v)
    }
    func encode(_ v: Double) {
        bytes.append(BinaryCoder.Tag.double.rawValue)
        withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
    }
    func encodeSigned(_ v: Int64) {
        bytes.append(BinaryCoder.Tag.int.rawValue)
        varint(UInt64(bitPattern: (v << 1) ^ (v >> 63)))
    }
    func encodeUnsigned(_ v: UInt64) {
        bytes.append(BinaryCoder.Tag.uint.rawValue)
        varint(v)
    }

    /// Any value: the scalar types directly, the rest through their `encode(to:)`. Metatypes
    /// compared, not `as` casts: a dynamic cast per type tried per value was most of the time.
    func encodeAny<T: Encodable>(_ value: T, path: [CodingKey]) throws {
        let t = T.self
        if t == String.self { encode(value as! String) }
        else if t == Double.self { encode(value as! Double) }
        else if t == Int64.self { encodeSigned(value as! Int64) }
        else if t == Int.self { encodeSigned(Int64(value as! Int)) }
        else if t == Bool.self { encode(value as! Bool) }
        else if t == UInt64.self { encodeUnsigned(value as! UInt64) }
        else if t == Int32.self { encodeSigned(Int64(value as! Int32)) }
        else if t == UInt32.self { encodeUnsigned(UInt64(value as! UInt32)) }
        else if t == UInt8.self { encodeUnsigned(UInt64(value as! UInt8)) }
        else { try encodeValue(value, into: BinaryEncoder(writer: self, codingPath: path)) }
    }
}

private struct KeyedWriter<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let writer: Writer
    let slot: Writer.Slot
    let codingPath: [CodingKey]

    private func key(_ key: Key) throws {
        try writer.element(of: slot, codingPath)
        writer.string(key.stringValue)
    }

    mutating func encodeNil(forKey k: Key) throws { try key(k); writer.encodeNil() }
    mutating func encode(_ v: Bool, forKey k: Key) throws { try key(k); writer.encode(v) }
    mutating func encode(_ v: String, forKey k: Key) throws { try key(k); writer.encode(v) }
    mutating func encode(_ v: Double, forKey k: Key) throws { try key(k); writer.encode(v) }
    mutating func encode(_ v: Float, forKey k: Key) throws { try key(k); writer.encode(Double(v)) }
    mutating func encode(_ v: Int, forKey k: Key) throws { try key(k); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int8, forKey k: Key) throws { try key(k); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int16, forKey k: Key) throws { try key(k); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int32, forKey k: Key) throws { try key(k); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int64, forKey k: Key) throws { try key(k); writer.encodeSigned(v) }
    mutating func encode(_ v: UInt, forKey k: Key) throws { try key(k); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt8, forKey k: Key) throws { try key(k); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt16, forKey k: Key) throws { try key(k); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt32, forKey k: Key) throws { try key(k); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt64, forKey k: Key) throws { try key(k); writer.encodeUnsigned(v) }
    mutating func encode<T: Encodable>(_ v: T, forKey k: Key) throws {
        try key(k)
        try writer.encodeAny(v, path: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey k: Key) -> KeyedEncodingContainer<NestedKey> {
        try? key(k)
        return KeyedEncodingContainer(KeyedWriter<NestedKey>(writer: writer, slot: writer.openContainer(.object), codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer(forKey k: Key) -> UnkeyedEncodingContainer {
        try? key(k)
        return UnkeyedWriter(writer: writer, slot: writer.openContainer(.array), codingPath: codingPath)
    }

    mutating func superEncoder() -> Encoder { BinaryEncoder(writer: writer, codingPath: codingPath) }
    mutating func superEncoder(forKey key: Key) -> Encoder { BinaryEncoder(writer: writer, codingPath: codingPath) }
}

private struct UnkeyedWriter: UnkeyedEncodingContainer {
    let writer: Writer
    let slot: Writer.Slot
    let codingPath: [CodingKey]
    var count: Int {
        let open = writer.open
        return slot.depth < open.count && open[slot.depth].header == slot.header ? Int(open[slot.depth].count) : 0
    }

    private func next() throws { try writer.element(of: slot, codingPath) }

    mutating func encodeNil() throws { try next(); writer.encodeNil() }
    mutating func encode(_ v: Bool) throws { try next(); writer.encode(v) }
    mutating func encode(_ v: String) throws { try next(); writer.encode(v) }
    mutating func encode(_ v: Double) throws { try next(); writer.encode(v) }
    mutating func encode(_ v: Float) throws { try next(); writer.encode(Double(v)) }
    mutating func encode(_ v: Int) throws { try next(); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int8) throws { try next(); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int16) throws { try next(); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int32) throws { try next(); writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int64) throws { try next(); writer.encodeSigned(v) }
    mutating func encode(_ v: UInt) throws { try next(); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt8) throws { try next(); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt16) throws { try next(); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt32) throws { try next(); writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt64) throws { try next(); writer.encodeUnsigned(v) }
    mutating func encode<T: Encodable>(_ v: T) throws {
        try next()
        try writer.encodeAny(v, path: codingPath)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        try? next()
        return KeyedEncodingContainer(KeyedWriter<NestedKey>(writer: writer, slot: writer.openContainer(.object), codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() -> UnkeyedEncodingContainer {
        try? next()
        return UnkeyedWriter(writer: writer, slot: writer.openContainer(.array), codingPath: codingPath)
    }

    mutating func superEncoder() -> Encoder { BinaryEncoder(writer: writer, codingPath: codingPath) }
}

private struct SingleWriter: SingleValueEncodingContainer {
    let writer: Writer
    let codingPath: [CodingKey]

    mutating func encodeNil() throws { writer.encodeNil() }
    mutating func encode(_ v: Bool) throws { writer.encode(v) }
    mutating func encode(_ v: String) throws { writer.encode(v) }
    mutating func encode(_ v: Double) throws { writer.encode(v) }
    mutating func encode(_ v: Float) throws { writer.encode(Double(v)) }
    mutating func encode(_ v: Int) throws { writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int8) throws { writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int16) throws { writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int32) throws { writer.encodeSigned(Int64(v)) }
    mutating func encode(_ v: Int64) throws { writer.encodeSigned(v) }
    mutating func encode(_ v: UInt) throws { writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt8) throws { writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt16) throws { writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt32) throws { writer.encodeUnsigned(UInt64(v)) }
    mutating func encode(_ v: UInt64) throws { writer.encodeUnsigned(v) }
    mutating func encode<T: Encodable>(_ v: T) throws { try writer.encodeAny(v, path: codingPath) }
}

// MARK: - Reading

/// The input, read in place. Every offset and length is checked against it: a record that
/// passed its CRC can still be one a different build wrote, and a wrong one throws.
private final class Reader {
    let bytes: [UInt8]
    /// How many values are being decoded inside one another.
    var depth = 0
    static let maxDepth = 128

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    static func corrupt(_ path: [CodingKey], _ what: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: path, debugDescription: "binary record: \(what)"))
    }

    func tag(at i: Int) throws -> BinaryCoder.Tag {
        guard i < bytes.count, let t = BinaryCoder.Tag(rawValue: bytes[i]) else { throw Reader.corrupt([], "no value at \(i)") }
        return t
    }

    /// A varint at `i`: its value and the offset after it.
    func varint(at i: Int) throws -> (UInt64, Int) {
        var v: UInt64 = 0, shift: UInt64 = 0, k = i
        while true {
            guard k < bytes.count, shift < 64 else { throw Reader.corrupt([], "a varint runs off at \(i)") }
            let b = bytes[k]
            v |= UInt64(b & 0x7F) << shift
            k += 1
            if b < 0x80 { return (v, k) }
            shift += 7
        }
    }

    func u32(at i: Int) throws -> Int {
        guard i + 4 <= bytes.count else { throw Reader.corrupt([], "a header runs off at \(i)") }
        return Int(UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2]) << 16 | UInt32(bytes[i + 3]) << 24)
    }

    /// A string's bytes at `i` (its varint length first) and the offset after it.
    func stringRange(at i: Int) throws -> (Range<Int>, Int) {
        let (n, start) = try varint(at: i)
        guard n <= UInt64(bytes.count - start) else { throw Reader.corrupt([], "a string runs off at \(i)") }
        return (start..<(start + Int(n)), start + Int(n))
    }

    func string(at i: Int) throws -> (String, Int) {
        let (r, next) = try stringRange(at: i)
        guard let s = bytes.withUnsafeBufferPointer({ String(validating: UnsafeBufferPointer(rebasing: $0[r]), as: UTF8.self) }) else {
            throw Reader.corrupt([], "a string that is not UTF-8 at \(i)")
        }
        return (s, next)
    }

    /// An array's or object's count and the range of its elements, after the tag at `i`.
    func container(at i: Int) throws -> (count: Int, body: Range<Int>) {
        let count = try u32(at: i + 1), length = try u32(at: i + 5)
        let start = i + 9
        guard length <= bytes.count - start else { throw Reader.corrupt([], "a container runs off at \(i)") }
        return (count, start..<(start + length))
    }

    /// The offset after the value at `i`.
    func skip(at i: Int) throws -> Int {
        switch try tag(at: i) {
        case .null, .false, .true: return i + 1
        case .int, .uint: return try varint(at: i + 1).1
        case .double:
            guard i + 9 <= bytes.count else { throw Reader.corrupt([], "a double runs off at \(i)") }
            return i + 9
        case .string: return try stringRange(at: i + 1).1
        case .array, .object: return try container(at: i).body.upperBound
        }
    }

    func decodeBool(at i: Int, _ path: [CodingKey]) throws -> Bool {
        switch try tag(at: i) {
        case .true: return true
        case .false: return false
        default: throw DecodingError.typeMismatch(Bool.self, .init(codingPath: path, debugDescription: "not a bool"))
        }
    }

    func decodeString(at i: Int, _ path: [CodingKey]) throws -> String {
        guard try tag(at: i) == .string else { throw DecodingError.typeMismatch(String.self, .init(codingPath: path, debugDescription: "not a string")) }
        return try string(at: i + 1).0
    }

    func decodeDouble(at i: Int, _ path: [CodingKey]) throws -> Double {
        switch try tag(at: i) {
        case .double:
            guard i + 9 <= bytes.count else { throw Reader.corrupt(path, "a double runs off") }
            var bits: UInt64 = 0
            for k in 0..<8 { bits |= UInt64(bytes[i + 1 + k]) << (8 * UInt64(k)) }
            return Double(bitPattern: bits)
        case .int: return Double(try decodeInteger(Int64.self, at: i, path))
        case .uint: return Double(try decodeInteger(UInt64.self, at: i, path))
        default: throw DecodingError.typeMismatch(Double.self, .init(codingPath: path, debugDescription: "not a number"))
        }
    }

    func decodeInteger<T: FixedWidthInteger>(_ type: T.Type, at i: Int, _ path: [CodingKey]) throws -> T {
        let value: T?
        switch try tag(at: i) {
        case .int:
            let z = try varint(at: i + 1).0
            value = T(exactly: Int64(bitPattern: (z >> 1) ^ (0 &- (z & 1))))
        case .uint:
            value = T(exactly: try varint(at: i + 1).0)
        default:
            throw DecodingError.typeMismatch(T.self, .init(codingPath: path, debugDescription: "not an integer"))
        }
        guard let value else { throw DecodingError.typeMismatch(T.self, .init(codingPath: path, debugDescription: "out of range for \(T.self)")) }
        return value
    }

    /// Any value: the scalar types directly (by metatype, as in `Writer.encodeAny`), the rest
    /// through their `init(from:)`.
    func decodeAny<T: Decodable>(_ type: T.Type, at i: Int, _ path: [CodingKey]) throws -> T {
        if type == String.self { return try decodeString(at: i, path) as! T }
        if type == Double.self { return try decodeDouble(at: i, path) as! T }
        if type == Int64.self { return try decodeInteger(Int64.self, at: i, path) as! T }
        if type == Int.self { return try decodeInteger(Int.self, at: i, path) as! T }
        if type == Bool.self { return try decodeBool(at: i, path) as! T }
        if type == UInt64.self { return try decodeInteger(UInt64.self, at: i, path) as! T }
        if type == Int32.self { return try decodeInteger(Int32.self, at: i, path) as! T }
        if type == UInt32.self { return try decodeInteger(UInt32.self, at: i, path) as! T }
        if type == UInt8.self { return try decodeInteger(UInt8.self, at: i, path) as! T }
        // Types decode fixed shapes, but a recursive one (a JSON value) follows the data.
        depth += 1
        defer { depth -= 1 }
        guard depth <= Reader.maxDepth else { throw Reader.corrupt(path, "nested deeper than \(Reader.maxDepth)") }
        return try T(from: BinaryDecoder(reader: self, offset: i, codingPath: path))
    }
}

private struct BinaryDecoder: Decoder {
    let reader: Reader
    let offset: Int
    let codingPath: [CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        KeyedDecodingContainer(try KeyedReader<Key>(reader: reader, at: offset, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> UnkeyedDecodingContainer { try UnkeyedReader(reader: reader, at: offset, codingPath: codingPath) }

    func singleValueContainer() throws -> SingleValueDecodingContainer { SingleReader(reader: reader, offset: offset, codingPath: codingPath) }
}

private final class KeyedReader<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let reader: Reader
    let codingPath: [CodingKey]
    /// Each member: its key's bytes and its value's offset, in the order written.
    private var members: [(key: Range<Int>, value: Int)] = []
    /// Where the last lookup found its key: members are usually asked for in the order written.
    private var cursor = 0

    init(reader: Reader, at i: Int, codingPath: [CodingKey]) throws {
        self.reader = reader
        self.codingPath = codingPath
        guard try reader.tag(at: i) == .object else {
            throw DecodingError.typeMismatch([String: Any].self, .init(codingPath: codingPath, debugDescription: "not an object"))
        }
        let (count, body) = try reader.container(at: i)
        guard count <= body.count else { throw Reader.corrupt(codingPath, "more members than bytes") }
        members.reserveCapacity(count)
        var k = body.lowerBound
        for _ in 0..<count {
            let (key, value) = try reader.stringRange(at: k)
            k = try reader.skip(at: value)
            guard k <= body.upperBound else { throw Reader.corrupt(codingPath, "a member runs past its object") }
            members.append((key, value))
        }
        guard k == body.upperBound else { throw Reader.corrupt(codingPath, "an object's length disagrees with its members") }
    }

    var allKeys: [Key] {
        members.compactMap { m in
            reader.bytes.withUnsafeBufferPointer { String(validating: UnsafeBufferPointer(rebasing: $0[m.key]), as: UTF8.self) }.flatMap(Key.init(stringValue:))
        }
    }

    /// The value offset of `key`, if present.
    private func find(_ key: Key) -> Int? {
        guard !members.isEmpty else { return nil }
        var name = key.stringValue
        let found: Int? = name.withUTF8 { name in
            reader.bytes.withUnsafeBufferPointer { b in
                for step in 0..<members.count {
                    let m = (cursor + step) % members.count
                    let r = members[m].key
                    if r.count == name.count, r.isEmpty || memcmp(b.baseAddress! + r.lowerBound, name.baseAddress!, r.count) == 0 { return m }
                }
                return nil
            }
        }
        guard let m = found else { return nil }
        cursor = m + 1 == members.count ? 0 : m + 1
        return members[m].value
    }

    private func value(_ key: Key) throws -> Int {
        guard let v = find(key) else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no member \(key.stringValue)"))
        }
        return v
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { try reader.tag(at: try value(key)) == .null }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try reader.decodeBool(at: try value(key), codingPath) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try reader.decodeString(at: try value(key), codingPath) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try reader.decodeDouble(at: try value(key), codingPath) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { Float(try reader.decodeDouble(at: try value(key), codingPath)) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try reader.decodeInteger(type, at: try value(key), codingPath) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try reader.decodeAny(type, at: try value(key), codingPath)
    }

    /// Absent or null: nil (synthesized decoders ask this of every optional).
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let v = find(key), try reader.tag(at: v) != .null else { return nil }
        return try reader.decodeAny(type, at: v, codingPath)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try KeyedReader<NestedKey>(reader: reader, at: try value(key), codingPath: codingPath))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> UnkeyedDecodingContainer {
        try UnkeyedReader(reader: reader, at: try value(key), codingPath: codingPath)
    }

    func superDecoder() throws -> Decoder {
        throw DecodingError.dataCorrupted(.init(codingPath: codingPath, debugDescription: "binary records have no super decoder"))
    }

    func superDecoder(forKey key: Key) throws -> Decoder { BinaryDecoder(reader: reader, offset: try value(key), codingPath: codingPath) }
}

private struct UnkeyedReader: UnkeyedDecodingContainer {
    let reader: Reader
    let codingPath: [CodingKey]
    let count: Int?
    private(set) var currentIndex = 0
    private var offset: Int
    private let end: Int

    init(reader: Reader, at i: Int, codingPath: [CodingKey]) throws {
        self.reader = reader
        self.codingPath = codingPath
        guard try reader.tag(at: i) == .array else {
            throw DecodingError.typeMismatch([Any].self, .init(codingPath: codingPath, debugDescription: "not an array"))
        }
        let (n, body) = try reader.container(at: i)
        guard n <= body.count else { throw Reader.corrupt(codingPath, "more elements than bytes") }
        count = n
        offset = body.lowerBound
        end = body.upperBound
    }

    var isAtEnd: Bool { currentIndex >= count ?? 0 }

    /// The next element's offset, moving past it.
    private mutating func next() throws -> Int {
        guard !isAtEnd else { throw DecodingError.valueNotFound(Any.self, .init(codingPath: codingPath, debugDescription: "past the array's end")) }
        let at = offset
        offset = try reader.skip(at: at)
        guard offset <= end else { throw Reader.corrupt(codingPath, "an element runs past its array") }
        currentIndex += 1
        return at
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, try reader.tag(at: offset) == .null else { return false }
        _ = try next()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try reader.decodeBool(at: try next(), codingPath) }
    mutating func decode(_ type: String.Type) throws -> String { try reader.decodeString(at: try next(), codingPath) }
    mutating func decode(_ type: Double.Type) throws -> Double { try reader.decodeDouble(at: try next(), codingPath) }
    mutating func decode(_ type: Float.Type) throws -> Float { Float(try reader.decodeDouble(at: try next(), codingPath)) }
    mutating func decode(_ type: Int.Type) throws -> Int { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.decodeInteger(type, at: try next(), codingPath) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T { try reader.decodeAny(type, at: try next(), codingPath) }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        KeyedDecodingContainer(try KeyedReader<NestedKey>(reader: reader, at: try next(), codingPath: codingPath))
    }

    mutating func nestedUnkeyedContainer() throws -> UnkeyedDecodingContainer { try UnkeyedReader(reader: reader, at: try next(), codingPath: codingPath) }

    mutating func superDecoder() throws -> Decoder { BinaryDecoder(reader: reader, offset: try next(), codingPath: codingPath) }
}

private struct SingleReader: SingleValueDecodingContainer {
    let reader: Reader
    let offset: Int
    let codingPath: [CodingKey]

    func decodeNil() -> Bool { (try? reader.tag(at: offset)) == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try reader.decodeBool(at: offset, codingPath) }
    func decode(_ type: String.Type) throws -> String { try reader.decodeString(at: offset, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try reader.decodeDouble(at: offset, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { Float(try reader.decodeDouble(at: offset, codingPath)) }
    func decode(_ type: Int.Type) throws -> Int { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try reader.decodeInteger(type, at: offset, codingPath) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try reader.decodeAny(type, at: offset, codingPath) }
}

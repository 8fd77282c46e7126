/// A JSON value that remembers where it is, so diagnostics can point inside a JSON file.
/// (Foundation's JSONSerialization drops positions; rule files are small, so speed is not the point here.)
indirect enum JSONNode {
    case object([(key: String, keyRange: SourceRange, value: JSONNode)], SourceRange)
    case array([JSONNode], SourceRange)
    /// A string's decoded bytes, and for each byte (plus one past the end) its offset in the file.
    case string(String, offsets: [Int], SourceRange)
    case number(Double, SourceRange)
    case bool(Bool, SourceRange)
    case null(SourceRange)

    var range: SourceRange {
        switch self {
        case .object(_, let r), .array(_, let r), .string(_, _, let r), .number(_, let r), .bool(_, let r), .null(let r): r
        }
    }

    var typeName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

/// A strict RFC 8259 reader over bytes with byte-offset ranges; depth-limited so no input can
/// exhaust the stack.
struct JSONReader {
    struct Failure: Error {
        let message: String
        let range: SourceRange
    }

    private let b: [UInt8]
    private var i = 0
    private var depth = 0
    private static let maxDepth = 64

    init(_ bytes: [UInt8]) { b = bytes }

    static func parse(_ bytes: [UInt8]) -> Result<JSONNode, Failure> {
        var r = JSONReader(bytes)
        do throws(Failure) {
            r.skipSpace()
            let v = try r.value()
            r.skipSpace()
            guard r.i == r.b.count else { throw r.fail("expected end of file after the JSON value") }
            return .success(v)
        } catch {
            return .failure(error)
        }
    }

    private func fail(_ message: String) -> Failure {
        let end = i < b.count ? i + 1 : i
        return Failure(message: message + (i < b.count ? ", found `\(String(decoding: [b[i]], as: UTF8.self))`" : ", found end of file"),
                       range: SourceRange(i, end))
    }

    private mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    private mutating func value() throws(Failure) -> JSONNode {
        guard i < b.count else { throw fail("expected a JSON value") }
        switch b[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return try string()
        case UInt8(ascii: "t"): return try literal("true", .bool(true, SourceRange(i, i + 4)))
        case UInt8(ascii: "f"): return try literal("false", .bool(false, SourceRange(i, i + 5)))
        case UInt8(ascii: "n"): return try literal("null", .null(SourceRange(i, i + 4)))
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("expected a JSON value")
        }
    }

    private mutating func literal(_ word: String, _ node: JSONNode) throws(Failure) -> JSONNode {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw fail("expected `\(word)`") }
        i += w.count
        return node
    }

    private mutating func nest() throws(Failure) {
        depth += 1
        if depth > JSONReader.maxDepth { throw fail("JSON nested deeper than \(JSONReader.maxDepth) levels") }
    }

    private mutating func object() throws(Failure) -> JSONNode {
        try nest()
        let start = i
        i += 1
        var members: [(key: String, keyRange: SourceRange, value: JSONNode)] = []
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return .object(members, SourceRange(start, i))
        }
        while true {
            skipSpace()
            if i < b.count, b[i] == UInt8(ascii: "}"), !members.isEmpty {
                throw fail("expected a quoted key (JSON allows no comma before `}`)")
            }
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a quoted key") }
            guard case .string(let key, _, let keyRange) = try string() else { throw fail("expected a quoted key") }
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected `:` after the key") }
            i += 1
            skipSpace()
            members.append((key, keyRange, try value()))
            skipSpace()
            guard i < b.count else { throw fail("expected `,` or `}`") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; break }
            throw fail("expected `,` or `}`")
        }
        depth -= 1
        return .object(members, SourceRange(start, i))
    }

    private mutating func array() throws(Failure) -> JSONNode {
        try nest()
        let start = i
        i += 1
        var items: [JSONNode] = []
        skipSpace()
        if i < b.count, b[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return .array(items, SourceRange(start, i))
        }
        while true {
            skipSpace()
            items.append(try value())
            skipSpace()
            guard i < b.count else { throw fail("expected `,` or `]`") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; break }
            throw fail("expected `,` or `]`")
        }
        depth -= 1
        return .array(items, SourceRange(start, i))
    }

    private mutating func string() throws(Failure) -> JSONNode {
        let start = i
        i += 1
        var out: [UInt8] = []
        var offsets: [Int] = []
        while true {
            guard i < b.count else { i = start; throw fail("unterminated string") }
            let c = b[i]
            if c == UInt8(ascii: "\"") { break }
            if c < 0x20 { throw fail("control character in string (escape it)") }
            if c == UInt8(ascii: "\\") {
                let escStart = i
                guard i + 1 < b.count else { throw fail("unterminated escape") }
                let e = b[i + 1]
                i += 2
                var scalar: UInt32
                switch e {
                case UInt8(ascii: "\""): scalar = 0x22
                case UInt8(ascii: "\\"): scalar = 0x5C
                case UInt8(ascii: "/"): scalar = 0x2F
                case UInt8(ascii: "b"): scalar = 0x08
                case UInt8(ascii: "f"): scalar = 0x0C
                case UInt8(ascii: "n"): scalar = 0x0A
                case UInt8(ascii: "r"): scalar = 0x0D
                case UInt8(ascii: "t"): scalar = 0x09
                case UInt8(ascii: "u"):
                    scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let low = try hex4()
                        scalar = (0xDC00..<0xE000).contains(low) ? 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00) : 0xFFFD
                    }
                default:
                    i = escStart
                    throw fail("unknown escape in string")
                }
                let encoded = Array(String(Unicode.Scalar(scalar) ?? "\u{FFFD}").utf8)
                out.append(contentsOf: encoded)
                offsets.append(contentsOf: repeatElement(escStart, count: encoded.count))
                continue
            }
            out.append(c)
            offsets.append(i)
            i += 1
        }
        offsets.append(i)
        i += 1
        return .string(String(decoding: out, as: UTF8.self), offsets: offsets, SourceRange(start, i))
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= b.count, let v = UInt32(String(decoding: b[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw fail("expected four hex digits after `\\u`")
        }
        i += 4
        return v
    }

    private mutating func number() throws(Failure) -> JSONNode {
        let start = i
        if b[i] == UInt8(ascii: "-") { i += 1 }
        while i < b.count, (b[i] >= 48 && b[i] <= 57) || b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e")
            || b[i] == UInt8(ascii: "E") || b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
        guard let v = Double(String(decoding: b[start..<i], as: UTF8.self)), v.isFinite else {
            i = start
            throw fail("malformed number")
        }
        return .number(v, SourceRange(start, i))
    }
}

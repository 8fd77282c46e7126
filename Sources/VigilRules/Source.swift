import Foundation

/// A half-open range of UTF-8 byte offsets into a `SourceFile`.
public struct SourceRange: Hashable, Sendable {
    public var start: Int
    public var end: Int

    public init(_ start: Int, _ end: Int) {
        self.start = start
        self.end = max(start, end)
    }

    /// The smallest range covering both.
    public func union(_ other: SourceRange) -> SourceRange {
        SourceRange(min(start, other.start), max(end, other.end))
    }
}

/// A 1-based line and column (columns count Unicode scalars, so carets line up).
public struct SourcePosition: Hashable, Sendable {
    public var line: Int
    public var column: Int
}

/// What a file holds, which decides the grammar it is read with.
public enum SourceKind: Sendable {
    case rules
    case config
    case seedJSON
}

/// One file's bytes, with a line table for turning offsets into positions.
public final class SourceFile: Sendable {
    public let path: String
    public let bytes: [UInt8]
    public let kind: SourceKind
    private let lineStarts: [Int]

    public init(path: String, bytes: [UInt8], kind: SourceKind? = nil) {
        self.path = path
        self.bytes = bytes
        self.kind = kind ?? SourceFile.kind(forPath: path)
        var starts = [0]
        for (i, b) in bytes.enumerated() where b == UInt8(ascii: "\n") { starts.append(i + 1) }
        self.lineStarts = starts
    }

    public convenience init(path: String, text: String, kind: SourceKind? = nil) {
        self.init(path: path, bytes: Array(text.utf8), kind: kind)
    }

    /// Reads a file; the error names the path and the cause.
    public static func read(path: String, kind: SourceKind? = nil) throws -> SourceFile {
        guard let data = FileManager.default.contents(atPath: path) else {
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
                throw SourceError(path: path, reason: isDir.boolValue ? "is a directory" : "permission denied")
            }
            throw SourceError(path: path, reason: "no such file or directory")
        }
        return SourceFile(path: path, bytes: [UInt8](data), kind: kind)
    }

    /// `.json` is the seed's shape, `.conf` a config, anything else a rule file.
    public static func kind(forPath path: String) -> SourceKind {
        if path.hasSuffix(".json") { return .seedJSON }
        if path.hasSuffix(".conf") { return .config }
        return .rules
    }

    /// The line and column of a byte offset (clamped into the file).
    public func position(of offset: Int) -> SourcePosition {
        let offset = min(max(0, offset), bytes.count)
        var lo = 0, hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        var column = 1
        var i = lineStarts[lo]
        while i < offset {
            if bytes[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        // An offset inside a multi-byte scalar belongs to that scalar.
        if offset < bytes.count, bytes[offset] & 0xC0 == 0x80 { column -= 1 }
        return SourcePosition(line: lo + 1, column: column)
    }

    /// The text of a 1-based line, without its newline.
    public func lineText(_ line: Int) -> String {
        guard line >= 1, line <= lineStarts.count else { return "" }
        let start = lineStarts[line - 1]
        var end = line < lineStarts.count ? lineStarts[line] - 1 : bytes.count
        if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
        return String(decoding: bytes[start..<max(start, end)], as: UTF8.self)
    }

    /// The source text of a range.
    public func text(_ range: SourceRange) -> String {
        let s = min(range.start, bytes.count), e = min(range.end, bytes.count)
        return String(decoding: bytes[s..<e], as: UTF8.self)
    }

    /// Whether a blank line separates `offset` from the previous non-blank text.
    func hasBlankLine(before offset: Int) -> Bool {
        var newlines = 0
        var i = min(offset, bytes.count) - 1
        while i >= 0 {
            switch bytes[i] {
            case UInt8(ascii: "\n"): newlines += 1
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"): break
            default: return newlines >= 2
            }
            i -= 1
        }
        return false
    }
}

/// A file that could not be read.
public struct SourceError: Error, CustomStringConvertible, Sendable {
    public let path: String
    public let reason: String
    public var description: String { "cannot read '\(path)': \(reason)" }
}

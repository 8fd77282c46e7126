import Foundation

/// How bad a diagnostic is.
public enum DiagnosticSeverity: String, Sendable, Comparable {
    case error, warning

    public static func < (a: Self, b: Self) -> Bool { a == .error && b == .warning }
}

/// A place in a file, for notes that point somewhere else (the first definition of a duplicate).
public struct SourceLocation: Sendable {
    public let file: SourceFile
    public let range: SourceRange

    public init(_ file: SourceFile, _ range: SourceRange) {
        self.file = file
        self.range = range
    }
}

/// One finding about a rule or config file, located to the byte.
public struct Diagnostic: Sendable {
    /// A follow-up line: where else to look, or what to do.
    public struct Note: Sendable {
        public let message: String
        public let location: SourceLocation?

        public init(_ message: String, at location: SourceLocation? = nil) {
            self.message = message
            self.location = location
        }
    }

    public let severity: DiagnosticSeverity
    /// A stable kebab-case identifier (`unknown-channel`), for tooling and golden tests.
    public let code: String
    public let message: String
    public let file: SourceFile
    public let range: SourceRange
    public var notes: [Note]
    /// Replacement text for `range`, shown under the caret like clang's fix-its.
    public var fixIt: String?

    public init(_ severity: DiagnosticSeverity, _ code: String, _ message: String,
                file: SourceFile, range: SourceRange, notes: [Note] = [], fixIt: String? = nil) {
        self.severity = severity
        self.code = code
        self.message = message
        self.file = file
        self.range = range
        self.notes = notes
        self.fixIt = fixIt
    }

    public var start: SourcePosition { file.position(of: range.start) }
    public var end: SourcePosition { file.position(of: range.end) }
}

/// Collects diagnostics for one file.
struct DiagnosticSink {
    let file: SourceFile
    private(set) var diagnostics: [Diagnostic] = []

    init(file: SourceFile) { self.file = file }

    mutating func error(_ code: String, _ message: String, _ range: SourceRange,
                        notes: [Diagnostic.Note] = [], fixIt: String? = nil) {
        diagnostics.append(Diagnostic(.error, code, message, file: file, range: range, notes: notes, fixIt: fixIt))
    }

    mutating func warning(_ code: String, _ message: String, _ range: SourceRange,
                          notes: [Diagnostic.Note] = [], fixIt: String? = nil) {
        diagnostics.append(Diagnostic(.warning, code, message, file: file, range: range, notes: notes, fixIt: fixIt))
    }

    mutating func append(_ d: Diagnostic) { diagnostics.append(d) }
}

/// The output formats of `vigil lint`.
public enum DiagnosticFormat: String, Sendable, CaseIterable {
    case text, json, github
}

/// Renders diagnostics for people (text), tools (json) and GitHub annotations.
public enum DiagnosticRenderer {
    /// `file:line:col: severity: message`, the source line, a caret under the span, fix-it and notes.
    public static func text(_ d: Diagnostic) -> String {
        var out = header(d.file, d.range, d.severity.rawValue, d.message)
        out += snippet(d.file, d.range, fixIt: d.fixIt)
        for note in d.notes {
            if let loc = note.location {
                out += header(loc.file, loc.range, "note", note.message)
                out += snippet(loc.file, loc.range, fixIt: nil)
            } else {
                out += "note: \(note.message)\n"
            }
        }
        return out
    }

    /// A JSON array of `{file,line,column,endLine,endColumn,severity,code,message}`.
    public static func json(_ diagnostics: [Diagnostic]) -> String {
        if diagnostics.isEmpty { return "[]\n" }
        let items = diagnostics.map { d -> String in
            let s = d.start, e = d.end
            return "  {\"file\":\(jsonString(d.file.path)),\"line\":\(s.line),\"column\":\(s.column),"
                + "\"endLine\":\(e.line),\"endColumn\":\(e.column),\"severity\":\"\(d.severity.rawValue)\","
                + "\"code\":\(jsonString(d.code)),\"message\":\(jsonString(d.message))}"
        }
        return "[\n" + items.joined(separator: ",\n") + "\n]\n"
    }

    /// GitHub Actions workflow commands (`::error file=…,line=…,col=…::message`).
    public static func github(_ d: Diagnostic) -> String {
        let s = d.start, e = d.end
        let kind = d.severity.rawValue
        var message = d.message
        for note in d.notes { message += "\n" + note.message }
        return "::\(kind) file=\(ghProperty(d.file.path)),line=\(s.line),col=\(s.column),"
            + "endLine=\(e.line),endColumn=\(e.column),title=\(ghProperty(d.code))::\(ghData(message))\n"
    }

    private static func header(_ file: SourceFile, _ range: SourceRange, _ kind: String, _ message: String) -> String {
        let p = file.position(of: range.start)
        return "\(file.path):\(p.line):\(p.column): \(kind): \(message)\n"
    }

    /// The source line and a caret line (`^~~~`) under the part of the range on that line.
    private static func snippet(_ file: SourceFile, _ range: SourceRange, fixIt: String?) -> String {
        let start = file.position(of: range.start)
        let end = file.position(of: range.end)
        let line = file.lineText(start.line)
        let scalars = Array(line.unicodeScalars)
        let lastColumn = end.line == start.line ? max(end.column, start.column + 1) : scalars.count + 1
        var pad = ""
        for i in 0..<max(0, start.column - 1) {
            pad += i < scalars.count && scalars[i] == "\t" ? "\t" : " "
        }
        let width = max(1, lastColumn - start.column)
        var out = line + "\n" + pad + "^" + String(repeating: "~", count: width - 1) + "\n"
        if let fixIt { out += pad + fixIt + "\n" }
        return out
    }

    private static func ghProperty(_ s: String) -> String {
        ghData(s).replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C")
    }

    private static func ghData(_ s: String) -> String {
        s.replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
    }
}

/// A JSON string literal with the escapes RFC 8259 requires.
public func jsonString(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
        switch u {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where u.value < 0x20:
            out += String(format: "\\u%04x", u.value)
        default: out.unicodeScalars.append(u)
        }
    }
    return out + "\""
}

/// A `summary`/`description` template split into text and `{{name}}` placeholders.
public struct Template: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case text(String)
        case placeholder(String)
    }

    /// Placeholders every alert has, besides its labels.
    public static let builtins: Set<String> = ["value", "alert", "severity", "threshold", "since", "labels"]

    public let parts: [Part]

    /// A placeholder with its byte range inside the text it was scanned from.
    public struct Placeholder: Sendable, Equatable {
        public let name: String
        public let range: Range<Int>
    }

    /// `text` as a template; text that does not scan (lint reports it) renders as written.
    public static func lenient(_ text: String) -> Template {
        guard case .success(let (template, _)) = parse(text) else { return Template(parts: [.text(text)]) }
        return template
    }

    /// Scans `text`; the error names the byte range of the broken placeholder.
    public static func parse(_ text: String) -> Result<(Template, [Placeholder]), TemplateError> {
        parse(bytes: Array(text.utf8))
    }

    /// Scans bytes as written (ranges are offsets into them, even where they are not UTF-8).
    public static func parse(bytes b: [UInt8]) -> Result<(Template, [Placeholder]), TemplateError> {
        var parts: [Part] = []
        var placeholders: [Placeholder] = []
        var literal: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "{"), i + 1 < b.count, b[i + 1] == UInt8(ascii: "{") {
                let start = i
                var j = i + 2
                while j + 1 < b.count, !(b[j] == UInt8(ascii: "}") && b[j + 1] == UInt8(ascii: "}")) { j += 1 }
                guard j + 1 < b.count else {
                    return .failure(TemplateError(message: "unclosed placeholder `{{`; close it with `}}`", range: start..<b.count))
                }
                let name = String(decoding: b[(i + 2)..<j], as: UTF8.self).trimmingSpaces()
                guard isIdentifier(name) else {
                    return .failure(TemplateError(message: "placeholder `\(String(decoding: b[start..<(j + 2)], as: UTF8.self))` must name a label or one of \(builtins.sorted().joined(separator: ", "))", range: start..<(j + 2)))
                }
                if !literal.isEmpty { parts.append(.text(String(decoding: literal, as: UTF8.self))); literal = [] }
                parts.append(.placeholder(name))
                placeholders.append(Placeholder(name: name, range: start..<(j + 2)))
                i = j + 2
            } else {
                literal.append(b[i])
                i += 1
            }
        }
        if !literal.isEmpty { parts.append(.text(String(decoding: literal, as: UTF8.self))) }
        return .success((Template(parts: parts), placeholders))
    }

    static func isIdentifier(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(first >= 48 && first <= 57) else { return false }
        return s.utf8.allSatisfy { ($0 >= 48 && $0 <= 57) || ($0 >= 65 && $0 <= 90) || ($0 >= 97 && $0 <= 122) || $0 == 95 }
    }
}

public struct TemplateError: Error, Sendable {
    public let message: String
    public let range: Range<Int>
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}

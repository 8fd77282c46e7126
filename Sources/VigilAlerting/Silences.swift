import Foundation
import VigilEngine
import VigilRules

/// A label matcher of a silence: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"` (anchored).
public struct LabelMatcher: Sendable, Equatable, CustomStringConvertible, Codable {
    public let name: String
    public let op: MatchOperator
    public let value: String

    public init(name: String, op: MatchOperator, value: String) {
        self.name = name
        self.op = op
        self.value = value
    }

    public var description: String { "\(name)\(op.rawValue)\(jsonString(value))" }

    /// Parses `a="x", b=~'y.*'` (the braces are optional); the error says what is wrong.
    public static func parseList(_ text: String) -> Result<[LabelMatcher], MatcherError> {
        var s = Substring(text.trimmingCharacters(in: .whitespaces))
        if s.hasPrefix("{"), s.hasSuffix("}") { s = s.dropFirst().dropLast() }
        var out: [LabelMatcher] = []
        while true {
            s = s.drop { $0 == " " || $0 == "," }
            if s.isEmpty { break }
            let name = s.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "." }
            guard !name.isEmpty else { return .failure(MatcherError(message: "expected a label name at `\(s)`")) }
            s = s.dropFirst(name.count).drop { $0 == " " }
            let op: MatchOperator
            if s.hasPrefix("=~") { op = .regexMatch; s = s.dropFirst(2) }
            else if s.hasPrefix("!~") { op = .regexNoMatch; s = s.dropFirst(2) }
            else if s.hasPrefix("!=") { op = .notEqual; s = s.dropFirst(2) }
            else if s.hasPrefix("=") { op = .equal; s = s.dropFirst() }
            else { return .failure(MatcherError(message: "expected `=`, `!=`, `=~` or `!~` after `\(name)`")) }
            s = s.drop { $0 == " " }
            guard let q = s.first, q == "\"" || q == "'", let close = s.dropFirst().firstIndex(of: q) else {
                return .failure(MatcherError(message: "expected a quoted value for `\(name)`"))
            }
            let value = String(s[s.index(after: s.startIndex)..<close])
            if op == .regexMatch || op == .regexNoMatch, (try? NSRegularExpression(pattern: value)) == nil {
                return .failure(MatcherError(message: "`\(value)` is not a valid regular expression"))
            }
            out.append(LabelMatcher(name: String(name), op: op, value: value))
            s = s[s.index(after: close)...]
        }
        guard !out.isEmpty else { return .failure(MatcherError(message: "a silence needs at least one matcher")) }
        return .success(out)
    }
}

public struct MatcherError: Error, Sendable {
    public let message: String
}

/// A silence: matchers, a time span, who and why.
public struct Silence: Sendable, Equatable, Codable {
    public let id: String
    public let matchers: [LabelMatcher]
    public let startsAt: Instant
    public let endsAt: Instant
    public let createdBy: String
    public let comment: String

    public init(id: String, matchers: [LabelMatcher], startsAt: Instant, endsAt: Instant, createdBy: String, comment: String) {
        self.id = id
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.createdBy = createdBy
        self.comment = comment
    }

    public func isActive(at t: Instant) -> Bool { startsAt <= t && t < endsAt }
}

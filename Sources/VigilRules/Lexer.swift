/// The kinds of token in rule and config files.
public enum TokenKind: Equatable, Sendable {
    case identifier
    case number         // digits with an optional unit suffix: 2000ms, 0.7, 85%, 1h30m
    case string         // '…' or "…"
    case secretRef      // env:NAME or file:PATH
    case lbrace, rbrace, lparen, rparen, comma, semicolon, dot
    case assign         // =
    case equal, notEqual, regexMatch, regexNoMatch
    case greater, greaterEqual, less, lessEqual
    case plus, minus, star, slash
    case newline
    case invalid
    case eof
}

/// A token: its kind, where it is, and its text as written.
public struct Token: Sendable {
    public let kind: TokenKind
    public let range: SourceRange
    /// The token's text in the lexed buffer (for strings: with quotes and escapes).
    public let text: String
    /// A string token's decoded value.
    public let value: String
}

/// A `#` comment, kept so `fmt` can put it back.
public struct Comment: Sendable {
    public let range: SourceRange
    public let text: String
}

/// Splits a buffer into tokens. Never fails: bad input becomes an `invalid` token plus a diagnostic.
///
/// The buffer is usually a whole file; for a condition embedded in a JSON string it is the decoded
/// string, and `offsetMap` maps each buffer offset back to the file so ranges stay in file coordinates.
struct Lexer {
    private let bytes: [UInt8]
    private let offsetMap: [Int]?
    private var i = 0
    private(set) var comments: [Comment] = []
    private(set) var problems: [(String, SourceRange)] = []

    init(bytes: [UInt8], offsetMap: [Int]? = nil) {
        self.bytes = bytes
        self.offsetMap = offsetMap
    }

    /// All tokens, ending with `eof`.
    mutating func tokenize() -> [Token] {
        var tokens: [Token] = []
        while true {
            let t = next()
            tokens.append(t)
            if t.kind == .eof { return tokens }
        }
    }

    private func fileRange(_ s: Int, _ e: Int) -> SourceRange {
        guard let map = offsetMap, !map.isEmpty else { return SourceRange(s, e) }
        let ms = map[min(s, map.count - 1)], me = map[min(e, map.count - 1)]
        return SourceRange(ms, max(ms, me))
    }

    private func make(_ kind: TokenKind, _ start: Int, value: String = "") -> Token {
        Token(kind: kind, range: fileRange(start, i), text: String(decoding: bytes[start..<i], as: UTF8.self), value: value)
    }

    private func peek(_ k: Int = 0) -> UInt8 { i + k < bytes.count ? bytes[i + k] : 0 }

    private static func isIdentStart(_ b: UInt8) -> Bool {
        (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == UInt8(ascii: "_")
    }
    private static func isIdentPart(_ b: UInt8) -> Bool { isIdentStart(b) || isDigit(b) }
    private static func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }

    private mutating func next() -> Token {
        // Skip blanks and comments.
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\r") {
                i += 1
            } else if b == UInt8(ascii: "#") {
                let start = i
                while i < bytes.count, bytes[i] != UInt8(ascii: "\n") { i += 1 }
                var end = i
                if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                comments.append(Comment(range: fileRange(start, end), text: String(decoding: bytes[start..<end], as: UTF8.self)))
            } else {
                break
            }
        }
        let start = i
        guard i < bytes.count else { return make(.eof, start) }
        let b = bytes[i]
        i += 1
        switch b {
        case UInt8(ascii: "\n"): return make(.newline, start)
        case UInt8(ascii: "{"): return make(.lbrace, start)
        case UInt8(ascii: "}"): return make(.rbrace, start)
        case UInt8(ascii: "("): return make(.lparen, start)
        case UInt8(ascii: ")"): return make(.rparen, start)
        case UInt8(ascii: ","): return make(.comma, start)
        case UInt8(ascii: ";"): return make(.semicolon, start)
        case UInt8(ascii: "."): return make(.dot, start)
        case UInt8(ascii: "+"): return make(.plus, start)
        case UInt8(ascii: "-"): return make(.minus, start)
        case UInt8(ascii: "*"): return make(.star, start)
        case UInt8(ascii: "/"): return make(.slash, start)
        case UInt8(ascii: "="):
            if peek() == UInt8(ascii: "=") { i += 1; return make(.equal, start) }
            if peek() == UInt8(ascii: "~") { i += 1; return make(.regexMatch, start) }
            return make(.assign, start)
        case UInt8(ascii: "!"):
            if peek() == UInt8(ascii: "=") { i += 1; return make(.notEqual, start) }
            if peek() == UInt8(ascii: "~") { i += 1; return make(.regexNoMatch, start) }
            problems.append(("unexpected `!`; negation is `not`, inequality `!=`", fileRange(start, i)))
            return make(.invalid, start)
        case UInt8(ascii: ">"):
            if peek() == UInt8(ascii: "=") { i += 1; return make(.greaterEqual, start) }
            return make(.greater, start)
        case UInt8(ascii: "<"):
            if peek() == UInt8(ascii: "=") { i += 1; return make(.lessEqual, start) }
            return make(.less, start)
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return string(quote: b, start: start)
        case _ where Lexer.isDigit(b):
            // Digits, '.', '_', exponent signs and unit letters or '%' all belong to one number token.
            while i < bytes.count {
                let c = bytes[i]
                if Lexer.isIdentPart(c) || c == UInt8(ascii: "%") {
                    i += 1
                } else if c == UInt8(ascii: "."), Lexer.isDigit(peek(1)) {
                    i += 1
                } else if (c == UInt8(ascii: "+") || c == UInt8(ascii: "-")),
                          bytes[i - 1] == UInt8(ascii: "e") || bytes[i - 1] == UInt8(ascii: "E"),
                          Lexer.isDigit(peek(1)), exponentAllowed(start) {
                    i += 1
                } else {
                    break
                }
            }
            return make(.number, start)
        case _ where Lexer.isIdentStart(b):
            while i < bytes.count, Lexer.isIdentPart(bytes[i]) { i += 1 }
            let word = String(decoding: bytes[start..<i], as: UTF8.self)
            if (word == "env" || word == "file"), peek() == UInt8(ascii: ":") {
                i += 1
                // A list separator ends one (`url env:AM1, env:AM2`); a path ending in a comma is not one.
                while i < bytes.count, !Lexer.endsBareWord(bytes[i]), !(bytes[i] == UInt8(ascii: ",") && (i + 1 == bytes.count || Lexer.endsBareWord(bytes[i + 1]))) { i += 1 }
                return make(.secretRef, start)
            }
            return make(.identifier, start)
        default:
            // Consume the whole UTF-8 sequence so the caret covers one character.
            while i < bytes.count, bytes[i] & 0xC0 == 0x80 { i += 1 }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            problems.append(("unexpected character `\(text)`", fileRange(start, i)))
            return make(.invalid, start)
        }
    }

    /// `1e-3` has an exponent sign; `2min-1` does not (the `e` there is not right after digits).
    private func exponentAllowed(_ start: Int) -> Bool {
        var j = start
        while j < i - 1, Lexer.isDigit(bytes[j]) || bytes[j] == UInt8(ascii: "_") || bytes[j] == UInt8(ascii: ".") { j += 1 }
        return j == i - 1
    }

    private static func endsBareWord(_ b: UInt8) -> Bool {
        b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") || b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r")
            || b == UInt8(ascii: ";") || b == UInt8(ascii: "}") || b == UInt8(ascii: "#")
    }

    private mutating func string(quote: UInt8, start: Int) -> Token {
        var value: [UInt8] = []
        while i < bytes.count {
            let c = bytes[i]
            if c == quote {
                i += 1
                return make(.string, start, value: String(decoding: value, as: UTF8.self))
            }
            if c == UInt8(ascii: "\n") { break }
            if c == UInt8(ascii: "\\") {
                let escapeStart = i
                i += 1
                guard i < bytes.count, bytes[i] != UInt8(ascii: "\n") else { break }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "n"): value.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "t"): value.append(UInt8(ascii: "\t"))
                case UInt8(ascii: "r"): value.append(UInt8(ascii: "\r"))
                case UInt8(ascii: "\\"), UInt8(ascii: "\""), UInt8(ascii: "'"): value.append(e)
                default:
                    while i < bytes.count, bytes[i] & 0xC0 == 0x80 { i += 1 }
                    let text = String(decoding: bytes[escapeStart..<i], as: UTF8.self)
                    problems.append(("unknown escape `\(text)` in string; use `\\\\` for a backslash", fileRange(escapeStart, i)))
                    value.append(contentsOf: bytes[escapeStart..<i])
                }
                continue
            }
            if c < 0x20, c != UInt8(ascii: "\t") {
                // A raw control character is never meant (JSON refuses them too), and the
                // formatter marks trailing comments with one.
                problems.append(("control character 0x\(String(c, radix: 16, uppercase: true)) in a string; remove it or write an escape (`\\n`, `\\t`)", fileRange(i, i + 1)))
                i += 1
                continue
            }
            value.append(c)
            i += 1
        }
        problems.append(("unterminated string; add the closing \(quote == UInt8(ascii: "'") ? "'" : "\"")", fileRange(start, i)))
        return make(.invalid, start)
    }
}

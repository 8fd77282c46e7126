import Testing
@testable import VigilRules

struct LexerTests {
    func kinds(_ text: String) -> [TokenKind] {
        var l = Lexer(bytes: Array(text.utf8))
        return l.tokenize().map(\.kind)
    }

    func texts(_ text: String) -> [String] {
        var l = Lexer(bytes: Array(text.utf8))
        return l.tokenize().dropLast().map(\.text)
    }

    @Test func operatorsAndSelectors() {
        #expect(texts("a{b=~\"x\",c!~'y',d!=\"z\",e=\"w\"} >= 2min") ==
                ["a", "{", "b", "=~", "\"x\"", ",", "c", "!~", "'y'", ",", "d", "!=", "\"z\"", ",", "e", "=", "\"w\"", "}", ">=", "2min"])
        #expect(kinds("a == b != c < d <= e > f") ==
                [.identifier, .equal, .identifier, .notEqual, .identifier, .less, .identifier, .lessEqual, .identifier, .greater, .identifier, .eof])
    }

    @Test func numbersKeepTheirUnitAndExponentButNotAFollowingOperator() {
        #expect(texts("1e-3 2min-1 85% 50_000 1h30m 0.7") == ["1e-3", "2min", "-", "1", "85%", "50_000", "1h30m", "0.7"])
    }

    @Test func stringsDecodeEscapesInBothQuoteStyles() {
        var l = Lexer(bytes: Array(#"'it\'s' "a \"b\" \\ \n""#.utf8))
        let t = l.tokenize()
        #expect(t[0].value == "it's")
        #expect(t[1].value == "a \"b\" \\ \n")
        #expect(l.problems.isEmpty)
    }

    @Test func commentsAreKeptWithTheirRanges() {
        var l = Lexer(bytes: Array("a # one\n# two\nb".utf8))
        let t = l.tokenize()
        #expect(t.map(\.kind) == [.identifier, .newline, .newline, .identifier, .eof])
        #expect(l.comments.map(\.text) == ["# one", "# two"])
        #expect(l.comments.map(\.range.start) == [2, 8])
    }

    @Test func secretReferencesAreOneToken() {
        #expect(texts("url env:SLACK_WEBHOOK_URL key file:/run/secrets/pd}") == ["url", "env:SLACK_WEBHOOK_URL", "key", "file:/run/secrets/pd", "}"])
        #expect(kinds("env:X")[0] == .secretRef)
        #expect(kinds("environment")[0] == .identifier)
    }

    @Test func badInputBecomesAnInvalidTokenAndAProblem() {
        var l = Lexer(bytes: Array("a $ 'open\nb é".utf8))
        let t = l.tokenize()
        #expect(t.map(\.kind) == [.identifier, .invalid, .invalid, .newline, .identifier, .invalid, .eof])
        #expect(l.problems.map(\.0) == ["unexpected character `$`", "unterminated string; add the closing '", "unexpected character `é`"])
        #expect(t[5].range == SourceRange(12, 14)) // the whole two-byte character
    }

    @Test func offsetMapPutsTokensBackIntoTheFile() {
        // "a > 1" decoded from a string that starts at byte 100 of its file.
        var l = Lexer(bytes: Array("a > 1".utf8), offsetMap: [100, 101, 102, 103, 104, 105])
        #expect(l.tokenize().map(\.range) == [SourceRange(100, 101), SourceRange(102, 103), SourceRange(104, 105), SourceRange(105, 105)])
    }
}

struct ControlCharacterTests {
    /// A raw U+0001 in a string was taken by `fmt` for its trailing-comment marker, and the
    /// formatted file said something else (found by the rules fuzzer).
    @Test func aRawControlCharacterInAStringIsAnError() {
        let r = lint("metric x\nalert a { when x > 1; severity info; notify slack; summary \"a\u{1}b\" }\n")
        #expect(r.diagnostics.map(\.message) == ["control character 0x1 in a string; remove it or write an escape (`\\n`, `\\t`)"])
        #expect(lint("metric x\nalert a { when x > 1; severity info; notify slack; summary \"a\tb\" }\n").errorCount == 0)
    }
}

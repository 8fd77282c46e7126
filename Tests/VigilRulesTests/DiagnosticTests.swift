import Testing
@testable import VigilRules

struct DiagnosticTests {
    let file = SourceFile(path: "r.rules", text: "alert a {\n\twhen é > 1ms\n}\n")

    @Test func caretsLineUpUnderTabsAndMultiByteCharacters() {
        // `>` is byte 19 (line 2 starts at 10; "\twhen é " is 9 bytes), column 9 counting é as one character.
        let d = Diagnostic(.error, "x", "bad", file: file, range: SourceRange(19, 20))
        #expect(d.start == SourcePosition(line: 2, column: 9))
        #expect(DiagnosticRenderer.text(d) == "r.rules:2:9: error: bad\n\twhen é > 1ms\n\t       ^\n")
    }

    @Test func spansAcrossLinesUnderlineToTheEndOfTheFirst() {
        let d = Diagnostic(.warning, "x", "long", file: file, range: SourceRange(0, 20))
        #expect(DiagnosticRenderer.text(d) == "r.rules:1:1: warning: long\nalert a {\n^~~~~~~~~\n")
    }

    @Test func githubAnnotationsEscapeTheirProperties() {
        let d = Diagnostic(.error, "unit-mismatch", "50% off, a:b\nnext", file: SourceFile(path: "a,b:c.rules", text: "x"), range: SourceRange(0, 1))
        #expect(DiagnosticRenderer.github(d) ==
                "::error file=a%2Cb%3Ac.rules,line=1,col=1,endLine=1,endColumn=2,title=unit-mismatch::50%25 off, a:b%0Anext\n")
    }

    @Test func jsonEscapesAndIsEmptyArrayWhenClean() {
        #expect(DiagnosticRenderer.json([]) == "[]\n")
        let d = Diagnostic(.warning, "c", "say \"hi\"\t\u{1}", file: file, range: SourceRange(0, 5))
        #expect(DiagnosticRenderer.json([d]) ==
                "[\n  {\"file\":\"r.rules\",\"line\":1,\"column\":1,\"endLine\":1,\"endColumn\":6,\"severity\":\"warning\",\"code\":\"c\",\"message\":\"say \\\"hi\\\"\\t\\u0001\"}\n]\n")
    }
}

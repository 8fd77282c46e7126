import Foundation
import Testing
@testable import VigilRules

/// Golden diagnostics for the broken-file corpus: each case is a file (`.rules`, `.conf` linted as
/// `--config`, `.json`) or a directory of files (its `vigil.conf` is the config). Its expected
/// text output sits beside it in `NAME.expected.txt`, its JSON in `NAME.expected.json`.
/// `VIGIL_UPDATE_GOLDEN=1 swift test` rewrites them; review the diff like code.
struct CorpusTests {
    static var cases: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Fixtures.corpusDir.path)) ?? []
        return names.filter { !$0.contains(".expected.") }.sorted()
    }

    static func lintCase(_ name: String) throws -> LintResult {
        let url = Fixtures.corpusDir.appendingPathComponent(name)
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDir)
        func load(_ rel: String, kind: SourceKind? = nil) throws -> SourceFile {
            SourceFile(path: rel, bytes: [UInt8](try Data(contentsOf: Fixtures.corpusDir.appendingPathComponent(rel))), kind: kind)
        }
        if isDir.boolValue {
            let entries = try FileManager.default.contentsOfDirectory(atPath: url.path).sorted()
            let rules = try entries.filter { $0 != "vigil.conf" }.map { try load("\(name)/\($0)") }
            let config = try entries.contains("vigil.conf") ? load("\(name)/vigil.conf", kind: .config) : nil
            return Linter.lint(ruleFiles: rules, config: config)
        }
        if name.hasSuffix(".conf") { return Linter.lint(ruleFiles: [], config: try load(name)) }
        return Linter.lint(ruleFiles: [try load(name)])
    }

    static func baseName(_ name: String) -> String {
        for ext in [".rules", ".conf", ".json"] where name.hasSuffix(ext) { return String(name.dropLast(ext.count)) }
        return name
    }

    @Test func corpusHasAtLeastFortyBrokenFiles() {
        #expect(Self.cases.count >= 40)
    }

    @Test(arguments: cases)
    func goldenDiagnostics(_ name: String) throws {
        let result = try Self.lintCase(name)
        #expect(result.errorCount + result.warningCount > 0, "a corpus case must produce a diagnostic")
        let text = result.diagnostics.map(DiagnosticRenderer.text).joined()
        let json = DiagnosticRenderer.json(result.diagnostics)
        let base = Fixtures.corpusDir.appendingPathComponent(Self.baseName(name))
        let textURL = URL(fileURLWithPath: base.path + ".expected.txt")
        let jsonURL = URL(fileURLWithPath: base.path + ".expected.json")
        if ProcessInfo.processInfo.environment["VIGIL_UPDATE_GOLDEN"] == "1" {
            try Data(text.utf8).write(to: textURL)
            try Data(json.utf8).write(to: jsonURL)
            return
        }
        let expectedText = try String(contentsOf: textURL, encoding: .utf8)
        let expectedJSON = try String(contentsOf: jsonURL, encoding: .utf8)
        #expect(text == expectedText)
        #expect(json == expectedJSON)
    }

    /// The JSON output is valid JSON with exactly the documented fields.
    @Test(arguments: cases)
    func jsonShape(_ name: String) throws {
        let result = try Self.lintCase(name)
        let data = Data(DiagnosticRenderer.json(result.diagnostics).utf8)
        let array = try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
        #expect(array.count == result.diagnostics.count)
        for item in array {
            #expect(Set(item.keys) == ["file", "line", "column", "endLine", "endColumn", "severity", "code", "message"])
        }
    }
}

import Foundation
import Testing
@testable import VigilRules

/// Paths and helpers shared by the VigilRules tests.
enum Fixtures {
    static let testsDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    static let corpusDir = testsDir.appendingPathComponent("Corpus/broken")
    static let repoRoot = testsDir.deletingLastPathComponent().deletingLastPathComponent()

    /// The shipped rule files, read from the checkout.
    static func shippedRules() throws -> [SourceFile] {
        try ["critical", "warning", "info"].map { name in
            let path = repoRoot.appendingPathComponent("rules/\(name).rules").path
            return SourceFile(path: "rules/\(name).rules", bytes: try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))))
        }
    }

    static func shippedConfig() throws -> SourceFile {
        let url = repoRoot.appendingPathComponent("examples/vigil.conf")
        return SourceFile(path: "examples/vigil.conf", bytes: try [UInt8](Data(contentsOf: url)))
    }
}

/// Lints one in-memory rule file (plus an optional config).
func lint(_ text: String, path: String = "t.rules", config: String? = nil) -> LintResult {
    Linter.lint(ruleFiles: [SourceFile(path: path, text: text)], config: config.map { SourceFile(path: "vigil.conf", text: $0, kind: .config) })
}

/// `code@line:col` for every diagnostic, the compact form most checker tests assert.
func codes(_ r: LintResult) -> [String] {
    r.diagnostics.map { "\($0.severity == .error ? "E" : "W"):\($0.code)@\($0.start.line):\($0.start.column)" }
}

/// The structural dump of a parsed text, or the first error message.
func dump(_ text: String, kind: SourceKind = .rules) -> String {
    let (file, diagnostics) = Parser.parse(SourceFile(path: "t.rules", text: text, kind: kind))
    if let e = diagnostics.first(where: { $0.severity == .error }) { return "error: \(e.message)" }
    return ASTDump.dump(file)
}

/// The dump of a single condition (`when` of a one-alert file).
func conditionDump(_ condition: String) -> String {
    let d = dump("alert a {\n  when \(condition)\n  severity info\n  notify slack\n}\n")
    guard d.hasPrefix("(alert a (when ") else { return d }
    let inner = d.dropFirst("(alert a (when ".count)
    guard let end = inner.range(of: ") (severity") else { return d }
    return String(inner[..<end.lowerBound])
}

/// Formats a text (which must parse without errors).
func fmt(_ text: String, kind: SourceKind = .rules) -> String {
    Formatter.format(Parser.parse(SourceFile(path: "t.rules", text: text, kind: kind)).0)
}

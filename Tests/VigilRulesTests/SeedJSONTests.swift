import Foundation
import Testing
@testable import VigilRules

struct SeedJSONTests {
    func load(_ json: String) -> (RuleFile, [Diagnostic]) {
        SeedJSON.load(SourceFile(path: "seed.json", text: json))
    }

    func alerts(_ file: RuleFile) -> [AlertRule] {
        file.statements.compactMap { if case .alert(let a) = $0 { a } else { nil } }
    }

    @Test func severityDefaultsFollowTheEscalation() {
        let (file, d) = load("""
            {"a": {"condition": "up == 0", "notification": ["pager"], "escalation": "immediate"},
             "b": {"condition": "up == 0", "notification": ["slack"], "escalation": "15min"},
             "c": {"condition": "up == 0", "notification": ["slack"], "escalation": "none"},
             "d": {"condition": "up == 0", "notification": ["slack"], "escalation": "none", "severity": "critical"}}
            """)
        #expect(d.isEmpty)
        #expect(alerts(file).map { $0.severity } == [.critical, .warning, .info, .critical])
    }

    @Test func optionalSummaryAndLabels() {
        let (file, d) = load(#"{"a": {"condition": "up == 0", "notification": "pager", "escalation": "after 5m to email", "summary": "down {{team}}", "labels": {"team": "trading"}}}"#)
        #expect(d.isEmpty)
        #expect(ASTDump.dump(file) == #"(alert a (when (== up 0.0)) (severity warning) (notify pager) (escalate 300000000000 to=[email]) (label team "trading") (summary "down {{team}}"))"#)
    }

    /// The seed's tables as JSON and the shipped rules say the same thing: same conditions,
    /// channels, escalation and severity for all 11 alerts.
    @Test func seedTablesMatchTheShippedRules() throws {
        let url = Fixtures.repoRoot.appendingPathComponent("examples/seed-tables.json")
        let seed = SourceFile(path: "examples/seed-tables.json", bytes: [UInt8](try Data(contentsOf: url)))
        let fromJSON = Linter.lint(ruleFiles: [seed])
        #expect(fromJSON.errorCount == 0)
        #expect(fromJSON.alerts.count == 11)
        let shipped = Linter.lint(ruleFiles: try Fixtures.shippedRules())
        let byName = Dictionary(uniqueKeysWithValues: shipped.alerts.map { ($0.name.name, $0) })
        for a in fromJSON.alerts {
            let rule = try #require(byName[a.name.name], "\(a.name.name) is not shipped")
            #expect(a.condition.map { ASTDump.expr($0.expr) } == rule.condition.map { ASTDump.expr($0.expr) }, "\(a.name.name)")
            #expect(a.condition?.hold?.duration.nanoseconds == rule.condition?.hold?.duration.nanoseconds)
            #expect(a.condition?.over?.nanoseconds == rule.condition?.over?.nanoseconds)
            #expect(a.channels.map(\.name) == rule.channels.map(\.name), "\(a.name.name)")
            #expect(a.escalation.map(\.delay) == rule.escalation.map(\.delay), "\(a.name.name)")
            #expect(a.severity == rule.severity, "\(a.name.name)")
        }
    }

    @Test func diagnosticsPointInsideTheJSONString() {
        // The condition starts at byte 22; the bad `>` is its 20th character.
        let json = #"{"a": {"condition": "feed_latency_p95 > > 1", "notification": ["slack"], "escalation": "none"}}"#
        let (_, d) = load(json)
        #expect(d.count == 1)
        #expect(d.first?.start == SourcePosition(line: 1, column: 41))
        #expect(d.first.map { SourceFile(path: "", text: json).text($0.range) } == ">")
    }

    @Test func escapesInsideTheStringKeepColumnsExact() {
        let json = #"{"a": {"condition": "s == \"x\" for > 5", "notification": ["slack"], "escalation": "none"}}"#
        let (_, d) = load(json)
        #expect(d.map(\.start.column) == [39])
        #expect(d.first.map { SourceFile(path: "", text: json).text($0.range) } == "5")
    }

    @Test func hostileJSONIsADiagnosticNotACrash() {
        for text in ["", "{", "{\"a\":", "[[[[", String(repeating: "[", count: 10_000), "{\"a\": {\"condition\": \"\\ud800\"}}",
                     "{\"a\": 1e999}", "nul", "{\"a\": {\"condition\": 5}}", "{\"\": {}}", "\u{FEFF}{}"] {
            let (_, d) = load(text)
            #expect(!d.isEmpty, "\(text.prefix(20))")
        }
    }
}

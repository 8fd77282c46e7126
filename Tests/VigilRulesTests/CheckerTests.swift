import Testing
@testable import VigilRules

struct CheckerTests {
    func alert(_ when: String, extra: String = "", severity: String = "warning", notify: String = "slack") -> String {
        "alert a {\n  when \(when)\n  severity \(severity)\n  notify \(notify)\n\(extra)}\n"
    }

    @Test func shippedRulesLintCleanAgainstTheDefaultsAndTheExampleConfig() throws {
        let rules = try Fixtures.shippedRules()
        let plain = Linter.lint(ruleFiles: rules)
        #expect(plain.diagnostics.isEmpty, "\(plain.diagnostics.map(DiagnosticRenderer.text))")
        #expect(plain.alerts.count == 14)  // the seed's 11 alerts, its two resource warnings, and high_latency over the histogram
        let configured = Linter.lint(ruleFiles: rules, config: try Fixtures.shippedConfig())
        #expect(configured.diagnostics.isEmpty, "\(configured.diagnostics.map(DiagnosticRenderer.text))")
    }

    @Test func unitsConvertAcrossCompatibleUnitsAndClashAcrossDimensions() {
        #expect(codes(lint("metric lat unit ms\n" + alert("lat > 2min"))) == [])
        #expect(codes(lint("metric lat unit ms\n" + alert("lat > 2min + 500ms"))) == [])
        #expect(codes(lint("metric u unit ratio\n" + alert("u > 85%"))) == [])
        #expect(codes(lint("metric lat unit ms\n" + alert("lat > 5cents"))) == ["E:unit-mismatch@3:8"])
        #expect(codes(lint("metric lat unit ms\n" + alert("lat + 5cents > 1"))) == ["E:unit-mismatch@3:8"])
        // A unitless metric against a unit literal: assumed, with the fix.
        let r = lint("metric lat\n" + alert("lat > 2000ms"))
        #expect(codes(r) == ["W:unit-assumed@3:8"])
        #expect(r.diagnostics[0].notes.map(\.message) == ["declare it: `metric lat unit ms`"])
        // Suffix units need no declaration; consts carry theirs.
        #expect(codes(lint("metric order_response_ms\nconst slow = 2s\n" + alert("order_response_ms > slow"))) == [])
        #expect(codes(lint("metric order_response_ms\nconst cheap = 5cents\n" + alert("order_response_ms > cheap"))) == ["E:unit-mismatch@4:8"])
    }

    @Test func stringsCompareOnlyForEquality() {
        #expect(codes(lint(alert("service_status == 'down'"))) == [])
        #expect(codes(lint(alert("service_status{service=\"redis\"} != \"healthy\""))) == [])
        #expect(codes(lint(alert("service_status > 'down'"))) == ["E:type-mismatch@2:8"])
        #expect(codes(lint(alert("service_status"))) == ["E:type-mismatch@2:8"])
    }

    @Test func namesResolveToMetricsConstsAndBuiltins() {
        #expect(codes(lint(alert("time_since_last_update > 30s or up == 0 or health_check{check=\"recent_data\"} == 0"))) == [])
        #expect(codes(lint(alert("mystery > 1"))) == ["W:unknown-name@2:8"])
        #expect(codes(lint("const k = 3\n" + alert("k{a=\"b\"} > 1 and up == 0"))) == ["E:type-mismatch@3:8"])
        #expect(codes(lint("event turnover labels venue\n" + alert("turnover.used > turnover.limit * 0.9"))) == [])
    }

    @Test func functionsCheckArityAndWindows() {
        let decl = "metric lat unit ms\n"
        #expect(codes(lint(decl + alert("avg(lat over 5m) > 2s and p99(lat over 1h) > 3s and rate(lat over 1m) > 0"))) == [])
        #expect(codes(lint(decl + alert("clamp(lat, 0, 5s) > 2s and abs(lat) > 1s and age(lat) > 1min and not absent(lat)"))) == [])
        #expect(codes(lint(decl + alert("avg(lat) > 2s"))) == ["E:missing-window@3:12"])
        #expect(codes(lint(decl + alert("abs(lat over 5m) > 2s"))) == ["E:unexpected-window@3:21"])
        #expect(codes(lint(decl + alert("age(5) > 2s"))) == ["E:type-mismatch@3:8", "W:constant-condition@3:8"])
        #expect(codes(lint(decl + alert("quantile(1.5, lat over 5m) > 2s"))) == ["E:bad-value@3:17"])
        #expect(codes(lint(decl + alert("count(lat over 5m) > 10"))) == [])
    }

    @Test func forOnAnEventWarnsButForOnAMetricDoesNot() {
        #expect(codes(lint("event changed\n" + alert("changed for 1m"))) == ["W:for-on-event@3:16"])
        #expect(codes(lint("event changed\nmetric x\n" + alert("changed and x > 1 for 1m"))) == ["W:for-on-event@4:26"])
        #expect(codes(lint("event changed\nmetric x\n" + alert("changed or x > 1 for 1m"))) == [])
    }

    @Test func constantConditionsAndUselessWindowsWarn() {
        #expect(codes(lint(alert("1 > 0"))) == ["W:constant-condition@2:8"])
        #expect(codes(lint(alert("true"))) == [], "`when true` is a watchdog, said on purpose")
        #expect(codes(lint(alert("false"))) == ["W:constant-condition@2:8"])
        #expect(codes(lint(alert("time_since_last_update > 30s over 5m"))) == [])
        #expect(codes(lint("metric x\n" + alert("avg(x over 5m) > 1 over 1h"))) == ["W:useless-window@3:32"])
    }

    @Test func escalationStepsAndTheirChannels() {
        #expect(codes(lint(alert("up == 0", extra: "  escalate immediate\n  escalate after 5m\n  escalate after 10m to email\n"))) == [])
        #expect(codes(lint(alert("up == 0", extra: "  escalate after 5m\n  escalate after 5m\n"))) == ["E:escalation-order@6:12"])
        #expect(codes(lint(alert("up == 0", extra: "  escalate after 5m to pagr\n"))) == ["E:unknown-channel@5:24"])
        let config = "channel slack { type slack url env:S }\nchannel ops { type webhook url \"http://127.0.0.1:1/x\" }\nescalation_target ops\n"
        #expect(codes(lint(alert("up == 0", extra: "  escalate after 5m\n"), config: config)) == [])
    }

    @Test func templatePlaceholdersAreCheckedAgainstKnownLabels() {
        let decl = "metric lat unit ms labels venue\n"
        #expect(codes(lint(decl + alert("lat > 2s", extra: "  summary \"{{venue}} {{value}} {{alert}} {{severity}} {{since}} {{threshold}}\"\n"))) == [])
        #expect(codes(lint(decl + alert("lat > 2s", extra: "  summary \"{{market}}\"\n"))) == ["W:unknown-label@6:12"])
        // The rule's own labels count; undeclared label sets are not guessed at.
        #expect(codes(lint(decl + alert("lat > 2s", extra: "  label team = \"t\"\n  summary \"{{team}}\"\n"))) == [])
        #expect(codes(lint("metric free\n" + alert("free > 1", extra: "  summary \"{{anything}}\"\n"))) == [])
        #expect(codes(lint(alert("up == 0", extra: "  summary \"{{ value }\"\n"))) == ["E:bad-template@5:12"])
    }

    @Test func unusedConstsAndInhibitions() {
        #expect(codes(lint("const used = 1\nconst spare = 2\n" + alert("time_since_last_update > used"))) == ["W:unused-const@2:7"])
        let two = alert("up == 0") + alert("time_since_last_update > 30s").replacingOccurrences(of: "alert a", with: "alert b")
        #expect(codes(lint(two + "inhibit b when a on venue\n")) == [])
        #expect(codes(lint(two + "inhibit b when c\n")) == ["E:unknown-alert@11:16"])
        #expect(codes(lint(two + "inhibit b when b\n")) == ["E:unknown-alert@11:1"])
    }

    @Test func configChannelsAndSecrets() {
        #expect(codes(lint("", config: "channel pager { type pagerduty routing_key file:/run/secrets/pd timeout 10s }\nmax_line 1mb\nmax_series 10_000\n")) == [])
        #expect(codes(lint("", config: "channel s { type slack url \"https://hooks.slack.com/services/A/B/C\" }")) == ["W:literal-secret@1:28"])
        #expect(codes(lint("", config: "channel s { type slack url \"ftp://x\" rate 0 }")) == ["E:bad-value@1:28", "E:bad-value@1:43"])
        #expect(codes(lint("", config: "channel s { type console }\nchannel s { type console }")) == ["E:duplicate-channel@2:9"])
        #expect(codes(lint("", config: "fallback nowhere\n")) == ["E:unknown-channel@1:10"])
    }

    /// An alertmanager channel lists its cluster's peers and a `resend`; nothing else takes a list.
    @Test func alertmanagerPeersResendAndExternalURL() throws {
        let good = "external_url \"http://vigil.example:9177\"\nchannel am { type alertmanager url \"http://127.0.0.1:9093\", env:AM2, \"http://127.0.0.1:9095\" resend 30s }\n"
        #expect(codes(lint("", config: good)) == [])
        #expect(codes(lint("", config: "channel s { type slack url env:A, env:B }")) == ["E:bad-value@1:35"])
        #expect(codes(lint("", config: "channel am { type alertmanager url \"http://x\" resend 10ms }")) == ["E:bad-value@1:54"])
        #expect(codes(lint("", config: "channel am { type alertmanager url \"http://x\", \"ftp://y\" }")) == ["E:bad-value@1:48"])
        #expect(codes(lint("", config: "external_url vigil\n")) == ["E:bad-value@1:14"])
        #expect(codes(lint("", config: "max_series 10, 20\n")) == ["E:bad-value@1:16"])
        // The list formats and parses back to itself.
        let file = SourceFile(path: "vigil.conf", text: good, kind: .config)
        let (parsed, errors) = Parser.parse(file)
        #expect(errors.isEmpty)
        let formatted = Formatter.format(parsed)
        #expect(formatted.contains(#"url "http://127.0.0.1:9093", env:AM2, "http://127.0.0.1:9095""#), "\(formatted)")
        #expect(ASTDump.dump(Parser.parse(SourceFile(path: "vigil.conf", text: formatted, kind: .config)).0) == ASTDump.dump(parsed))
    }

    /// The smtp channel: its keys (with the closest for a typo), a smarthost needs its port, a
    /// literal password warns, and a login without TLS to another host warns.
    @Test func smtpChannels() {
        let base = #"channel m { type smtp smarthost "mail.example.com:587" from "v@example.com" to "a@example.com", "b@example.com""#
        #expect(codes(lint("", config: base + " auth_username \"v\" auth_password env:SMTP_PASSWORD }")) == [])
        #expect(codes(lint("", config: base + " auth_pasword env:P }")) == ["E:unknown-key@1:113"])
        #expect(lint("", config: base + " auth_pasword env:P }").diagnostics.first?.fixIt == "auth_password")
        #expect(codes(lint("", config: #"channel m { type smtp smarthost "mail.example.com" from "v@x" to "a@x" }"#)) == ["E:bad-value@1:33"])
        #expect(codes(lint("", config: base + " auth_username \"v\" auth_password \"hunter2\" }")) == ["W:literal-secret@1:145"])
        #expect(codes(lint("", config: base + " require_tls false auth_username \"v\" auth_password env:P }")) == ["W:insecure-auth@1:125"])
        #expect(codes(lint("", config: #"channel m { type smtp smarthost "127.0.0.1:25" from "v@x" to "a@x" require_tls false auth_username "v" auth_password env:P }"#)) == [])
        #expect(codes(lint("", config: #"channel m { type smtp from "v@x" }"#)) == ["E:missing-clause@1:9", "E:missing-clause@1:9"])
    }

    @Test func duplicateDeclarationsPointAtTheFirst() {
        let r = lint("const a = 1\nconst a = 2\nmetric m\nmetric m\n" + alert("m > a"))
        #expect(codes(r) == ["E:duplicate-const@2:7", "E:duplicate-metric@4:8"])
        #expect(r.diagnostics[0].notes.first?.location.map { $0.file.position(of: $0.range.start) } == SourcePosition(line: 1, column: 7))
    }
}

struct TemplateRangeTests {
    /// Invalid UTF-8 in a summary used to shift the template's offsets (a String of it holds
    /// three bytes per replaced byte), putting the diagnostic past the end of the file.
    @Test func aBrokenTemplateAfterInvalidUTF8PointsInsideTheFile() {
        let bytes = Array("metric x\nalert a { when x > 1; severity info; notify slack; summary \"".utf8) + [0xE3, 0xE3, 0xE3, 0xE3]
            + Array(" {{value\" }\n".utf8)
        let r = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", bytes: bytes)])
        let template = r.diagnostics.first { $0.code == "bad-template" }
        #expect(template != nil)
        #expect(template.map { $0.range.start >= 0 && $0.range.end <= bytes.count } == true)
        #expect(template.map { Array(bytes[$0.range.start..<$0.range.start + 2]) } == Array("{{".utf8))
    }
}

struct ChannelRateTests {
    /// `rate 1e-300` made Slack's pacing interval 1e309 ns, and Int64 of it trapped.
    @Test func rateIsBetweenAThousandthAndAThousandPerSecond() {
        for (rate, ok) in [("1", true), ("0.001", true), ("1000", true), ("0.0001", false), ("1e-300", false), ("1001", false)] {
            let r = lint("", config: "channel slack { type slack url env:X rate \(rate) }\n")
            #expect((r.errorCount == 0) == ok, "rate \(rate): \(r.diagnostics.map(\.message))")
        }
    }
}

import Testing
@testable import VigilRules

struct ParserTests {
    /// Every condition of the seed's alert tables parses exactly as written (SPEC §1.1).
    @Test(arguments: [
        ("service_status == 'down' for > 30s", #"(== service_status "down") for=>30000000000"#),
        ("schema_validation_errors > 0", "(> schema_validation_errors 0.0)"),
        ("position_exposure > max_limit * 1.1", "(> position_exposure (* max_limit 1.1))"),
        ("daily_loss > max_daily_loss", "(> daily_loss max_daily_loss)"),
        ("feed_latency_p95 > 2000ms for > 2min", "(> feed_latency_p95 2000.0ms) for=>120000000000"),
        ("position_utilization > 0.85", "(> position_utilization 0.85)"),
        ("fill_rate < 0.7 over 1hour", "(< fill_rate 0.7) over=3600000000000"),
        ("time_since_last_update > 30s", "(> time_since_last_update 30.0s)"),
        ("new_arbitrage_edge > threshold", "(> new_arbitrage_edge threshold)"),
        ("spec_validation_changed", "spec_validation_changed"),
        ("daily_pnl > milestone_threshold", "(> daily_pnl milestone_threshold)"),
    ])
    func seedConditions(_ condition: String, _ expected: String) {
        #expect(conditionDump(condition) == expected)
    }

    @Test func precedenceAndAssociativity() {
        #expect(conditionDump("a + b * c > d - e - f") == "(> (+ a (* b c)) (- (- d e) f))")
        #expect(conditionDump("a > 1 or b > 2 and not c") == "(or (> a 1.0) (and (> b 2.0) (not c)))")
        #expect(conditionDump("(a or b) and c") == "(and (or a b) c)")
        #expect(conditionDump("-a * -2 < 3") == "(< (* (- a) (- 2.0)) 3.0)")
        #expect(conditionDump("not not a") == "(not (not a))")
    }

    @Test func callsWindowsAndSelectors() {
        #expect(conditionDump("avg(feed_latency_p95{venue=\"kalshi\"} over 5m) > 2s") ==
                #"(> (avg feed_latency_p95{venue="kalshi"} over=300000000000) 2.0s)"#)
        #expect(conditionDump("quantile(0.99, x over 1h) > 1") == "(> (quantile 0.99 x over=3600000000000) 1.0)")
        #expect(conditionDump("daily_turnover_check.used > daily_turnover_check.limit * 0.9") ==
                "(> daily_turnover_check.used (* daily_turnover_check.limit 0.9))")
        #expect(conditionDump("x{a!=\"1\", b=~'k.*', c!~\"p\"} == 1") == #"(== x{a!="1",b=~"k.*",c!~"p"} 1.0)"#)
        #expect(conditionDump("absent(up) or age(feed_latency_p95) > 1min") == "(or (absent up) (> (age feed_latency_p95) 1.0min))")
        #expect(conditionDump("service_status == \"down\" for 30s") == #"(== service_status "down") for=30000000000"#)
        #expect(conditionDump("x > 1 for >= 1h30m") == "(> x 1.0) for=>=5400000000000")
    }

    @Test func oneLineBlocksSeparateClausesBySemicolonOrKeyword() {
        let a = dump("alert a { when x > 1; severity info; notify slack }")
        let b = dump("alert a {\n  notify slack\n  severity info\n  when x > 1\n}")
        let c = dump("alert a { notify slack severity info; when x > 1 }")
        #expect(a == "(alert a (when (> x 1.0)) (severity info) (notify slack))")
        #expect(a == b)
        #expect(a == c)
    }

    @Test func everyClauseForm() {
        let text = """
        alert a {
          when        x > 1
          severity    warning
          notify      slack, email
          escalate    after 15min to pager
          escalate    1hour
          escalate    after 2h to pager, email
          repeat      every 1h
          resolve     after 1min
          group       by venue, market wait 5s
          label       team = "trading"
          summary     "{{venue}}: {{value}}"
          description 'long'
          runbook     "https://runbooks.example/a"
        }
        """
        #expect(dump(text) == """
            (alert a (when (> x 1.0)) (severity warning) (notify slack,email) (escalate 900000000000 to=[pager]) \
            (escalate 3600000000000 to=[]) (escalate 7200000000000 to=[pager,email]) (repeat 3600000000000) \
            (resolve 60000000000) (group by=[venue,market] wait=5000000000) (label team "trading") \
            (summary "{{venue}}: {{value}}") (description "long") (runbook "https://runbooks.example/a"))
            """)
        #expect(dump("alert a { when x; severity info; notify s; repeat never; escalate none }") ==
                "(alert a (when x) (severity info) (notify s) (escalate none) (repeat never))")
        #expect(dump("alert a { when x; severity critical; notify s; escalate immediate; group wait 1s }") ==
                "(alert a (when x) (severity critical) (notify s) (escalate immediate) (group by=[] wait=1000000000))")
    }

    @Test func declarations() {
        #expect(dump("const max_daily_loss = 50_000\nconst neg = -5ms\nmetric feed_latency_p95 unit ms labels venue\nevent spec_changed labels market\nmetric e.field unit cents\ninhibit stale_data when service_down on venue") == """
            (const max_daily_loss 50000.0)
            (const neg -5.0ms)
            (metric feed_latency_p95 unit=ms labels=[venue])
            (event spec_changed labels=[market])
            (metric e.field unit=cents)
            (inhibit stale_data service_down on=[venue])
            """)
    }

    @Test func configSyntaxOfSpecSection2() {
        let text = """
        channel slack  { type slack      url env:SLACK_WEBHOOK_URL }
        channel pager  { type pagerduty  routing_key env:PAGERDUTY_ROUTING_KEY }
        channel email  { type email      url env:EMAIL_WEBHOOK_URL  to "oncall@example.com" }
        channel hook   { type webhook    url "http://127.0.0.1:8080/alerts" }
        channel am     { type alertmanager url "http://127.0.0.1:9093" }
        channel out    { type console }
        escalation_target pager
        fallback slack            # where delivery failures of other channels are reported
        stale_after 5m
        """
        #expect(dump(text, kind: .config) == """
            (channel slack (type slack) (url secret:env:SLACK_WEBHOOK_URL))
            (channel pager (type pagerduty) (routing_key secret:env:PAGERDUTY_ROUTING_KEY))
            (channel email (type email) (url secret:env:EMAIL_WEBHOOK_URL) (to "oncall@example.com"))
            (channel hook (type webhook) (url "http://127.0.0.1:8080/alerts"))
            (channel am (type alertmanager) (url "http://127.0.0.1:9093"))
            (channel out (type console))
            (set escalation_target pager)
            (set fallback slack)
            (set stale_after 5.0min)
            """)
    }

    @Test func recoveryReportsEveryBrokenClauseAndKeepsTheRest() {
        let text = """
        alert a {
          when      x >
          severity  loud
          notify    slack
        }
        alert b {
          when      y > 1 for
          severity  info
          notify    slack
        }
        const c = 5
        """
        let (file, diagnostics) = Parser.parse(SourceFile(path: "t.rules", text: text))
        #expect(diagnostics.map { "\($0.start.line):\($0.start.column)" } == ["2:16", "3:13", "7:22"])
        #expect(file.statements.count == 3)
        if case .alert(let b) = file.statements[1] {
            #expect(b.severity == .info)
            #expect(b.brokenClauses == ["when"])
        } else {
            Issue.record("second statement should be alert b")
        }
    }

    @Test func rangesPointAtTheSource() throws {
        let text = "alert a {\n  when feed_latency_p95 > 2000ms for > 2min\n  severity info\n  notify slack\n}\n"
        let source = SourceFile(path: "t.rules", text: text)
        let (file, _) = Parser.parse(source)
        guard case .alert(let a) = file.statements[0], let c = a.condition else { Issue.record("no alert"); return }
        #expect(source.text(c.range) == "feed_latency_p95 > 2000ms for > 2min")
        #expect(source.text(c.expr.range) == "feed_latency_p95 > 2000ms")
        #expect(source.text(try #require(c.hold).range) == "for > 2min")
        #expect(source.text(a.range) == String(text.dropLast()))
        #expect(source.position(of: c.range.start) == SourcePosition(line: 2, column: 8))
    }
}

struct DurationLimitTests {
    private func messages(_ text: String, kind: SourceKind = .rules) -> [String] {
        Parser.parse(SourceFile(path: "t", text: text, kind: kind)).1.map(\.message)
    }

    @Test func repeatEveryZeroIsAnErrorNotAHang() {
        // It made the router step its next repeat by 0 forever.
        #expect(messages("alert a { when x > 1; severity info; notify slack; repeat every 0s }\n")
                == ["`repeat every` needs a duration longer than 0 (or `repeat never`)"])
    }

    @Test func durationsBeyond3650DaysAreErrorsNamingTheLimit() {
        #expect(messages("alert a { when x > 1 for 100000d; severity info; notify slack }\n")
                == ["a duration cannot be longer than 3650d, found `100000d`"])
        #expect(messages("alert a { when x > 1 for 3650d; severity info; notify slack }\n") == [])
        #expect(Quantity.positiveDuration("100000d", field: "for", example: "2h").failureMessage
                == "`for` is longer than the longest duration vigil takes (3650d)")
        #expect(Quantity.positiveDuration("0s", field: "for", example: "2h").failureMessage == "`for` must be longer than 0")
        #expect(Quantity.positiveDuration("2 cents", field: "for", example: "2h").failureMessage == "`for` must be a duration like 2h")
        #expect((try? Quantity.positiveDuration("2h", field: "for", example: "2h").get()) == 7_200_000_000_000)
    }

    @Test func aConfigDurationBeyondTheLimitIsNamed() {
        let lint = Linter.lint(ruleFiles: [], config: SourceFile(path: "vigil.conf", text: "stale_after 100000d\n", kind: .config))
        #expect(lint.diagnostics.map(\.message) == ["`stale_after` is longer than the longest duration vigil takes (3650d)"])
    }
}

extension Result where Failure == QuantityError {
    var failureMessage: String? {
        if case .failure(let e) = self { return e.message }
        return nil
    }
}

import Testing
@testable import VigilRules

struct FormatterTests {
    @Test func messyInputBecomesCanonical() {
        let messy = """
        # header comment

        metric   lat unit ms   # latency
        const  limit=5_000dollars
        alert   high_latency{notify slack;severity warning ; when lat>2000ms for>2min}
        alert b {   # about b
          summary 'x'
            when (lat > 1s) and (up == 0)  # both
          severity info
          notify slack,email
          # trailing thoughts
        }
        inhibit b when high_latency
        """
        #expect(fmt(messy) == """
            # header comment

            metric lat unit ms  # latency
            const limit = 5_000dollars

            alert high_latency {
              when      lat > 2000ms for > 2min
              severity  warning
              notify    slack
            }

            alert b {  # about b
              when      lat > 1s and up == 0  # both
              severity  info
              notify    slack, email
              summary   'x'
              # trailing thoughts
            }

            inhibit b when high_latency

            """)
    }

    @Test func parenthesesOnlyWhereTheTreeNeedsThem() {
        func f(_ c: String) -> String {
            let (file, _) = Parser.parse(SourceFile(path: "t", text: "alert a { when \(c); severity info; notify s }"))
            guard case .alert(let a) = file.statements[0], let cond = a.condition else { return "?" }
            return Formatter.format(cond)
        }
        #expect(f("((a + b)) * c > 1") == "(a + b) * c > 1")
        #expect(f("a + (b * c) > 1") == "a + b * c > 1")
        #expect(f("a - (b - c) > 1") == "a - (b - c) > 1")
        #expect(f("(a - b) - c > 1") == "a - b - c > 1")
        #expect(f("not (a and b)") == "not (a and b)")
        #expect(f("(not a) and b") == "not a and b")
        #expect(f("-(a + b) < 1") == "-(a + b) < 1")
        #expect(f("(a > 1) == (b > 2)") == "(a > 1) == (b > 2)")
        #expect(f("a or (b or c)") == "a or (b or c)")
        #expect(f("avg(x{v=\"k\"} over 5m)>1 over 1h for >= 30s") == "avg(x{v=\"k\"} over 5m) > 1 over 1h for >= 30s")
    }

    @Test func trailingCommentsAlignInRuns() {
        #expect(fmt("const a = 1 # one\nconst bbbbbb = 2 # two\n\nconst c = 3 # three\n") ==
                "const a = 1       # one\nconst bbbbbb = 2  # two\n\nconst c = 3  # three\n")
    }

    @Test func channelRunsAlignLikeTheSpec() {
        let config = "channel slack { type slack url env:S }\nchannel pager { type pagerduty routing_key env:P }\nchannel out { type console }\n"
        #expect(fmt(config, kind: .config) == """
            channel slack { type slack     url env:S }
            channel pager { type pagerduty routing_key env:P }
            channel out   { type console }

            """)
        // A channel with comments inside keeps them, one setting per line.
        #expect(fmt("channel s {\n type slack # kind\n url env:S\n}\n", kind: .config) ==
                "channel s {\n  type slack  # kind\n  url  env:S\n}\n")
    }

    @Test func literalsKeepTheirSpelling() {
        #expect(fmt("const a = 50_000\nconst b = 1h30m\nconst c = 1e6\n") == "const a = 50_000\nconst b = 1h30m\nconst c = 1e6\n")
        let a = "alert a {\n  when      s == 'it\\'s'\n  severity  info\n  notify    slack\n  escalate  15min\n}\n"
        #expect(fmt(a) == a)
    }

    @Test func emptyAndCommentOnlyFiles() {
        #expect(fmt("") == "")
        #expect(fmt("\n\n") == "")
        #expect(fmt("# only\n\n\n# comments\n") == "# only\n\n# comments\n")
    }
}

import Foundation
import Testing
@testable import VigilCLI

/// Recordings written on the fly: `line(at: seconds, json)` stamps a line from 2025-01-15T14:00:00Z.
func stamped(_ seconds: Double, _ body: String) -> String {
    let base: Int64 = 1_736_949_600_000_000_000
    return "{\"timestamp_ns\":\(base + Int64((seconds * 1e9).rounded())),\(body)}"
}

struct ReplayTests {
    func replay(_ rules: String, _ recordings: [[String]], _ extra: [String] = []) -> (Int32, [String]) {
        let s = Scratch()
        let rulesPath = s.write(rules.hasPrefix("{") ? "r.json" : "r.rules", rules)
        let files = recordings.enumerated().map { s.write("rec\($0.offset).ndjson", $0.element.joined(separator: "\n") + "\n") }
        let r = vigil(["replay", "--rules", rulesPath] + files + ["--format", "json"] + extra)
        return (r.status, r.out.split(separator: "\n").map(String.init).filter { $0.contains("\"state\"") })
    }

    /// The notify records of a replay.
    func notifications(_ rules: String, _ lines: [String], _ extra: [String] = []) -> [String] {
        let s = Scratch()
        let rulesPath = s.write("r.rules", rules)
        let file = s.write("rec.ndjson", lines.joined(separator: "\n") + "\n")
        let r = vigil(["replay", "--rules", rulesPath, file, "--format", "json"] + extra)
        return r.out.split(separator: "\n").map(String.init).filter { $0.contains("\"notify\"") }
    }

    func vigil(_ args: [String]) -> (status: Int32, out: String, err: String) {
        let t = CapturedTerminal()
        let status = CLI.run(args, terminal: t)
        return (status, t.stdout, t.stderr)
    }

    @Test func forTwoMinutesFiresExactlyAtTZeroPlus120s() {
        let lines = (0...30).map { stamped(Double($0) * 10 + 5, #""metric":"lat","labels":{"venue":"kalshi"},"value":2500"#) }
        let (status, out) = replay("metric lat unit ms labels venue\nalert high { when lat > 2000ms for 2min; severity warning; notify slack }", [lines])
        #expect(status == 0)
        #expect(out == [
            #"{"at":"2025-01-15T14:00:05Z","alert":"high","labels":{"venue":"kalshi"},"state":"pending","value":2500}"#,
            #"{"at":"2025-01-15T14:02:05Z","alert":"high","labels":{"venue":"kalshi"},"state":"firing","value":2500}"#,
        ])
    }

    @Test func resolveAfterHolds() {
        let lines = [stamped(0, #""metric":"x","value":5"#), stamped(10, #""metric":"x","value":0"#), stamped(100, #""metric":"x","value":0"#)]
        let (_, out) = replay("metric x\nalert a { when x > 1; severity info; notify slack; resolve after 1min }", [lines])
        #expect(out == [
            #"{"at":"2025-01-15T14:00:00Z","alert":"a","labels":{},"state":"firing","value":5}"#,
            #"{"at":"2025-01-15T14:01:10Z","alert":"a","labels":{},"state":"resolved","value":0}"#,
        ])
    }

    @Test func aStaleSeriesResolvesAfterStaleAfterWhenUntilRunsTheClock() {
        let lines = [stamped(0, #""metric":"x","labels":{"v":"1"},"value":5"#)]
        let rules = "metric x labels v\nalert a { when x > 1; severity info; notify slack }"
        #expect(replay(rules, [lines]).1.count == 1)
        let (_, out) = replay(rules, [lines], ["--until", "10m"])
        #expect(out.last == #"{"at":"2025-01-15T14:05:00Z","alert":"a","labels":{"v":"1"},"state":"resolved","value":5}"#)
    }

    @Test func timeSinceLastUpdateFires30sAfterTheLastMessage() {
        let lines = [stamped(0, #""metric":"x","value":1"#), stamped(20, #""metric":"x","value":1"#)]
        let (_, out) = replay("metric x\nalert stale { when time_since_last_update > 30s; severity warning; notify slack }", [lines], ["--until", "1m"])
        #expect(out == [#"{"at":"2025-01-15T14:00:50.000000001Z","alert":"stale","labels":{},"state":"firing","value":30.000000001}"#])
    }

    @Test func recordingsMergeByTimestamp() {
        let a = [stamped(0, #""metric":"x","labels":{"f":"a"},"value":5"#), stamped(20, #""metric":"x","labels":{"f":"a"},"value":0"#)]
        let b = [stamped(10, #""metric":"x","labels":{"f":"b"},"value":5"#), stamped(30, #""metric":"x","labels":{"f":"b"},"value":0"#)]
        let (_, out) = replay("metric x labels f\nalert a { when x > 1; severity info; notify slack }", [a, b])
        let events = out.map { line -> String in
            let at = line.components(separatedBy: "T14:00:")[1].prefix(3)
            let state = line.components(separatedBy: "\"state\":\"")[1].prefix { $0 != "\"" }
            let file = line.components(separatedBy: "\"f\":\"")[1].prefix(1)
            return "\(at) \(file) \(state)"
        }
        #expect(events == ["00Z a firing", "10Z b firing", "20Z a resolved", "30Z b resolved"])
    }

    @Test func seedShapeJSONRulesAreAccepted() {
        let lines = [stamped(0, #""metric":"fill_rate","value":0.5"#)]
        let (status, out) = replay(#"{"low_fill_rate": {"condition": "fill_rate < 0.7 over 1hour", "notification": ["slack"], "escalation": "1hour"}}"#, [lines])
        #expect(status == 0)
        #expect(out == [#"{"at":"2025-01-15T14:00:00Z","alert":"low_fill_rate","labels":{},"state":"firing","value":0.5}"#])
    }

    @Test func notifyRecordsFollowTheSpec() {
        // A sample every 4 minutes (inside stale_after), over the threshold until 20 minutes.
        let lines = stride(from: 0, through: 1200, by: 240).map { t in
            stamped(Double(t), "\"metric\":\"lat\",\"labels\":{\"venue\":\"kalshi\"},\"value\":\(t < 1200 ? 2500 : 100)")
        }
        let out = notifications("metric lat unit ms labels venue\nalert high { when lat > 2000ms; severity warning; notify slack; escalate after 15min to pager }", lines)
        #expect(out == [
            #"{"at":"2025-01-15T14:00:00Z","notify":"slack","alert":"high","labels":{"venue":"kalshi"},"kind":"firing","step":0}"#,
            #"{"at":"2025-01-15T14:15:00Z","notify":"pager","alert":"high","labels":{"venue":"kalshi"},"kind":"escalation","step":1}"#,
            #"{"at":"2025-01-15T14:20:00Z","notify":"slack","alert":"high","labels":{"venue":"kalshi"},"kind":"resolved","step":0}"#,
            #"{"at":"2025-01-15T14:20:00Z","notify":"pager","alert":"high","labels":{"venue":"kalshi"},"kind":"resolved","step":0}"#,
        ])
    }

    @Test func notificationsCarryTheEnginesTimeEvenWhenTheNextLineIsLater() {
        // The series goes stale at 14:05; the next line comes at 14:20.
        let lines = [stamped(0, #""metric":"x","value":5"#), stamped(1200, #""metric":"y","value":1"#)]
        let out = notifications("metric x\nmetric y\nalert a { when x > 1; severity info; notify slack }", lines)
        #expect(out.last == #"{"at":"2025-01-15T14:05:00Z","notify":"slack","alert":"a","labels":{},"kind":"resolved","step":0}"#)
    }

    /// The config's `stale_after` is the engine's: with `stale_after 2m` the series goes stale
    /// at 14:02, not at the default 14:05.
    @Test func theConfigsStaleAfterIsUsed() {
        let s = Scratch()
        let rules = s.write("r.rules", "metric x\nmetric y\nalert a { when x > 1; severity info; notify slack }\n")
        let conf = s.write("vigil.conf", "channel slack { type console }\nescalation_target slack\nstale_after 2m\n")
        let rec = s.write("rec.ndjson", [stamped(0, #""metric":"x","value":5"#), stamped(1200, #""metric":"y","value":1"#)].joined(separator: "\n") + "\n")
        let r = vigil(["replay", "--rules", rules, "--config", conf, rec, "--format", "json"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.split(separator: "\n").last { $0.contains("\"resolved\"") && $0.contains("\"notify\"") }
                == #"{"at":"2025-01-15T14:02:00Z","notify":"slack","alert":"a","labels":{},"kind":"resolved","step":0}"#)
    }

    @Test func textFormatSummarisesPerRuleAndCountsRejects() {
        let s = Scratch()
        let rec = s.write("r.ndjson", [stamped(0, #""metric":"x","value":5"#), "garbage", stamped(60, #""metric":"x","value":0"#)].joined(separator: "\n"))
        let rules = s.write("r.rules", "metric x\nalert a { when x > 1; severity info; notify slack }\n")
        let r = vigil(["replay", "--rules", rules, rec])
        #expect(r.out == """
            2025-01-15T14:00:00Z  firing   a{}  value=5
            2025-01-15T14:00:00Z  notify   slack firing: a{}
            2025-01-15T14:01:00Z  resolved a{}  value=0
            2025-01-15T14:01:00Z  notify   slack resolved: a{}

            summary: 3 lines replayed, rejected: not_json=1
              a: fired 1 time, firing for 1m; notifications: slack 2

            """)
    }

    @Test func rulesWithErrorsAreRefused() {
        let s = Scratch()
        let rules = s.write("r.rules", "alert a { when x >; severity info; notify slack }\n")
        let rec = s.write("r.ndjson", "")
        let r = vigil(["replay", "--rules", rules, rec])
        #expect(r.status == 1)
        #expect(r.err.hasSuffix("error: the rules have 1 error; fix them first (vigil lint)\n"))
    }

    @Test func theShippedRuleTestsPass() {
        let r = vigil(["test", path("rules/tests")])
        #expect(r.status == 0)
        #expect(r.out.hasSuffix("44 cases: 44 passed, 0 failed\n"))
    }

    @Test func aWrongNotifyExpectationFailsAndSaysWhatHappened() {
        let s = Scratch()
        _ = s.write("a.rules", "metric x\nalert a { when x > 1; severity warning; notify slack; escalate after 15min to pager }\n")
        try? FileManager.default.createDirectory(at: s.url.appendingPathComponent("tests"), withIntermediateDirectories: true)
        let test = s.write("tests/a.test", """
            case wrong channel
            series x every 1m: 5x20
            expect at 15m: notify email escalation a
            """)
        let r = vigil(["test", test])
        #expect(r.status == 1)
        #expect(r.out.contains("expected notify email escalation a\n  actual: at 0s slack firing\n  actual: at 15m pager escalation step 1\n"))
    }

    /// The seed's tables never declare `spec_validation_changed`; the stream sends it as an
    /// event line, so `market_changes` is an event alert: notified once, never "resolved".
    @Test func theSeedTablesSendNoResolvedForEventRules() {
        let r = vigil(["replay", "--rules", path("examples/seed-tables.json"), path("examples/recordings/incident.ndjson"), "--until", "10min"])
        #expect(r.status == 0)
        #expect(r.out.contains(#"notify   slack firing: market_changes{market="FED-25MAR19", service="normalizer"}"#))
        #expect(!r.out.contains("resolved: market_changes"), "\(r.out)")
    }

    @Test func theExampleIncidentReplays() {
        let r = vigil(["replay", "--rules", path("rules"), path("examples/recordings/incident.ndjson"), "--until", "2min", "--format", "json"])
        #expect(r.status == 0)
        let firing = r.out.split(separator: "\n").filter { $0.contains("\"state\":\"firing\"") }.map { line -> String in
            let alert = line.components(separatedBy: "\"alert\":\"")[1].prefix { $0 != "\"" }
            return String(alert)
        }
        #expect(firing == ["service_down", "high_latency", "approaching_limits", "market_changes", "stale_data"])
    }
}

extension ReplayTests {
    /// The issue's ratio rule over a steady 3 s latency, `_sum` and `_count` written as two
    /// lines per second: it fires once and never flaps. And two gauges that move together never
    /// seem apart (line by line, they did at every step).
    @Test func theLinesOfOneTimestampAreOneInstant() {
        var lines: [String] = []
        for n in 1...180 {
            lines.append(stamped(Double(n), #""metric":"feed_latency_seconds_sum","value":\#(3 * n)"#))
            lines.append(stamped(Double(n), #""metric":"feed_latency_seconds_count","value":\#(n)"#))
        }
        let ratio = """
            metric feed_latency_seconds_sum
            metric feed_latency_seconds_count
            alert slow_feed { when rate(feed_latency_seconds_sum over 1min) / rate(feed_latency_seconds_count over 1min) > 2; severity warning; notify slack }
            """
        let (status, out) = replay(ratio, [lines])
        #expect(status == 0)
        #expect(out.count == 1, "\(out)")
        #expect(out.first?.contains(#""state":"firing""#) == true)

        let together = (1...10).flatMap { n in
            [stamped(Double(n), #""metric":"orders_sent","value":\#(n)"#), stamped(Double(n), #""metric":"orders_acked","value":\#(n)"#)]
        }
        let skew = "metric orders_sent\nmetric orders_acked\nalert unacked { when orders_sent - orders_acked > 0; severity warning; notify slack }"
        #expect(replay(skew, [together]).1 == [])
    }
}

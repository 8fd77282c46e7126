import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules

let minute: Int64 = 60_000_000_000

/// A core over rule text (and an optional config), fed metric samples at minutes from t = 0;
/// `log` lists the notifications its steps returned as `MIN channel kind[step] alert{labels}`.
final class RouteRig {
    let core: Core
    var engine: Engine { core.engine }
    var router: Router { core.router }
    private(set) var notifications: [AlertNotification] = []

    init(_ rules: String, config: String? = nil) {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: rules)],
                               config: config.map { SourceFile(path: "vigil.conf", text: $0, kind: .config) })
        precondition(lint.errorCount == 0, "\(lint.diagnostics.map(DiagnosticRenderer.text))")
        var engineConfig = EngineConfig()
        engineConfig.staleAfter = 24 * 60 * minute // these tests send a sample, then run the clock for hours
        core = Core(rules: lint, config: (try? AlertingConfig.load(lint.config, resolveSecrets: false)) ?? .defaults,
                    engine: engineConfig, start: Instant(nanoseconds: 0))
    }

    func at(_ minutes: Double) -> Instant { Instant(nanoseconds: Int64(minutes * Double(minute))) }

    func metric(_ minutes: Double, _ name: String, _ value: Double, _ labels: String = "{}") {
        line(minutes, "{\"timestamp_ns\":\(at(minutes).nanoseconds),\"metric\":\"\(name)\",\"labels\":\(labels),\"value\":\(value)}")
    }

    /// One stream line arriving at `minutes`; it must be taken.
    func line(_ minutes: Double, _ text: String) {
        let out = step([.lines(LineBatch([text]))], at: at(minutes))
        precondition(out.rejects.isEmpty, "rejected: \(out.rejects)")
    }

    @discardableResult
    func step(_ inputs: [Core.Input], at t: Instant) -> Core.Output {
        let out = core.step(inputs, at: t)
        notifications += out.notifications
        return out
    }

    /// Acknowledges through the core; whether it took the ack.
    @discardableResult
    func ack(_ fp: String, at t: Instant, for duration: Int64? = nil) -> Bool {
        step([.command(.ack(fingerprint: fp, for: duration))], at: t).replies == [.ok(fp)]
    }

    func run(to minutes: Double) { step([], at: at(minutes)) }

    var log: [String] {
        notifications.flatMap { n in
            n.alerts.map { a in
                let m = Double(n.at.nanoseconds) / Double(minute)
                let labels = a.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ",")
                return "\(formatNumber(m)) \(n.channel) \(n.kind.rawValue)\(n.step > 0 ? "[\(n.step)]" : "") \(a.name){\(labels)}"
            }
        }
    }
}

struct RouterTests {
    @Test func warningGoesToSlackThenPagesAfterFifteenMinutesUnacked() {
        let rig = RouteRig("metric lat unit ms\nalert high { when lat > 2s; severity warning; notify slack; escalate after 15min to pager }")
        rig.metric(0, "lat", 3000)
        rig.run(to: 14.99)
        #expect(rig.log == ["0 slack firing high{}"])
        rig.run(to: 15)
        #expect(rig.log == ["0 slack firing high{}", "15 pager escalation[1] high{}"])
    }

    @Test func anAckAtTenMinutesStopsTheFifteenMinutePage() {
        let rig = RouteRig("metric lat unit ms\nalert high { when lat > 2s; severity warning; notify slack; escalate after 15min to pager }")
        rig.metric(0, "lat", 3000)
        rig.run(to: 10)
        let fps = rig.router.firing(alert: "high", labels: [])
        #expect(fps.count == 1)
        #expect(rig.ack(fps.first ?? "", at: rig.at(10)))
        rig.run(to: 60)
        #expect(rig.log == ["0 slack firing high{}"])
    }

    @Test func anAckThatExpiresLetsTheDueStepThrough() throws {
        let rig = RouteRig("metric x\nalert a { when x > 1; severity critical; notify slack; escalate after 15min to pager; repeat never }")
        rig.metric(0, "x", 5)
        let fp = try #require(rig.router.firing(alert: "a", labels: []).first)
        #expect(rig.ack(fp, at: rig.at(10), for: 10 * minute))
        rig.run(to: 19.9)
        #expect(rig.log == ["0 slack firing a{}"])
        rig.run(to: 20)
        #expect(rig.log == ["0 slack firing a{}", "20 pager escalation[1] a{}"])
    }

    @Test func immediatePagesAtFiringExactlyOnce() {
        let rig = RouteRig("metric x\nalert a { when x > 1; severity critical; notify slack; escalate immediate; repeat never }\n"
                           + "alert b { when x > 1; severity critical; notify pager, slack; escalate immediate; repeat never }")
        rig.metric(0, "x", 5)
        rig.run(to: 120)
        #expect(rig.log == ["0 slack firing a{}", "0 pager escalation[1] a{}", "0 pager firing b{}", "0 slack firing b{}"])
    }

    @Test func noneNeverEscalates() {
        let rig = RouteRig("metric x\nalert a { when x > 1; severity info; notify slack; escalate none }")
        rig.metric(0, "x", 5)
        rig.run(to: 23 * 60)
        #expect(rig.log == ["0 slack firing a{}"])
    }

    @Test func repeatReNotifiesWhileFiringAndDefaultsBySeverity() {
        let rig = RouteRig("metric x\nalert a { when x > 1; severity warning; notify slack; repeat every 1h }\n"
                           + "alert c { when x > 1; severity critical; notify slack }")
        rig.metric(0, "x", 5)
        rig.run(to: 150)
        #expect(rig.log == ["0 slack firing a{}", "0 slack firing c{}", "60 slack repeat[1] a{}", "60 slack repeat[1] c{}",
                            "120 slack repeat[2] a{}", "120 slack repeat[2] c{}"])
        rig.metric(150, "x", 0)
        rig.run(to: 300)
        #expect(rig.log.suffix(2) == ["150 slack resolved a{}", "150 slack resolved c{}"])
    }

    @Test func seedShorthandsGoToTheEscalationTarget() {
        let config = "channel slack { type slack url env:S }\nchannel ops { type webhook url \"http://127.0.0.1:1/x\" }\nescalation_target ops\n"
        let rig = RouteRig("metric x\nalert a { when x > 1; severity warning; notify slack; escalate 2min }\n"
                           + "alert b { when x > 1; severity warning; notify slack; escalate 30min }\n"
                           + "alert c { when x > 1; severity warning; notify slack; escalate 1hour }", config: config)
        rig.metric(0, "x", 5)
        rig.run(to: 61)
        #expect(rig.log == ["0 slack firing a{}", "0 slack firing b{}", "0 slack firing c{}",
                            "2 ops escalation[1] a{}", "30 ops escalation[1] b{}", "60 ops escalation[1] c{}"])
    }

    @Test func resolvedGoesToEveryChannelNotified() {
        let rig = RouteRig("metric x\nalert a { when x > 1; severity warning; notify slack; escalate after 5min to pager, email }")
        rig.metric(0, "x", 5)
        rig.metric(10, "x", 0)
        #expect(rig.log == ["0 slack firing a{}", "5 pager escalation[1] a{}", "5 email escalation[1] a{}",
                            "10 slack resolved a{}", "10 pager resolved a{}", "10 email resolved a{}"])
    }

    @Test func aSilenceMutesAndItsEndReleasesTheFirstNotification() {
        let rig = RouteRig("metric x labels venue\nalert a { when x > 1; severity warning; notify slack }")
        let matchers = (try? LabelMatcher.parseList(#"alertname="a", venue=~"kal.*""#).get()) ?? []
        rig.router.add(Silence(id: "s1", matchers: matchers, startsAt: rig.at(0), endsAt: rig.at(30), createdBy: "oncall", comment: "maintenance"))
        rig.metric(1, "x", 5, #"{"venue":"kalshi"}"#)
        rig.metric(1, "x", 5, #"{"venue":"polymarket"}"#)
        rig.run(to: 29)
        #expect(rig.log == ["1 slack firing a{venue=polymarket}"])
        #expect(rig.router.persisted().silences.map(\.id) == ["s1"])
        rig.run(to: 30)
        #expect(rig.log == ["1 slack firing a{venue=polymarket}", "30 slack firing a{venue=kalshi}"])
        #expect(rig.router.persisted().silences.isEmpty) // ended: dropped, not kept forever
    }

    /// The router's deadline names a silence's end and a group's flush: a driver that sleeps
    /// until `nextDeadline` (the sidecar) must wake for them. They used to be skipped.
    @Test func aSilencesEndAndAGroupsFlushAreDeadlines() {
        let rig = RouteRig("metric x labels venue\nalert a { when x > 1; severity warning; notify slack; group by venue wait 1min }")
        let matchers = (try? LabelMatcher.parseList(#"alertname="a", venue="kalshi""#).get()) ?? []
        rig.router.advance(through: rig.at(0)) // the router's present, as the core settles it before a command
        rig.router.add(Silence(id: "s1", matchers: matchers, startsAt: rig.at(0), endsAt: rig.at(30), createdBy: "oncall", comment: "c"))
        #expect(rig.router.nextDeadline == rig.at(30))
        rig.metric(1, "x", 5, #"{"venue":"polymarket"}"#)
        #expect(rig.router.nextDeadline == rig.at(2), "the group's flush, before the silence's end")
        rig.run(to: 2)
        #expect(rig.log == ["2 slack firing a{venue=polymarket}"])
        #expect(rig.router.nextDeadline.map { $0 <= rig.at(30) } == true)
    }

    /// A silence that starts after an alert fired holds its escalation (and repeats) while it
    /// lasts; the overdue page goes out when the silence ends. (The router used to reschedule a
    /// muted step at the same instant, and its clock spun forever.)
    @Test func aSilenceHoldsADueEscalationUntilItEnds() {
        let rig = RouteRig("metric x\nalert a { when x > 1; severity warning; notify slack; escalate after 5min to pager; repeat every 4min }")
        rig.metric(0, "x", 5)
        let matchers = (try? LabelMatcher.parseList(#"alertname="a""#).get()) ?? []
        rig.router.add(Silence(id: "s1", matchers: matchers, startsAt: rig.at(2), endsAt: rig.at(20), createdBy: "oncall", comment: "on it"))
        rig.run(to: 19)
        #expect(rig.log == ["0 slack firing a{}"])
        rig.run(to: 20)
        #expect(rig.log == ["0 slack firing a{}", "20 pager escalation[1] a{}", "20 slack repeat[1] a{}"])
        rig.run(to: 24)
        #expect(rig.log.suffix(1) == ["24 slack repeat[6] a{}"]) // numbered by its period: the same on every replica
    }

    /// An alert muted by an inhibition when its escalation comes due is paged once the
    /// inhibiting alert resolves, if it still fires.
    @Test func anInhibitionHoldsADueEscalationUntilTheSourceResolves() {
        let rig = RouteRig("""
            metric down
            metric lag
            alert venue_down { when down > 0; severity critical; notify pager; escalate none }
            alert stale { when lag > 10; severity warning; notify slack; escalate after 5min to pager }
            inhibit stale when venue_down
            """)
        rig.metric(0, "lag", 20)
        rig.metric(1, "down", 1)
        rig.run(to: 10)
        #expect(rig.log == ["0 slack firing stale{}", "1 pager firing venue_down{}"])
        rig.metric(12, "down", 0)
        #expect(rig.log.suffix(2) == ["12 pager resolved venue_down{}", "12 pager escalation[1] stale{}"])
    }

    @Test func anInhibitionMutesTheTargetWhileTheSourceFires() {
        let rig = RouteRig("""
            metric down labels venue
            metric lag labels venue
            alert venue_down { when down > 0; severity critical; notify pager }
            alert stale { when lag > 10; severity warning; notify slack }
            inhibit stale when venue_down on venue
            """)
        rig.metric(0, "down", 1, #"{"venue":"kalshi"}"#)
        rig.metric(1, "lag", 20, #"{"venue":"kalshi"}"#)
        rig.metric(1, "lag", 20, #"{"venue":"polymarket"}"#)
        #expect(rig.log == ["0 pager firing venue_down{venue=kalshi}", "1 slack firing stale{venue=polymarket}"])
        rig.metric(5, "down", 0, #"{"venue":"kalshi"}"#)  // the cause resolves: the symptom is told
        #expect(rig.log.suffix(2) == ["5 pager resolved venue_down{venue=kalshi}", "5 slack firing stale{venue=kalshi}"])
    }

    @Test func aFlappingAlertSendsOneNoticeThenHoldsUntilStable() {
        let rig = RouteRig("metric x\nalert a { when x > 1; severity warning; notify slack }")
        for k in 0..<10 { rig.metric(Double(k), "x", k % 2 == 0 ? 5 : 0) }  // flaps every minute
        rig.run(to: 18.9)
        #expect(rig.log == ["0 slack firing a{}", "1 slack resolved a{}", "2 slack firing a{}", "3 slack resolved a{}",
                            "4 slack firing a{}", "5 slack resolved a{}", "6 slack flapping a{}"])
        rig.run(to: 19)  // stable for 10 minutes after the last change (9): resolved, and told so
        #expect(rig.log.last == "19 slack resolved a{}")
    }

    /// An alert that fires, resolves and fires again within the group wait is in the group's
    /// notification once (the fuzz test found it listed twice).
    @Test func anAlertRefiringWithinTheGroupWaitIsListedOnce() {
        let rig = RouteRig("metric x labels venue\nalert a { when x > 1; severity warning; notify slack; group by venue wait 1min }")
        rig.metric(0, "x", 5, #"{"venue":"kalshi"}"#)
        rig.metric(0.25, "x", 0, #"{"venue":"kalshi"}"#)
        rig.metric(0.5, "x", 5, #"{"venue":"kalshi"}"#)
        rig.run(to: 2)
        #expect(rig.log == ["1 slack firing a{venue=kalshi}"])
    }

    @Test func groupWaitBatchesAlertsOfAGroup() {
        let rig = RouteRig("metric x labels venue, market\nalert a { when x > 1; severity warning; notify slack; group by venue wait 30s }")
        rig.metric(0, "x", 5, #"{"venue":"kalshi","market":"m1"}"#)
        rig.metric(0.25, "x", 5, #"{"venue":"kalshi","market":"m2"}"#)
        rig.metric(0.25, "x", 5, #"{"venue":"poly","market":"m1"}"#)
        rig.run(to: 2)
        #expect(rig.notifications.map { "\($0.channel) \($0.alerts.count)" } == ["slack 2", "slack 1"])
        #expect(rig.log == ["0.5 slack firing a{market=m1,venue=kalshi}", "0.5 slack firing a{market=m2,venue=kalshi}",
                            "0.75 slack firing a{market=m1,venue=poly}"])
    }

    /// 60 alerts of one group: Slack gets one message within Block Kit's 50 blocks, PagerDuty a
    /// trigger per alert (so it can resolve each), and the resolves go out grouped like the firing.
    @Test func aGroupOfSixtyReachesEveryChannelWithinItsLimitsAndResolvesGrouped() throws {
        let config = "channel slack { type slack url env:S }\nchannel pager { type pagerduty routing_key env:P }\nescalation_target pager\n"
        let rig = RouteRig("metric x labels team, k\nalert a { when x > 1; severity critical; notify slack, pager; escalate none; group by team wait 3s }", config: config)
        for k in 0..<60 { rig.metric(0, "x", 5, #"{"team":"t","k":"\#(k)"}"#) }
        rig.run(to: 0.1)
        let firing = rig.notifications
        #expect(firing.filter { $0.channel == "slack" }.map(\.alerts.count) == [60])
        #expect(firing.filter { $0.channel == "pager" }.map(\.alerts.count) == Array(repeating: 1, count: 60))
        let slack = try #require(firing.first { $0.channel == "slack" })
        let body = String(decoding: try #require(rig.core.router.config.channels["slack"]?.request(for: slack)).body, as: UTF8.self)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])
        let blocks = try #require(((json["attachments"] as? [[String: Any]])?.first?["blocks"]) as? [[String: Any]])
        #expect(blocks.count == 50)
        #expect((blocks.last?["text"] as? [String: Any])?["text"] as? String == "…and 11 more")

        for k in 0..<60 { rig.metric(1, "x", 0, #"{"team":"t","k":"\#(k)"}"#) }
        #expect(rig.notifications.count == firing.count, "resolves wait for the group")
        rig.run(to: 1.1)
        let resolved = rig.notifications.dropFirst(firing.count)
        #expect(resolved.allSatisfy { $0.kind == .resolved && $0.at == rig.at(1) + 3_000_000_000 })
        #expect(resolved.filter { $0.channel == "slack" }.map(\.alerts.count) == [60])
        let triggered = Set(firing.filter { $0.channel == "pager" }.flatMap(\.alerts).map(\.fingerprint))
        #expect(Set(resolved.filter { $0.channel == "pager" }.flatMap(\.alerts).map(\.fingerprint)) == triggered)
        #expect(resolved.filter { $0.channel == "pager" }.count == 60)
        #expect(rig.router.persisted().tracked.isEmpty)
    }

    /// An alert that fires again while its grouped resolve waits just fires on: no channel hears
    /// it resolve, nor fire a second time.
    @Test func firingAgainBeforeAGroupedResolveCancelsIt() {
        let rig = RouteRig("metric x labels team\nalert a { when x > 1; severity warning; notify slack; group by team wait 30s }")
        rig.metric(0, "x", 5, #"{"team":"t"}"#)
        rig.run(to: 1)
        rig.metric(2, "x", 0, #"{"team":"t"}"#)
        rig.metric(2.25, "x", 5, #"{"team":"t"}"#)
        rig.run(to: 5)
        #expect(rig.log == ["0.5 slack firing a{team=t}"])
    }

    @Test func eventAlertsSendNoResolved() {
        let rig = RouteRig("event spec_changed\nalert changed { when spec_changed; severity info; notify slack }")
        rig.line(1, #"{"timestamp_ns":60000000000,"service":"n","event":"spec_changed"}"#)
        rig.run(to: 5)
        #expect(rig.log == ["1 slack firing changed{service=n}"])
    }

    @Test func templatesRenderLabelsValueThresholdAndSince() {
        let rig = RouteRig("""
            metric lat unit ms labels venue
            const limit = 2000ms
            alert high { when lat > limit; severity warning; notify slack; summary "{{alert}} {{severity}}: {{venue}} at {{value}}ms over {{threshold}} since {{since}}" }
            """)
        rig.metric(1, "lat", 2500.5, #"{"venue":"kalshi"}"#)
        #expect(rig.notifications.first?.alerts.first?.summary == "high warning: kalshi at 2500.5ms over 2000 since 1970-01-01T00:01:00Z")
    }

    /// A resolve reads what fired (the firing summary and value), what it came back to and for
    /// how long it fired: not the summary rendered again with the resolved value.
    @Test func aResolveTellsTheFiringSummaryTheResolvedValueAndTheDuration() throws {
        let rig = RouteRig("metric lat unit ms labels venue\nalert high { when lat > 2s; severity warning; notify slack; summary \"{{venue}} at {{value}}ms\" }")
        rig.metric(1, "lat", 2500.5, #"{"venue":"kalshi"}"#)
        rig.metric(4.5, "lat", 120, #"{"venue":"kalshi"}"#)
        let resolved = try #require(rig.notifications.last?.alerts.first)
        #expect(rig.notifications.map(\.kind) == [.firing, .resolved])
        #expect(resolved.summary == "kalshi at 2500.5ms" && resolved.valueText == "2500.5")
        #expect(resolved.resolution == "resolved at 120 after 3m30s")
        #expect(ConsolePayload.line(try #require(rig.notifications.last)).hasSuffix("kalshi at 2500.5ms — resolved at 120 after 3m30s [slack]\n"))
    }

    /// An escalation that came due while vigil was down goes out when the state is restored.
    @Test func aRestoredOverdueEscalationGoesOutAtOnce() throws {
        let rules = "metric x\nalert a { when x > 1; severity warning; notify slack; escalate after 2min to pager }"
        let before = RouteRig(rules)
        before.metric(0, "x", 5)
        #expect(before.log == ["0 slack firing a{}"])
        let saved = before.router.persisted()
        // Restarted at 10 minutes: the step was due at 2.
        let after = RouteRig(rules)
        after.core.restore(Core.State(instances: [], router: saved), at: after.at(10))
        after.run(to: 10)
        #expect(after.log == ["10 pager escalation[1] a{}"])
    }

    @Test func fingerprintsAreStableAndLabelOrderFree() {
        #expect(fingerprint(alert: "a", labels: [Label("x", "1"), Label("y", "2")]) == fingerprint(alert: "a", labels: [Label("y", "2"), Label("x", "1")]))
        #expect(fingerprint(alert: "a", labels: [Label("x", "1")]) != fingerprint(alert: "b", labels: [Label("x", "1")]))
        #expect(fingerprint(alert: "a", labels: []).count == 16)
    }
}

import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules

/// Cluster mode's core side: acks held as Alertmanager silences (read back from the cluster by
/// every replica), and notices numbered alike on every replica.
struct ClusterTests {
    static let rules = "metric x\nalert a { when x > 1; severity critical; notify slack; escalate after 15min to pager; repeat never }"

    /// The ack silence a replica makes for the one alert of `rig` (or a broader one with `only`).
    func ack(_ rig: RouteRig, id: String, from: Double, to: Double, only: [LabelMatcher]? = nil) throws -> Silence {
        let fp = try #require(rig.router.firing(alert: "a", labels: []).first)
        let alert = try #require(rig.router.firingAlert(fp))
        return Silence(id: id, matchers: only.map { $0 + [Acknowledgement.matcher] } ?? Acknowledgement.matchers(for: alert),
                       startsAt: rig.at(from), endsAt: rig.at(to), createdBy: "oncall", comment: "on it")
    }

    func sync(_ rig: RouteRig, _ list: [Silence], at minutes: Double) -> Core.Output {
        rig.step([.command(.syncSilences(list))], at: rig.at(minutes))
    }

    @Test func anAckSilenceFromTheClusterHoldsTheEscalationAndItsEarlyExpiryLetsItThrough() throws {
        let rig = RouteRig(ClusterTests.rules)
        rig.metric(0, "x", 5)
        let ack = try ack(rig, id: "am:1", from: 10, to: 600)
        #expect(ack.matchers.map(\.description) == ["alertname=\"a\"", "severity=\"critical\"", "vigil_notice=~\".+\""])
        _ = sync(rig, [ack], at: 10)
        #expect(rig.core.acknowledged == Set(rig.router.firing(alert: "a", labels: [])))
        rig.run(to: 30)
        #expect(rig.log == ["0 slack firing a{}"])
        _ = sync(rig, [], at: 30) // expired in Alertmanager (amtool silence expire): the replicas un-ack
        #expect(rig.core.acknowledged.isEmpty)
        #expect(rig.log == ["0 slack firing a{}", "30 pager escalation[1] a{}"])
    }

    @Test func anAckEndsWithItsSilence() throws {
        let rig = RouteRig(ClusterTests.rules)
        rig.metric(0, "x", 5)
        _ = sync(rig, [try ack(rig, id: "am:1", from: 10, to: 20)], at: 10)
        rig.run(to: 19.9)
        #expect(rig.log == ["0 slack firing a{}"])
        rig.run(to: 20)
        #expect(rig.log == ["0 slack firing a{}", "20 pager escalation[1] a{}"])
    }

    @Test func aPendingAckSilenceAcksWhenItStarts() throws {
        let rig = RouteRig(ClusterTests.rules)
        rig.metric(0, "x", 5)
        _ = sync(rig, [try ack(rig, id: "am:1", from: 10, to: 600)], at: 5)
        #expect(rig.core.acknowledged.isEmpty)
        rig.run(to: 10)
        #expect(rig.core.acknowledged == Set(rig.router.firing(alert: "a", labels: [])))
        rig.run(to: 30)
        #expect(rig.log == ["0 slack firing a{}"])
    }

    @Test func anAckSilenceOlderThanTheFiringDoesNotAckIt() throws {
        let rig = RouteRig(ClusterTests.rules)
        rig.metric(0, "x", 5)
        let old = try ack(rig, id: "am:1", from: 0, to: 600)
        rig.metric(1, "x", 0) // resolves; fires again at 2 with the old ack still listed
        rig.metric(2, "x", 5)
        let out = sync(rig, [Silence(id: old.id, matchers: old.matchers, startsAt: rig.at(-1), endsAt: old.endsAt, createdBy: "", comment: "")], at: 3)
        #expect(out.replies == [.ok("1")])
        #expect(rig.core.acknowledged.isEmpty)
        rig.run(to: 17)
        #expect(rig.log.last == "17 pager escalation[1] a{}")
    }

    @Test func aResolveHandsBackTheAckMadeForThatAlertAloneNotABroaderOne() throws {
        let rig = RouteRig(ClusterTests.rules)
        rig.metric(0, "x", 5)
        let own = try ack(rig, id: "am:own", from: 5, to: 600)
        let broad = try ack(rig, id: "am:broad", from: 5, to: 600, only: [LabelMatcher(name: "alertname", op: .equal, value: "a")])
        _ = sync(rig, [own, broad], at: 5)
        #expect(!rig.core.acknowledged.isEmpty)
        let out = rig.step([.lines(LineBatch(["{\"timestamp_ns\":\(rig.at(6).nanoseconds),\"metric\":\"x\",\"labels\":{},\"value\":0}"]))], at: rig.at(6))
        #expect(out.expireSilences == ["own"])
        #expect(out.notifications.map(\.kind) == [.resolved])
    }

    @Test func anAckLocalToAReplicaWithoutAClusterIsNotUndoneByASync() throws {
        let rig = RouteRig(ClusterTests.rules)
        rig.metric(0, "x", 5)
        let fp = try #require(rig.router.firing(alert: "a", labels: []).first)
        #expect(rig.ack(fp, at: rig.at(5)))
        _ = sync(rig, [Silence(id: "am:9", matchers: [LabelMatcher(name: "k", op: .equal, value: "v")], startsAt: rig.at(6), endsAt: rig.at(60),
                               createdBy: "", comment: "")], at: 6)
        _ = sync(rig, [], at: 20)
        #expect(rig.core.acknowledged == [fp])
        rig.run(to: 60)
        #expect(rig.log == ["0 slack firing a{}"])
    }

    /// Repeat N is the one due N periods after the first notification, on every replica: one
    /// that was down and catches up sends the overdue repeat under the number it had then (which
    /// the cluster already delivered from the other replica), and the next one under its own.
    @Test func repeatsAreNumberedByTheirPeriodAcrossARestart() throws {
        let text = "metric x\nalert a { when x > 1; severity warning; notify slack; repeat every 1h }"
        let rig = RouteRig(text)
        rig.metric(0, "x", 5)
        rig.run(to: 61)
        #expect(rig.log == ["0 slack firing a{}", "60 slack repeat[1] a{}"])
        let restarted = RouteRig(text)
        restarted.core.restore(rig.core.persisted(), at: restarted.at(210))
        restarted.run(to: 210)
        restarted.run(to: 240)
        #expect(restarted.log == ["210 slack repeat[2] a{}", "240 slack repeat[4] a{}"])
    }

    /// Found by the `silences` fuzz harness: a pending silence from the cluster, starting in
    /// years, moved the router's clock to its start and ran every timer up to it.
    @Test func aPendingSilenceFromTheClusterDoesNotMoveTheClock() throws {
        let rig = RouteRig(ClusterTests.rules)
        rig.metric(0, "x", 5)
        let later = Silence(id: "am:later", matchers: [LabelMatcher(name: "k", op: .equal, value: "v")], startsAt: rig.at(60 * 24 * 365 * 50),
                            endsAt: rig.at(60 * 24 * 365 * 51), createdBy: "", comment: "")
        _ = sync(rig, [later], at: 1)
        #expect(rig.log == ["0 slack firing a{}"])
        rig.run(to: 14.9)
        #expect(rig.log == ["0 slack firing a{}"])
        rig.run(to: 15)
        #expect(rig.log == ["0 slack firing a{}", "15 pager escalation[1] a{}"])
        #expect(rig.router.silenceCount == 1)
    }

    @Test func aNoticeIsTheAlertWithItsChannelAndNoticeLabels() {
        let a = AlertInfo(name: "a", severity: .critical, labels: [Label("venue", "kalshi")], fingerprint: "f", value: 1, stringValue: nil,
                          summary: "s", description: nil, runbook: nil, startsAt: Instant(nanoseconds: 0), endsAt: nil)
        let n = AlertNotification(at: Instant(nanoseconds: 5), channel: "pager", kind: .escalation, step: 2, alerts: [a])
        let relayed = Cluster.relayed(a, channel: "pager", notice: Cluster.notice(n), at: n.at)
        #expect(relayed.allLabels.map { "\($0.name)=\($0.value)" } == ["alertname=a", "severity=critical", "venue=kalshi", "vigil_channel=pager", "vigil_notice=step-2"])
        #expect(relayed.startsAt == n.at)
        #expect(Cluster.notice(AlertNotification(at: n.at, channel: "s", kind: .repeat, step: 3, alerts: [a])) == "repeat-3")
        #expect(Cluster.notice(AlertNotification(at: n.at, channel: "s", kind: .resolved, step: 0, alerts: [a])) == nil)
    }
}

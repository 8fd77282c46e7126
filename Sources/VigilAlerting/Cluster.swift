import Foundation
import VigilEngine
import VigilRules

extension AlertInfo {
    /// The alert on the on-call page under `external_url` (`/#/alert/FINGERPRINT`), if one is set.
    public func pageURL(_ externalURL: String?) -> String? {
        externalURL.map { $0 + "/#/alert/" + fingerprint }
    }

    /// The alert's labels plus `alertname` and `severity`, as Alertmanager holds them (what
    /// silences match and payloads show).
    public var allLabels: [Label] {
        ([Label("alertname", name), Label("severity", severity.rawValue)] + labels.filter { $0.name != "alertname" && $0.name != "severity" }).sorted()
    }
}

/// Cluster mode (`cluster NAME`, NAME a `type alertmanager` channel): replicas that read the
/// same trader decide every notification alike, and hand those for the channels Alertmanager
/// can deliver (`relays`) to its cluster as alerts, which it de-duplicates across replicas and
/// delivers once. Each notice is an alert of its own, told apart by two labels:
///
/// - `vigil_channel="C"`: the vigil channel it is for (Alertmanager's route picks receiver C);
/// - `vigil_notice`: absent on the alert's state itself (firing, then resolved: one message
///   each), `step-N` for escalation step N, `repeat-N` for the Nth repeat, `flapping` for the
///   flapping notice. A notice fires once; receivers `C-notice` do not send resolves.
///
/// So escalation, repeats, grouping, inhibition and flapping keep vigil's semantics; Alertmanager
/// adds the de-duplication and the delivery. `vigil alertmanager-config` writes the routes.
public enum Cluster {
    public static let channelLabel = "vigil_channel"
    public static let noticeLabel = "vigil_notice"

    /// Whether Alertmanager delivers a channel of this type itself in cluster mode (it has a
    /// receiver config for it); console channels stay local, Resend has no receiver there.
    public static func relays(_ type: ChannelType) -> Bool { relayedTypes.contains(type.name) }
    public static let relayedTypes: Set<String> = ["slack", "pagerduty", "webhook", "smtp"]

    /// The notice label a notification makes (nil: the alert's state itself, or nothing for an ack).
    public static func notice(_ n: AlertNotification) -> String? {
        switch n.kind {
        case .escalation: "step-\(n.step)"
        case .repeat: "repeat-\(n.step)"
        case .flapping: "flapping"
        case .firing, .resolved, .acknowledge: nil
        }
    }

    /// The alert as the cluster holds it for channel `channel` (and `notice`), starting `at`.
    public static func relayed(_ a: AlertInfo, channel: String, notice: String?, at: Instant) -> AlertInfo {
        var labels = a.labels.filter { $0.name != channelLabel && $0.name != noticeLabel } + [Label(channelLabel, channel)]
        if let notice { labels.append(Label(noticeLabel, notice)) }
        var out = AlertInfo(name: a.name, severity: a.severity, labels: labels.sorted(), fingerprint: a.fingerprint, value: a.value,
                            stringValue: a.stringValue, summary: a.summary, description: a.description, runbook: a.runbook,
                            startsAt: at, endsAt: a.endsAt)
        out.resolvedValue = a.resolvedValue
        return out
    }
}

/// An ack held by the cluster is an Alertmanager silence of the alert's notices only: its
/// matchers are the alert's labels and `vigil_notice=~".+"`. Alertmanager then mutes the
/// escalations and repeats of that alert on every replica, while its resolve still goes out;
/// and every replica reads the silence back as an ack (`Router`), so none of them escalates.
/// One made with amtool (`amtool silence add alertname=X 'vigil_notice=~.+'`) acks too.
public enum Acknowledgement {
    public static let matcher = LabelMatcher(name: Cluster.noticeLabel, op: .regexMatch, value: ".+")

    public static func isAck(_ s: Silence) -> Bool { s.matchers.contains(matcher) }

    /// The ack silence's matchers for one alert.
    public static func matchers(for a: AlertInfo) -> [LabelMatcher] {
        a.allLabels.map { LabelMatcher(name: $0.name, op: .equal, value: $0.value) } + [matcher]
    }

    /// Whether the ack's other matchers match these labels (an alert's `allLabels`).
    static func matches(_ s: Silence, _ labels: [Label]) -> Bool {
        s.matchers.allSatisfy { $0 == matcher || CompiledMatcher($0).matches(labels) }
    }

    /// Whether the ack was made for exactly this alert (its labels, all of them, by equality).
    static func isFor(_ s: Silence, exactly labels: [Label]) -> Bool {
        let rest = s.matchers.filter { $0 != matcher }
        return rest.count == labels.count && rest.allSatisfy { m in m.op == .equal && labels.contains(Label(m.name, m.value)) }
    }
}

import Foundation
import VigilEngine
import VigilRules

/// An alert instance as payloads show it.
public struct AlertInfo: Sendable, Equatable, Codable {
    public let name: String
    public let severity: Severity
    /// The instance's labels (series labels plus the rule's `label`s), sorted.
    public let labels: [Label]
    public let fingerprint: String
    public let value: Double
    public let stringValue: String?
    public let summary: String
    public let description: String?
    public let runbook: String?
    public let startsAt: Instant
    /// Set on resolved notifications.
    public var endsAt: Instant?
    /// On a resolved notification: the value it resolved at (nil when its rule went away). The
    /// summary and `value` stay those of the firing.
    public var resolvedValue: String?
    /// Cluster mode: the notice that first told a channel of the alert (`step-1`), shown by
    /// Alertmanager's templates as the annotation `vigil_notice`.
    public var notice: String?

    public init(name: String, severity: Severity, labels: [Label], fingerprint: String, value: Double, stringValue: String?,
                summary: String, description: String?, runbook: String?, startsAt: Instant, endsAt: Instant?) {
        self.name = name
        self.severity = severity
        self.labels = labels
        self.fingerprint = fingerprint
        self.value = value
        self.stringValue = stringValue
        self.summary = summary
        self.description = description
        self.runbook = runbook
        self.startsAt = startsAt
        self.endsAt = endsAt
    }

    /// The value as people read it: a string as is, a number to at most 3 decimals.
    public var valueText: String { stringValue ?? formatHuman(value) }

    /// How a resolve reads (`resolved at 0.55 after 3m10s`); nil while it fires.
    public var resolution: String? {
        guard let end = endsAt else { return nil }
        // For people: whole seconds past 10 s, milliseconds below (not `1m0.27721674s`).
        let d = max(0, end - startsAt)
        let unit: Int64 = d >= 10_000_000_000 ? 1_000_000_000 : 1_000_000
        let after = "after " + formatDuration(d.addingSaturated(unit / 2) / unit * unit)
        return resolvedValue.map { "resolved at \($0) \(after)" } ?? "resolved \(after)"
    }
}

/// One message to one channel about one or more alerts (more than one only when grouped).
public struct AlertNotification: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable {
        case firing, escalation, `repeat`, resolved, flapping
        /// PagerDuty's `acknowledge` event after `vigil ack`.
        case acknowledge
    }

    public let at: Instant
    public let channel: String
    public let kind: Kind
    /// The escalation step (1-based) for `escalation`; 0 otherwise.
    public let step: Int
    public let alerts: [AlertInfo]
    /// What the alerts were grouped by: `alertname` and the rule's `group by` labels (their
    /// values), as Alertmanager's webhook reports them.
    public var groupLabels: [Label]?

    public init(at: Instant, channel: String, kind: Kind, step: Int, alerts: [AlertInfo]) {
        self.at = at
        self.channel = channel
        self.kind = kind
        self.step = step
        self.alerts = alerts
    }
}

/// An alert's identity: its rule name and labels, hashed (FNV-1a 64), as 16 hex digits. Stable
/// across restarts; PagerDuty's `dedup_key`.
public func fingerprint(alert: String, labels: [Label]) -> String {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ s: String) {
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        h = (h ^ 0xff) &* 0x100_0000_01b3
    }
    mix(alert)
    for l in labels.sorted() {
        mix(l.name)
        mix(l.value)
    }
    let hex = String(h, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
}

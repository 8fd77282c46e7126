import VigilRules

/// The states an alert instance reports (SPEC §5's `state`).
public enum AlertStateKind: String, Sendable, Codable {
    case pending, firing, resolved
}

/// An alert instance changing state: what `replay` prints and routing consumes.
public struct Transition: Sendable, Equatable {
    public let at: Instant
    public let alert: String
    public let severity: Severity
    public let labels: [Label]
    public let state: AlertStateKind
    /// The left side's value of the condition (SPEC §1.2), in the metric's own unit.
    public let value: Double
    /// The value when it is a string (`service_status == 'down'` reports "down").
    public let stringValue: String?
    /// More than 6 changes in 10 minutes (SPEC §3); routing holds its notifications.
    public let flapping: Bool
    /// An event alert: it fires once and sends no resolved notification.
    public let isEvent: Bool
}

/// A pending or firing instance, for `vigil test` and the API.
public struct InstanceSnapshot: Sendable, Equatable {
    public let alert: String
    public let labels: [Label]
    public let state: AlertStateKind
    public let activeAt: Instant
    public let value: Double
    /// The value when it is a string (`service_status`).
    public let stringValue: String?
}

/// One instance's state, Prometheus' alerting-rule state machine: new → pending → firing after
/// the hold; false while pending → gone; false while firing → resolved (after `resolve after`).
struct Instance: Equatable {
    var state: AlertStateKind
    var activeAt: Int64
    var value: Double
    var falseSince: Int64?
    var isString = false
}

/// The state machine's step for one instance at one evaluation.
enum StateMachine {
    /// Applies one evaluation; returns the new instance (nil: inactive), the state to report, and
    /// when this instance must be evaluated again for the machine's own sake.
    static func step(_ current: Instance?, holds: Bool, value: Double, now: Int64, holdFor: Int64,
                     resolveAfter: Int64) -> (Instance?, AlertStateKind?, Int64?) {
        guard var inst = current else {
            guard holds else { return (nil, nil, nil) }
            if holdFor == 0 { return (Instance(state: .firing, activeAt: now, value: value), .firing, nil) }
            return (Instance(state: .pending, activeAt: now, value: value), .pending, now.addingSaturated(holdFor))
        }
        if holds {
            inst.value = value
            inst.falseSince = nil
            if inst.state == .pending {
                if now - inst.activeAt >= holdFor {
                    inst.state = .firing
                    return (inst, .firing, nil)
                }
                return (inst, nil, inst.activeAt.addingSaturated(holdFor))
            }
            return (inst, nil, nil)
        }
        if inst.state == .pending { return (nil, nil, nil) }
        let since = inst.falseSince ?? now
        if now - since >= resolveAfter { return (nil, .resolved, nil) }
        inst.falseSince = since
        return (inst, nil, since.addingSaturated(resolveAfter))
    }
}

/// An instance as the journal keeps it (labels as strings: ids do not survive a restart).
/// Which instance: its rule (name and condition signature) and labels.
public struct InstanceKey: Sendable, Equatable {
    public let rule: String
    public let signature: String
    public let labels: [Label]
}

public struct PersistedInstance: Codable, Sendable, Equatable {
    public let rule: String
    public let signature: String
    public let labels: [Label]
    public let state: String
    public let activeAt: Int64
    public let value: Double
    public let falseSince: Int64?
    public let isString: Bool
}

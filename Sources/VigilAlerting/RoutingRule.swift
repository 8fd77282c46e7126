import Foundation
import VigilEngine
import VigilRules

/// How one rule routes: its channels, escalation steps, repeat, grouping and templates.
struct RoutingRule {
    struct Step {
        let delay: Int64
        let channels: [String]
    }

    let name: String
    let severity: Severity
    let channels: [String]
    let steps: [Step]
    /// nil: never.
    let repeatEvery: Int64?
    let groupBy: [String]?
    let groupWait: Int64
    /// Parsed once here, rendered per notification.
    let summary: Template?
    let description: Template?
    let runbook: Template?
    let threshold: String?

    init(_ a: AlertRule, config: AlertingConfig, consts: [String: Quantity]) {
        name = a.name.name
        severity = a.severity ?? .warning
        channels = a.channels.map(\.name)
        var steps: [Step] = []
        for s in a.escalation {
            switch s.kind {
            case .immediate: steps.append(Step(delay: 0, channels: [config.escalationTarget]))
            case .none: break
            case .after(let d, let to, _): steps.append(Step(delay: d.nanoseconds, channels: to.isEmpty ? [config.escalationTarget] : to.map(\.name)))
            }
        }
        self.steps = steps
        // SPEC §3 defaults: 1h for critical, 4h for warning, never for info.
        var repeatEvery: Int64? = switch severity {
        case .critical: 3_600_000_000_000
        case .warning: 14_400_000_000_000
        case .info: nil
        }
        var groupBy: [String]?
        var groupWait: Int64 = 0
        for c in a.clauses {
            if case .repeatEvery(let d) = c.body { repeatEvery = d?.nanoseconds }
            if let every = repeatEvery, every <= 0 { repeatEvery = nil } // the parser refuses it; never spin on it
            if case .group(let g) = c.body {
                groupBy = g.by.map(\.name)
                groupWait = g.wait?.nanoseconds ?? 0
            }
        }
        self.repeatEvery = repeatEvery
        self.groupBy = groupBy
        self.groupWait = groupWait
        summary = a.template(.summary).map { Template.lenient($0.value) }
        description = a.template(.description).map { Template.lenient($0.value) }
        runbook = a.template(.runbook).map { Template.lenient($0.value) }
        // `{{threshold}}`: the right side of the condition's comparison, when it is a number or const.
        var threshold: String?
        if case .binary(let op, _, let r, _)? = a.condition?.expr, op.isComparison {
            switch r {
            case .number(let n): threshold = formatNumber(n.quantity.value)
            case .selector(let s): threshold = consts[s.qualifiedName].map { formatNumber($0.value) }
            default: break
            }
        }
        self.threshold = threshold
    }


    /// The group an alert of this rule belongs to (`group by … wait …`), or nil when the rule
    /// does not group: the rule's name and the values of its group-by labels.
    func groupKey(_ info: AlertInfo) -> String? {
        guard let by = groupBy, groupWait > 0 else { return nil }
        return name + "\u{0}" + by.map { n in info.labels.first { $0.name == n }?.value ?? "" }.joined(separator: "\u{0}")
    }

    /// What the router tells channels about an alert of this rule at a transition.
    func alertInfo(_ t: Transition, fingerprint fp: String, since: Instant) -> AlertInfo {
        let value = t.stringValue ?? formatHuman(t.value)
        func render(_ template: Template?) -> String? {
            template?.parts.map { part -> String in
                switch part {
                case .text(let s): return s
                case .placeholder(let name):
                    switch name {
                    case "value": return value
                    case "alert": return t.alert
                    case "severity": return severity.rawValue
                    case "threshold": return threshold ?? ""
                    case "since": return since.rfc3339
                    case "labels": return t.labels.text()
                    default: return t.labels.first { $0.name == name }?.value ?? ""
                    }
                }
            }.joined()
        }
        let labelText = t.labels.isEmpty ? "" : " (" + t.labels.text() + ")"
        return AlertInfo(name: t.alert, severity: severity, labels: t.labels, fingerprint: fp, value: t.value,
                         stringValue: t.stringValue, summary: render(summary) ?? "\(t.alert)\(labelText) is \(value)",
                         description: render(description), runbook: render(runbook), startsAt: since, endsAt: nil)
    }
}

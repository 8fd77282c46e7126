import Foundation
import VigilEngine
import VigilRules

/// The router's mute stage, as Alertmanager's `Muter`: whether an alert is muted now. Silences
/// and inhibitions are the two; the router asks each in turn.
protocol Muter {
    func mutes(_ alert: AlertInfo, at now: Instant) -> Bool
}

/// The silences the router holds, active or not yet started, each with its matchers compiled
/// once (a regex used to be compiled for every alert it was checked against).
struct Silences: Muter {
    private var held: [String: (silence: Silence, matchers: [CompiledMatcher])] = [:]
    /// Set by every change, cleared by the journal's take.
    var changed = false

    var count: Int { held.count }

    /// Every silence held, by id.
    var all: [Silence] { held.values.map(\.silence).sorted { $0.id < $1.id } }

    subscript(id: String) -> Silence? { held[id]?.silence }

    mutating func add(_ s: Silence) {
        held[s.id] = (s, s.matchers.map(CompiledMatcher.init))
        changed = true
    }

    @discardableResult
    mutating func remove(id: String) -> Bool {
        guard held.removeValue(forKey: id) != nil else { return false }
        changed = true
        return true
    }

    func mutes(_ alert: AlertInfo, at now: Instant) -> Bool {
        guard !held.isEmpty else { return false }
        let labels = alert.allLabels
        return held.values.contains { $0.silence.isActive(at: now) && $0.matchers.allSatisfy { $0.matches(labels) } }
    }

    /// The ids of the silences muting the alert now, sorted.
    func matching(_ alert: AlertInfo, at now: Instant) -> [String] {
        guard !held.isEmpty else { return [] }
        let labels = alert.allLabels
        return held.values.filter { $0.silence.isActive(at: now) && $0.matchers.allSatisfy { $0.matches(labels) } }.map(\.silence.id).sorted()
    }
}

/// A silence's matcher with its regex compiled.
struct CompiledMatcher {
    let matcher: LabelMatcher
    private let regex: NSRegularExpression?

    init(_ m: LabelMatcher) {
        matcher = m
        regex = m.op == .regexMatch || m.op == .regexNoMatch ? try? NSRegularExpression(pattern: "^(?:\(m.value))$") : nil
    }

    func matches(_ labels: [Label]) -> Bool {
        let v = labels.first { $0.name == matcher.name }?.value ?? ""
        switch matcher.op {
        case .equal: return v == matcher.value
        case .notEqual: return v != matcher.value
        case .regexMatch, .regexNoMatch:
            let hit = regex.map { $0.firstMatch(in: v, range: NSRange(v.startIndex..., in: v)) != nil } ?? false
            return matcher.op == .regexMatch ? hit : !hit
        }
    }
}

/// `inhibit TARGET when SOURCE on LABELS`: an alert of TARGET is muted while an alert of SOURCE
/// fires with the same values of LABELS.
struct Inhibitions {
    struct Rule {
        let target: String
        let source: String
        let on: [String]
    }

    private(set) var rules: [Rule] = []

    init(_ lint: LintResult) {
        for f in lint.files {
            for case .inhibit(let i) in f.statements { rules.append(Rule(target: i.target.name, source: i.source.name, on: i.on.map(\.name))) }
        }
    }

    /// The rule of a firing alert that inhibits `alert` now, if any.
    func source(muting alert: AlertInfo, firing tracked: [String: Router.Tracked]) -> String? {
        for inh in rules where inh.target == alert.name {
            let muted = tracked.values.contains { src in
                src.firing && src.info.name == inh.source
                    && inh.on.allSatisfy { name in src.info.labels.first { $0.name == name }?.value == alert.labels.first { $0.name == name }?.value }
            }
            if muted { return inh.source }
        }
        return nil
    }

    /// The mute stage over the alerts firing now.
    func muter(firing tracked: [String: Router.Tracked]) -> some Muter { Inhibitor(inhibitions: self, tracked: tracked) }

    private struct Inhibitor: Muter {
        let inhibitions: Inhibitions
        let tracked: [String: Router.Tracked]

        func mutes(_ alert: AlertInfo, at now: Instant) -> Bool { inhibitions.source(muting: alert, firing: tracked) != nil }
    }
}

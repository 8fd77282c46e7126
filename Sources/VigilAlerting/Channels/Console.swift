import Foundation
import VigilEngine
import VigilRules

extension ChannelType {
    public static let console = ChannelType(ConsoleIntegration())
}

/// Standard output: what `vigil demo` and a config without channels use.
struct ConsoleIntegration: Integration {
    let type = "console"

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? { nil }
    func consoleLine(for n: AlertNotification) -> String? { ConsolePayload.line(n) }
}

/// The console channel: one readable line per alert.
public enum ConsolePayload {
    public static func line(_ n: AlertNotification) -> String {
        n.alerts.map { a in
            let labels = a.labels.isEmpty ? "" : "{" + a.labels.text(quoted: true) + "}"
            let kind = n.kind == .escalation ? "ESCALATION \(n.step)" : n.kind.rawValue.uppercased()
            return "\(n.at.rfc3339) \(kind) \(a.severity.rawValue) \(a.name)\(labels) value=\(a.valueText): \(a.summary)\(a.resolution.map { " — \($0)" } ?? "") [\(n.channel)]"
        }.joined(separator: "\n") + "\n"
    }
}

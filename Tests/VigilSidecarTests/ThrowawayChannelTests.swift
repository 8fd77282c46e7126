import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// A target type vigil does not ship, declared in this file alone: its request (a plain-text
/// body, and an `acknowledge` notice it wants), its own reading of answers (HTTP 409 means it
/// already has the message) and its give-up age. Nothing else in vigil had to change to route a
/// notification through it.
struct PigeonIntegration: Integration {
    let type = "pigeon"
    let takesAcknowledgements = true

    func request(for n: AlertNotification, channel: ChannelConfig) -> OutgoingRequest? {
        guard let url = channel.url else { return nil }
        let alerts = n.alerts.map { "\($0.name){\($0.labels.text())}" }.joined(separator: " ")
        return OutgoingRequest(channel: channel.name, url: url, body: Data("coo \(n.kind.rawValue) \(alerts)".utf8))
    }

    func classify(_ result: HTTPResult, now: Date) -> DeliveryOutcome {
        if case .status(409, _) = result { return .delivered }
        return DeliveryOutcome.classify(result, now: now)
    }

    func giveUpAge(_ policy: RetryPolicy) -> Int64 { 5_000_000_000 }
}

struct ThrowawayChannelTests {
    /// A firing alert, its ack and its resolve reach the pigeon through the core and delivery,
    /// the first answered 409 (delivered, by the pigeon's own reading).
    @Test(.timeLimit(.minutes(1)))
    func aNotificationRoutesThroughAChannelTypeDeclaredInOneFile() async throws {
        let rx = try Receiver(script: [.init(status: 409), .init(status: 200)])
        defer { rx.stop() }
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: "metric x labels k\nalert hot { when x > 1; severity info; notify slack }\n")])
        #expect(lint.errorCount == 0)
        let coop = ChannelConfig(name: "slack", type: ChannelType(PigeonIntegration()), url: Secret(rx.url))
        let alerting = config([coop])
        let core = Core(rules: lint, config: alerting, engine: EngineConfig(), start: Instant(nanoseconds: 0))
        let log = MemoryLog()
        let delivery = Delivery(config: alerting, outbox: Outbox(), policy: fast, log: log)

        func step(_ inputs: [Core.Input], at seconds: Int64) {
            for n in core.step(inputs, at: Instant(nanoseconds: seconds * 1_000_000_000)).notifications {
                delivery.send(n)
            }
        }
        step([.lines(LineBatch([#"{"metric":"x","labels":{"k":"a"},"value":5}"#]))], at: 1)
        let fp = fingerprint(alert: "hot", labels: [Label("k", "a")])
        #expect(await delivery.drain(timeout: .seconds(10)))
        step([.command(.ack(fingerprint: fp, for: nil))], at: 2)
        #expect(await delivery.drain(timeout: .seconds(10)))
        step([.lines(LineBatch([#"{"metric":"x","labels":{"k":"a"},"value":0}"#]))], at: 3)
        #expect(await delivery.drain(timeout: .seconds(10)))

        #expect(rx.requests.map(\.body) == ["coo firing hot{k=a}", "coo acknowledge hot{k=a}", "coo resolved hot{k=a}"])
        #expect(delivery.stats["slack"] == DeliveryStats(sent: 3, failed: 0, retried: 0))
        #expect(log.all.filter { $0.level == .warning || $0.level == .error }.isEmpty)
    }

    /// The lint schema and the integrations name the same channel types.
    @Test func everyShippedChannelTypeIsKnownToLint() {
        #expect(ChannelType.all.map(\.name) == ChannelSchema.typeNames)
        #expect(ChannelType.named("pigeon") == nil)
        #expect(ChannelType.named("pagerduty") == .pagerduty)
    }
}

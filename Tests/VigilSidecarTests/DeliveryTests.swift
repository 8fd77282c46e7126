import Foundation
import Synchronization
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// A notification about one alert to one channel.
func note(_ channel: String, alert: String = "high_latency", kind: AlertNotification.Kind = .firing, labels: [Label] = [Label("venue", "kalshi")]) -> AlertNotification {
    let info = AlertInfo(name: alert, severity: .warning, labels: labels, fingerprint: fingerprint(alert: alert, labels: labels),
                         value: 2600, stringValue: nil, summary: "\(alert) is firing", description: nil, runbook: nil,
                         startsAt: Instant(nanoseconds: 0), endsAt: nil)
    return AlertNotification(at: Instant(nanoseconds: 0), channel: channel, kind: kind, step: 0, alerts: [info])
}

func config(_ channels: [ChannelConfig], fallback: String? = nil) -> AlertingConfig {
    AlertingConfig(channels: Dictionary(uniqueKeysWithValues: channels.map { ($0.name, $0) }), escalationTarget: "pager", fallback: fallback)
}

/// Fast retries for tests (real backoff starts at 1 s).
var fast: RetryPolicy {
    var p = RetryPolicy()
    p.base = 20_000_000
    p.cap = 200_000_000
    return p
}

final class Lines: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A delivery with one webhook channel `hook` to the receiver, fast retries, an in-memory outbox.
func webhookDelivery(_ rx: Receiver, _ log: MemoryLog) -> Delivery {
    Delivery(config: config([ChannelConfig(name: "hook", type: .webhook, url: Secret(rx.url))]),
             outbox: Outbox(), policy: fast, log: log)
}

extension Delivery {
    /// Records a notification and dispatches it at once: what the sidecar does, without the journal's step in between.
    func send(_ n: AlertNotification) {
        if let entry = record(n) { dispatch(entry) }
    }
}

struct DeliveryTests {
    @Test(.timeLimit(.minutes(1)))
    func serverErrorsAreRetriedUntilDelivered() async throws {
        let rx = try Receiver(script: [.init(status: 500), .init(status: 500), .init(status: 200)])
        defer { rx.stop() }
        let log = MemoryLog()
        let d = webhookDelivery(rx, log)
        d.send(note("hook"))
        #expect(await d.drain(timeout: .seconds(20)))
        #expect(rx.requests.count == 3)
        #expect(d.stats["hook"] == DeliveryStats(sent: 1, failed: 0, retried: 2))
        #expect(log.all.filter { $0.level == .warning }.map { $0.data["cause"] } == ["HTTP 500", "HTTP 500"])
    }

    @Test(.timeLimit(.minutes(1)))
    func retryAfterIsHonouredOn429() async throws {
        let rx = try Receiver(script: [.init(status: 429, headers: ["Retry-After": "2"]), .init(status: 200)])
        defer { rx.stop() }
        let log = MemoryLog()
        let d = webhookDelivery(rx, log)
        d.send(note("hook"))
        #expect(await d.drain(timeout: .seconds(20)))
        let r = rx.requests
        #expect(r.count == 2, "\(r.map { "\($0.path) at \($0.at - r[0].at)" })")
        if r.count == 2 { #expect(r[1].at - r[0].at >= .seconds(2)) }
    }

    @Test(.timeLimit(.minutes(1)))
    func aReceiverThatComesBackGetsTheDelivery() async throws {
        let (port, held) = try Receiver.reservePort()
        let log = MemoryLog()
        let d = Delivery(config: config([ChannelConfig(name: "hook", type: .webhook, url: Secret("http://127.0.0.1:\(port)/hook/back"), timeout: 1_000_000_000)]),
                         outbox: Outbox(), policy: fast, log: log)
        d.send(note("hook"))
        // Down for at least 5 s, and until an attempt has failed against it.
        let downSince = ContinuousClock.now
        while (d.stats["hook"]?.retried ?? 0) == 0 || ContinuousClock.now - downSince < .seconds(5) {
            try await Task.sleep(for: .milliseconds(100))
            if ContinuousClock.now - downSince > .seconds(20) { break }
        }
        #expect(d.stats["hook"]?.sent ?? 0 == 0)
        let rx = try Receiver(script: [.init(status: 200)], port: port, reserved: held, only: "/hook/back")
        defer { rx.stop() }
        #expect(await d.drain(timeout: .seconds(20)))
        #expect(rx.requests.count == 1)
        #expect(d.stats["hook"]?.sent == 1)
        #expect((d.stats["hook"]?.retried ?? 0) >= 1)
    }

    @Test(.timeLimit(.minutes(1)))
    func aClientErrorIsFinalAndReportedOnTheFallback() async throws {
        let rx = try Receiver(script: [.init(status: 400)])
        defer { rx.stop() }
        let log = MemoryLog()
        let printed = Lines()
        let d = Delivery(config: config([ChannelConfig(name: "hook", type: .webhook, url: Secret(rx.url)), ChannelConfig(name: "ops", type: .console)], fallback: "ops"),
                         outbox: Outbox(), policy: fast, log: log, console: { printed.add($0) })
        d.send(note("hook"))
        #expect(await d.drain(timeout: .seconds(20)))
        #expect(rx.requests.count == 1)
        #expect(d.stats["hook"] == DeliveryStats(sent: 0, failed: 1, retried: 0))
        let error = log.all.first { $0.level == .error }
        #expect(error?.data == ["channel": "hook", "alert": "high_latency", "status": "HTTP 400", "kind": "firing"])
        #expect(printed.all.count == 1)
        #expect(printed.all.first?.contains("vigil could not deliver a firing notification about high_latency to hook: HTTP 400") == true)
    }

    @Test(.timeLimit(.minutes(1)))
    func slackIsPacedAtItsRate() async throws {
        let rx = try Receiver(script: [.init(status: 200)])
        defer { rx.stop() }
        let log = MemoryLog()
        let d = Delivery(config: config([ChannelConfig(name: "slack", type: .slack, url: Secret(rx.url))]),
                         outbox: Outbox(), policy: fast, log: log)
        for i in 0..<20 { d.send(note("slack", labels: [Label("n", "\(i)")])) }
        #expect(await d.drain(timeout: .seconds(40)))
        let times = rx.requests.map(\.at).sorted()
        #expect(times.count == 20)
        for (a, b) in zip(times, times.dropFirst()) { #expect(b - a >= .milliseconds(990)) }
    }

    @Test(.timeLimit(.minutes(1)))
    func anAlertsNotificationsStayInOrderThroughRetries() async throws {
        let rx = try Receiver(script: [.init(status: 503), .init(status: 503), .init(status: 200)])
        defer { rx.stop() }
        let log = MemoryLog()
        let d = webhookDelivery(rx, log)
        d.send(note("hook", kind: .firing))
        d.send(note("hook", kind: .resolved))
        #expect(await d.drain(timeout: .seconds(20)))
        let statuses = rx.requests.map { $0.body.contains("\"status\":\"resolved\"") ? "resolved" : "firing" }
        #expect(statuses == ["firing", "firing", "firing", "resolved"])
    }

    @Test(.timeLimit(.minutes(1)))
    func aFallbackReportIsJournaledBeforeTheFailedEntryIsDone() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-outbox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let hook = try Receiver(script: [.init(status: 400)])
        defer { hook.stop() }
        let backup = try Receiver(script: [.init(status: 200)])
        defer { backup.stop() }
        let journal = Journal(directory: dir, log: MemoryLog())
        let outbox = Outbox(onOwe: { journal.owe($0) }, onDone: { journal.done($0.id) })
        let d = Delivery(config: config([ChannelConfig(name: "hook", type: .webhook, url: Secret(hook.url)),
                                         ChannelConfig(name: "backup", type: .webhook, url: Secret(backup.url))], fallback: "backup"),
                         outbox: outbox, policy: fast, log: MemoryLog())
        let entry = outbox.add(note("hook"))
        journal.append(Journal.Delta(), added: [entry], state: { journalState(0) }, owed: { outbox.entries })
        d.dispatch(entry)
        #expect(await d.drain(timeout: .seconds(20)))
        journal.close()
        #expect(backup.requests.count == 1)
        #expect(backup.requests.first?.body.contains("vigil could not deliver a firing notification about high_latency to hook") == true)
        // The journal's records, in order: + for an owed entry, - for a done one.
        let data = try Data(contentsOf: dir.appendingPathComponent("journal.bin"))
        let records = try Journal.payloads(in: data).payloads.map { try #require(Journal.decode($0)) }
        let marks = records.flatMap { record in
            (record.added ?? []).map { "+\($0.channel)" } + (record.done ?? []).map { $0 == entry.id ? "-hook" : "-backup" }
        }
        #expect(marks.sorted() == ["+backup", "+hook", "-backup", "-hook"])
        #expect(try #require(marks.firstIndex(of: "+backup")) < #require(marks.firstIndex(of: "-hook")), "\(marks)")
        #expect(Journal(directory: dir, log: MemoryLog()).load().owed.isEmpty)
    }

    @Test(.timeLimit(.minutes(1)))
    func owedNotificationsSurviveARestartAndATornTail() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-outbox-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = journalState(0)
        // First life: the receiver is down; one step's notification is journaled, the next
        // step's record is torn by a crash mid-write.
        let first = Journal(directory: dir, log: MemoryLog())
        let outbox = Outbox()
        let owed = outbox.add(note("hook", alert: "kept"))
        first.append(Journal.Delta(), added: [owed], state: { empty }, owed: { outbox.entries })
        first.close()
        let torn = try #require(Journal.frame(Journal.Record(state: empty, added: [outbox.add(note("hook", alert: "torn"))])))
        let url = dir.appendingPathComponent("journal.bin")
        try (try Data(contentsOf: url) + torn.prefix(torn.count - 5)).write(to: url)
        // Second life: exactly the journaled notification is delivered, and marked done.
        let log = MemoryLog()
        let second = Journal(directory: dir, log: log)
        let restored = second.load()
        #expect(restored.owed.map(\.notification.alerts.first?.name) == ["kept"])
        #expect(log.all.map(\.message) == ["the journal's tail was torn or corrupt; cut off"])
        let rx = try Receiver(script: [.init(status: 200)])
        defer { rx.stop() }
        let d = Delivery(config: config([ChannelConfig(name: "hook", type: .webhook, url: Secret(rx.url))]),
                         outbox: Outbox(restoring: restored.owed, onDone: { second.done($0.id) }), policy: fast, log: log)
        d.resume()
        #expect(await d.drain(timeout: .seconds(20)))
        #expect(rx.requests.count == 1)
        #expect(rx.requests.first?.body.contains("kept") == true)
        second.close()
        // Third life: nothing is owed any more.
        #expect(Journal(directory: dir, log: MemoryLog()).load().owed.isEmpty)
    }

    /// A failing delivery to a secret URL logs channel, alert and cause, never the URL.
    @Test(.timeLimit(.minutes(1)))
    func secretsStayOutOfLogsAndErrors() async throws {
        let (port, held) = try Receiver.reservePort()
        defer { close(held) }
        let secret = "SECRETPATHTOKEN123"
        var policy = fast
        policy.giveUpOther = 200_000_000
        let log = MemoryLog()
        let printed = Lines()
        let d = Delivery(config: config([ChannelConfig(name: "slack", type: .slack, url: Secret("http://127.0.0.1:\(port)/services/\(secret)")),
                                         ChannelConfig(name: "ops", type: .console)], fallback: "ops"),
                         outbox: Outbox(), policy: policy, log: log, console: { printed.add($0) })
        d.send(note("slack"))
        #expect(await d.drain(timeout: .seconds(20)))
        #expect(d.stats["slack"]?.failed == 1)
        let everything = log.all.map { "\($0)" }.joined() + printed.all.joined() + "\(d.stats)" + "\(d.config.channels)"
        #expect(everything.contains("gave up after"))
        #expect(!everything.contains(secret))
    }

    @Test func classificationFollowsTheSpec() {
        let now = Date(timeIntervalSince1970: 1_445_412_480) // Wed, 21 Oct 2015 07:28:00 GMT
        #expect(DeliveryOutcome.classify(.status(200, retryAfter: nil)) == .delivered)
        #expect(DeliveryOutcome.classify(.status(202, retryAfter: nil)) == .delivered)
        #expect(DeliveryOutcome.classify(.status(500, retryAfter: nil)) == .retry(after: nil))
        #expect(DeliveryOutcome.classify(.status(408, retryAfter: nil)) == .retry(after: nil))
        #expect(DeliveryOutcome.classify(.status(429, retryAfter: "7")) == .retry(after: 7_000_000_000))
        #expect(DeliveryOutcome.classify(.status(503, retryAfter: "Wed, 21 Oct 2015 07:28:30 GMT"), now: now) == .retry(after: 30_000_000_000))
        #expect(DeliveryOutcome.classify(.status(500, retryAfter: "7")) == .retry(after: nil)) // only 429 and 503
        #expect(DeliveryOutcome.classify(.status(404, retryAfter: nil)) == .final("HTTP 404"))
        #expect(DeliveryOutcome.classify(.timeout) == .retry(after: nil))
        #expect(DeliveryOutcome.classify(.cannotConnect("refused")) == .retry(after: nil))
    }

    /// A receiver's Retry-After is outside input: these trapped (seconds × 10⁹, a date in 9999).
    @Test func anAbsurdRetryAfterIsCappedAtADay() {
        let now = Date(timeIntervalSince1970: 1_445_412_480)
        let day: Int64 = 86_400_000_000_000
        #expect(DeliveryOutcome.classify(.status(429, retryAfter: "9223372036854775807")) == .retry(after: day))
        #expect(DeliveryOutcome.classify(.status(503, retryAfter: "Fri, 31 Dec 9999 23:59:59 GMT"), now: now) == .retry(after: day))
        #expect(DeliveryOutcome.classify(.status(503, retryAfter: "Wed, 21 Oct 2015 07:27:00 GMT"), now: now) == .retry(after: 0))
        #expect(DeliveryOutcome.classify(.status(429, retryAfter: "-5")) == .retry(after: nil))
    }

    @Test func backoffIsExponentialWithFullJitterAndCapped() {
        var p = RetryPolicy()
        p.base = 1_000_000_000
        p.cap = 300_000_000_000
        for attempt in 1...20 {
            let ceiling = min(p.cap, p.base << (attempt - 1))
            for _ in 0..<50 { #expect((0...ceiling).contains(p.backoff(after: attempt))) }
        }
    }
}

import Foundation
import Synchronization
import Testing
import VigilSidecar
import VigilTestSupport

/// `examples/cluster/` run whole, as an operator runs it: `start.sh` brings up a receiver, a
/// real 3-peer Alertmanager cluster with the config `vigil alertmanager-config` generated, and
/// two `vigil run` replicas; the test is the trader (it writes every line to both replicas),
/// injects the faults, counts what the receiver got, and `stop.sh` ends it all.
@Suite(.serialized)
struct ClusterExampleTests {
    static let example = repo.appendingPathComponent("examples/cluster")
    static let installed = FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus-alertmanager")
        && FileManager.default.isExecutableFile(atPath: "/usr/bin/curl")
    static let skip = "prometheus-alertmanager (and curl) are not installed here (apt-get install prometheus-alertmanager); .ci/run installs them"

    /// One run of the example in a directory of its own, on ports nothing else uses.
    final class Example: @unchecked Sendable { // the writer thread reads `latency` under its lock only
        let dir: URL
        let portBase: Int
        let latency = Mutex<[String: Double]>([:])
        private let stopped = Mutex(false)
        private let writerDone = DispatchSemaphore(value: 0)

        init() throws {
            dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-cluster-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            portBase = Example.freeBase()
        }

        /// A base with every port the example uses (base+1…3, +11…13, +20, +31, +32) free now.
        static func freeBase() -> Int {
            for _ in 0..<200 {
                let base = Int.random(in: 20_000...55_000)
                let ports = [1, 2, 3, 11, 12, 13, 20, 31, 32].map { base + $0 }
                let free = ports.allSatisfy { p in
                    guard let (fd, _) = Loopback.bind(port: UInt16(p)) else { return false }
                    close(fd)
                    return true
                }
                if free { return base }
            }
            return 40_000
        }

        func vigilPort(_ replica: String) -> UInt16 { UInt16(portBase + (replica == "a" ? 31 : 32)) }
        func amPort(_ n: Int) -> UInt16 { UInt16(portBase + n) }

        /// Runs start.sh or stop.sh with the example's environment; its status and output.
        func script(_ name: String, _ args: [String] = []) async -> (Int32, String) {
            var env = ProcessInfo.processInfo.environment
            env["CLUSTER_DIR"] = dir.path
            env["PORT_BASE"] = "\(portBase)"
            env["VIGIL"] = BinaryTests.binary?.path ?? "vigil"
            env["TRADER"] = "0"
            env["AM_PEER_TIMEOUT"] = ClusterExampleTests.peerTimeout
            let script = ClusterExampleTests.example.appendingPathComponent(name).path
            let environment = env
            return await offPool { runToEnd("/bin/bash", [script] + args, environment: environment, within: 60) }
        }

        func pid(_ component: String) -> Int32? {
            (try? String(contentsOf: dir.appendingPathComponent("pids/\(component).pid"), encoding: .utf8))
                .flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }

        /// `kill -9` of a component, reaped by start.sh's shell long gone: waits until it is gone.
        func kill9(_ component: String) async {
            guard let pid = pid(component) else { return }
            kill(pid, SIGKILL)
            for _ in 0..<100 where kill(pid, 0) == 0 { try? await Task.sleep(for: .milliseconds(50)) }
        }

        /// The trader: every 250 ms one line per venue in `latency` to both replicas' sockets,
        /// reconnecting to a replica that went away.
        func startWriting() {
            let sockets = ["a", "b"].map { dir.appendingPathComponent("vigil-\($0).sock").path }
            Thread { [self] in
                var fds: [Int32] = [-1, -1]
                while !stopped.withLock({ $0 }) {
                    let now = Int64(Date().timeIntervalSince1970 * 1e9)
                    let text = latency.withLock { $0 }.sorted { $0.key < $1.key }.map { venue, ms in
                        "{\"timestamp_ns\":\(now),\"metric\":\"feed_latency_p95\",\"labels\":{\"venue\":\"\(venue)\"},\"value\":\(ms)}\n"
                    }.joined()
                    for i in 0..<2 where !text.isEmpty {
                        if fds[i] < 0 { fds[i] = UnixSocket.connect(sockets[i]) ?? -1 }
                        if fds[i] >= 0, send(fds[i], text, text.utf8.count, Int32(MSG_NOSIGNAL)) != text.utf8.count {
                            close(fds[i])
                            fds[i] = -1
                        }
                    }
                    usleep(250_000)
                }
                for fd in fds where fd >= 0 { close(fd) }
                writerDone.signal()
            }.start()
        }

        func stopWriting() async {
            stopped.withLock { $0 = true }
            let done = writerDone
            _ = await offPool { done.wait(timeout: .now() + 5) }
        }

        /// What the receiver got, in order.
        func received() -> [Message] {
            let text = (try? String(contentsOf: dir.appendingPathComponent("received.ndjson"), encoding: .utf8)) ?? ""
            return text.split(separator: "\n").compactMap { Message(String($0)) }
        }

        deinit { try? FileManager.default.removeItem(at: dir) }
    }

    /// One message at the receiver: Slack's (AM's `slack_configs`) or a PagerDuty event.
    struct Message: CustomStringConvertible {
        let at: Double
        let channel: String
        /// firing or resolved (a PagerDuty trigger or resolve).
        let status: String
        let text: String
        let dedupKey: String

        init?(_ line: String) {
            guard let json = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let at = json["at"] as? Double, let path = json["path"] as? String, let body = json["body"] as? [String: Any] else { return nil }
            self.at = at
            let raw = (try? JSONSerialization.data(withJSONObject: body)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            if path == "/slack" {
                let attachment = (body["attachments"] as? [[String: Any]])?.first ?? [:]
                let title = attachment["title"] as? String ?? ""
                channel = "slack"
                status = title.hasPrefix("[RESOLVED") ? "resolved" : "firing"
                text = title + " " + (attachment["text"] as? String ?? "")
                dedupKey = ""
            } else {
                channel = "pager"
                status = body["event_action"] as? String == "resolve" ? "resolved" : "firing"
                text = raw
                dedupKey = body["dedup_key"] as? String ?? ""
            }
        }

        var description: String { "\(channel) \(status) \(text.prefix(120))" }
    }

    /// Alertmanager's `--cluster.peer-timeout` here: how long peer N waits (N × it) for an
    /// earlier peer's notification to be gossiped before it sends itself. 5 s instead of its
    /// default 15 s keeps the test short; on loopback gossip takes milliseconds.
    static let peerTimeout = "5s"

    /// The messages about `venue` (its summary names it; a PagerDuty resolve carries only the
    /// dedup key of its trigger).
    func about(_ venue: String, in all: [Message]) -> [Message] {
        let keys = Set(all.filter { $0.text.contains("\(venue) feed latency") }.map(\.dedupKey).filter { !$0.isEmpty })
        return all.filter { $0.text.contains("\(venue) feed latency") || keys.contains($0.dedupKey) }
    }

    func counts(_ messages: [Message]) -> [String: Int] {
        Dictionary(messages.map { ("\($0.channel) \($0.status)", 1) }, uniquingKeysWith: +)
    }

    /// One incident on `venue`: slow for 12 s (firing after 2 s, paging after 6 more), with
    /// `fault` injected at a random moment of it, then fast again. Waits until the receiver
    /// has every message it should, then 2 × the peer timeout more for late duplicates.
    func incident(_ ex: Example, venue: String, fault: @escaping (Example) async -> Void) async -> (messages: [Message], endedAt: Double) {
        ex.latency.withLock { $0[venue] = 3000 }
        let at = Double.random(in: 0.5...10)
        try? await Task.sleep(for: .milliseconds(Int(at * 1000)))
        await fault(ex)
        try? await Task.sleep(for: .milliseconds(Int((12 - at) * 1000)))
        let ended = Date().timeIntervalSince1970
        ex.latency.withLock { $0[venue] = 100 }
        for _ in 0..<600 {
            if counts(about(venue, in: ex.received())) == ["slack firing": 1, "slack resolved": 1, "pager firing": 1, "pager resolved": 1] { break }
            try? await Task.sleep(for: .milliseconds(100))
        }
        try? await Task.sleep(for: .seconds(11))
        return (about(venue, in: ex.received()), ended)
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"),
          .enabled(if: installed, "\(skip)"), .timeLimit(.minutes(5)))
    func twoReplicasOnAThreePeerClusterPageOnceThroughEveryFault() async throws {
        let ex = try Example()
        let (status, output) = await ex.script("start.sh")
        if status == 0 { await faults(ex) } else { Issue.record("start.sh failed: \(output)") }
        await ex.stopWriting()
        let (stopped, stopOutput) = await ex.script("stop.sh") // every process it started, whatever happened
        #expect(stopped == 0, "stop.sh: \(stopOutput)")
        #expect(!stopOutput.contains("killed"), "a component did not stop on SIGTERM: \(stopOutput)")
    }

    func faults(_ ex: Example) async {
        ex.startWriting()
        let expected = ["slack firing": 1, "slack resolved": 1, "pager firing": 1, "pager resolved": 1]

        // 1. A replica is killed (kill -9) at a random moment of the incident, and started
        //    again a second later from its state directory.
        let one = await incident(ex, venue: "kalshi") { ex in
            await ex.kill9("vigil-a")
            try? await Task.sleep(for: .seconds(1))
            _ = await ex.script("start.sh", ["vigil-a"])
        }
        #expect(counts(one.messages) == expected, "replica killed: \(one.messages)")
        #expect(one.messages.filter { $0.status == "resolved" }.allSatisfy { $0.at >= one.endedAt }, "a false resolve: \(one.messages)")

        // 2. An Alertmanager peer is stopped at a random moment of the next incident, and stays down.
        let two = await incident(ex, venue: "polymarket") { ex in _ = await ex.script("stop.sh", ["am1"]) }
        #expect(counts(two.messages) == expected, "peer stopped: \(two.messages)")
        #expect(two.messages.filter { $0.status == "resolved" }.allSatisfy { $0.at >= two.endedAt }, "a false resolve: \(two.messages)")

        // 3. An ack given to replica A stops the page on replica B (and so in the cluster).
        ex.latency.withLock { $0["venue3"] = 3000 }
        var fingerprint: String?
        for _ in 0..<100 where fingerprint == nil {
            let body = await offPool { httpRequest(ex.vigilPort("a"), "GET", "/api/v1/alerts").1 }
            let list = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? []
            fingerprint = list.first { ($0["labels"] as? [String: String])?["venue"] == "venue3" && $0["state"] as? String == "firing" }?["fingerprint"] as? String
            if fingerprint == nil { try? await Task.sleep(for: .milliseconds(100)) }
        }
        guard let fp = fingerprint else { Issue.record("replica A never showed venue3 firing"); return }
        let acked = await offPool { httpRequest(ex.vigilPort("a"), "POST", "/api/v1/alerts/\(fp)/ack", body: "{}") }
        #expect(acked.0 == 200, "ack on A: \(acked)")
        var onB = false
        for _ in 0..<100 where !onB {
            let body = await offPool { httpRequest(ex.vigilPort("b"), "GET", "/api/v1/alerts").1 }
            onB = body.contains("\"fingerprint\":\"\(fp)\"") && body.contains("\"acked\":true")
            if !onB { try? await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(onB, "replica B never showed the ack given to A")
        for replica in ["a", "b"] { // the same ack, as a silence of the notices, listed by both
            let silences = await offPool { httpRequest(ex.vigilPort(replica), "GET", "/api/v1/silences").1 }
            #expect(silences.contains("vigil_notice=~\\\".+\\\""), "replica \(replica)'s silences: \(silences)")
        }
        await ex.kill9("vigil-a") // the ack outlives the replica that took it: it is the cluster's
        try? await Task.sleep(for: .seconds(10)) // past the 6 s escalation, and Alertmanager's peer waits
        ex.latency.withLock { $0["venue3"] = 100 }
        for _ in 0..<300 where counts(about("venue3", in: ex.received()))["slack resolved"] == nil {
            try? await Task.sleep(for: .milliseconds(100))
        }
        try? await Task.sleep(for: .seconds(3))
        let three = about("venue3", in: ex.received())
        #expect(counts(three) == ["slack firing": 1, "slack resolved": 1], "acked on A: \(three)")
        #expect(await ex.script("start.sh", ["vigil-a"]).0 == 0)
        // Replica B ran throughout: it relayed each of the three incidents' notices once.
        let metrics = await offPool { httpRequest(ex.vigilPort("b"), "GET", "/metrics").1 }
        #expect(metrics.contains("vigil_notifications_relayed_total{channel=\"slack\"} 6\n"), "\(metrics.split(separator: "\n").filter { $0.contains("relayed") })")
        #expect(metrics.contains("vigil_notifications_relayed_total{channel=\"pager\"} 4\n"))
        print("cluster faults: replica killed \(counts(one.messages)); peer stopped \(counts(two.messages)); acked \(counts(three))")
    }
}

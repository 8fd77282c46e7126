import Foundation
import Glibc
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules
import VigilSidecar

/// `vigil demo`: a simulated trading core → the real sidecar on a real Unix socket with the
/// shipped rules → a local webhook receiver that prints what Slack, PagerDuty and email would
/// receive. The sidecar's clock runs 20 times faster than the wall clock, so the incident's
/// 13½ minutes take about 41 seconds.
enum DemoCommand {
    static let usage = """
    Usage: vigil demo [--speed N]

    Runs a simulated trader, the real sidecar (shipped rules, a Unix socket, the HTTP API) and a
    local webhook receiver, through an incident: normal noise, feed latency climbing on Kalshi,
    the trader's Redis going away (seen by a TCP probe), the Polymarket adapter going down,
    limits approached, the trader falling silent. Alerts go
    pending, fire, escalate, are acknowledged through the API, and resolve. Needs no
    configuration; run it from the vigil checkout (it reads rules/). Exits 0 when the incident
    is over, or on Ctrl-C.

    Options:
      --speed N   how much faster than real time the demo runs (default 20)

    """

    static func run(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: [OptionSpec(name: "--speed", valueName: "N")], command: "demo", maxPositionals: 0)
        let speed = Double(parsed.value("--speed") ?? "20") ?? 0
        guard speed >= 1, speed <= 1000 else { throw UsageError(message: "--speed takes a number from 1 to 1000", command: "demo") }
        guard FileManager.default.fileExists(atPath: "rules") else {
            terminal.err("error: no rules/ directory here; run the demo from the vigil checkout\n")
            return .failure
        }
        let demo = Demo(terminal: terminal, speed: speed)
        return demo.run()
    }
}

/// One run of the demo.
final class Demo: Sendable {
    let terminal: Terminal
    let clock: ScaledClock
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-demo-\(getpid())")
    private let counts = Mutex<(lines: Int, notifications: Int, phase: String)>((0, 0, "starting"))
    private let interrupted = Mutex(false)
    /// A stand-in for the trader's Redis: a listener the `redis` probe connects to, closed and
    /// reopened on the same port during the incident.
    private let redis = Mutex<HTTPServer?>(nil)
    /// The trader's prometheus_client-style histogram, which vigil scrapes.
    let latency = Mutex(DemoHistogram())
    private let redisPort = Mutex<UInt16>(0)

    init(terminal: Terminal, speed: Double) {
        self.terminal = terminal
        clock = ScaledClock(speed: speed)
    }

    /// Minutes of the demo's (virtual) time since its start, as `mm:ss`.
    func stamp() -> String {
        let s = Int((clock.now() - start) / 1_000_000_000)
        return String(format: "%02d:%02d", s / 60, s % 60)
    }

    /// The demo clock starts at the wall clock; its elapsed time is the demo time.
    private let start = WallClock().now()

    func say(_ text: String) { terminal.out("[\(stamp())] \(text)\n") }

    func run() -> ExitCode {
        try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let socketPath = dir.appendingPathComponent("trader.sock").path

        // 1. The webhook receiver.
        let receiver: HTTPServer
        do {
            receiver = try HTTPServer(host: "127.0.0.1", port: 0) { [self] r in receive(r) }
        } catch {
            terminal.err("error: the demo's receiver: \(error)\n")
            return .failure
        }
        defer { receiver.stop() }
        let base = "http://127.0.0.1:\(receiver.port)"
        guard setRedis(up: true) else {
            terminal.err("error: the demo's Redis stand-in cannot listen\n")
            return .failure
        }
        defer { _ = setRedis(up: false) }
        // Probe timing is real time: every 5 demo seconds.
        let every = max(10, Int(5000 / clock.speed))
        // The trader's /metrics, as prometheus_client serves it (503 while the trader hangs).
        let exporter: HTTPServer
        do {
            exporter = try HTTPServer(host: "127.0.0.1", port: 0) { [self] _ in
                let (text, hung) = latency.withLock { ($0.exposition, $0.hung) }
                return hung ? .json(503, "{}") : HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8", body: Data(text.utf8))
            }
        } catch {
            terminal.err("error: the demo trader's metrics endpoint: \(error)\n")
            return .failure
        }
        defer { exporter.stop() }

        // 2. The sidecar with the shipped rules and channels pointing at the receiver.
        let configText = """
            channel pager { type pagerduty routing_key "demo-routing-key" url "\(base)/pagerduty" source "demo-trader" }
            channel slack { type slack url "\(base)/slack" rate 10 }
            channel email { type resend url "\(base)/email" api_key "demo-api-key" from "vigil@demo.local" to "oncall@example.com" }
            escalation_target pager
            probe redis { tcp "127.0.0.1:\(redisPort.withLock { $0 })" every \(every)ms timeout \(every * 4 / 5)ms critical }
            scrape trader { url "http://127.0.0.1:\(exporter.port)/metrics" every \(every)ms timeout \(every * 4 / 5)ms }
            """
        let ruleFiles: [SourceFile]
        do {
            ruleFiles = try RulePaths.expand(["rules"], command: "demo")
        } catch {
            terminal.err("error: \(error.message)\n")
            return .failure
        }
        let lint = Linter.lint(ruleFiles: ruleFiles, config: SourceFile(path: "demo.conf", text: configText, kind: .config))
        guard lint.errorCount == 0, let config = try? AlertingConfig.load(lint.config) else {
            terminal.err(lint.diagnostics.map(DiagnosticRenderer.text).joined() + "error: the shipped rules do not load\n")
            return .failure
        }
        var options = Sidecar.Options()
        options.source = .listen(socketPath)
        options.clock = clock
        var policy = RetryPolicy()
        policy.base = 100_000_000
        options.policy = policy
        options.surroundings = Surroundings.load(lint.config)
        let sidecar = Sidecar(rules: lint, config: config, options: options, log: DemoLog(demo: self))
        let api: HTTPServer
        do {
            try sidecar.start()
            api = try HTTPServer(host: "127.0.0.1", port: 0) { API(sidecar: sidecar, token: nil).handle($0) }
        } catch {
            terminal.err("error: \(error)\n")
            return .failure
        }
        defer { api.stop() }
        terminal.out("""
            vigil demo: a simulated trader → the sidecar (\(lint.alerts.count) shipped rules, socket \(socketPath),
            API http://127.0.0.1:\(api.port), a TCP probe of the trader's Redis at 127.0.0.1:\(redisPort.withLock { $0 }),
            a scrape of its prometheus_client histogram at http://127.0.0.1:\(exporter.port)/metrics)
            → a local receiver standing in for Slack, PagerDuty and email.
            Demo time runs \(formatNumber(clock.speed))× faster than real time; the incident takes 13½ minutes of it.
            Watch it on the on-call page: http://127.0.0.1:\(api.port)/

            """)

        // Ctrl-C (or SIGTERM, or a closed terminal's SIGHUP) ends the demo early, cleanly.
        for sig in [SIGINT, SIGTERM, SIGHUP] { Signals.on(sig) { [self] _ in interrupted.withLock { $0 = true } } }

        // 3. The trader, and the status line.
        let trader = Thread { [self] in Trader(demo: self, socket: socketPath, api: "http://127.0.0.1:\(api.port)").run() }
        trader.start()
        var finished = false
        var lastStatus = ContinuousClock.now
        while !finished {
            usleep(100_000)
            finished = counts.withLock { $0.phase == "done" } || interrupted.withLock { $0 }
            if ContinuousClock.now - lastStatus >= .seconds(5) {
                lastStatus = ContinuousClock.now
                let s = sidecar.snapshot
                let (lines, notes, _) = counts.withLock { ($0.lines, $0.notifications, $0.phase) }
                say("status: \(lines) lines streamed, \(s.firing) firing, \(s.pending) pending, \(notes) notifications received")
            }
        }
        let done = DispatchSemaphore(value: 0)
        Task {
            _ = await sidecar.stop(flush: .seconds(5))
            done.signal()
        }
        done.wait()
        let notes = counts.withLock { $0.notifications }
        terminal.out(interrupted.withLock { $0 } ? "\ninterrupted; bye.\n" : "\nthe incident is over: \(notes) notifications were delivered. That was vigil.\n")
        return .success
    }

    func setPhase(_ p: String) { counts.withLock { $0.phase = p } }

    /// Starts or stops the Redis stand-in (on the port it had before, once it has one).
    @discardableResult
    func setRedis(up: Bool) -> Bool {
        redis.withLock { server in
            server?.stop()
            server = nil
            guard up else { return true }
            server = try? HTTPServer(host: "127.0.0.1", port: redisPort.withLock { $0 }) { _ in .json(200, "{}") }
            if let port = server?.port { redisPort.withLock { $0 = port } }
            return server != nil
        }
    }
    func countLine() { counts.withLock { $0.lines += 1 } }
    var isInterrupted: Bool { interrupted.withLock { $0 } }

    /// The receiver: prints what each target would have received.
    private func receive(_ r: HTTPRequest) -> HTTPResponse {
        let json = (try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any]
        counts.withLock { $0.notifications += 1 }
        switch r.path {
        case "/slack":
            let text = (json?["text"] as? String)?.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&") ?? "?"
            say("  → Slack      \(text)")
        case "/pagerduty":
            let action = json?["event_action"] as? String ?? "?"
            let summary = (json?["payload"] as? [String: Any])?["summary"] as? String
            say("  → PagerDuty  \(action) dedup_key=\(json?["dedup_key"] as? String ?? "?")" + (summary.map { ": \($0)" } ?? ""))
        case "/email":
            let to = (json?["to"] as? [String])?.joined(separator: ", ") ?? "?"
            say("  → email      to \(to): \(json?["subject"] as? String ?? "?")")
        default:
            return .json(404, "{}")
        }
        return .json(200, "{\"ok\":true}")
    }
}

/// Shows the sidecar's alert transitions as they happen; the rest of its log stays quiet.
struct DemoLog: LogSink {
    let demo: Demo

    func write(_ r: LogRecord) {
        if r.service == "engine", let alert = r.data["alert"] {
            let labels = r.data["labels"].map { $0.isEmpty ? "" : "{\($0)}" } ?? ""
            let state = r.message.replacingOccurrences(of: "alert ", with: "")
            let value = r.data["value"].map { Double($0).map(formatHuman) ?? $0 } ?? "?"
            demo.say("● \(alert)\(labels) \(state) (value \(value))")
        } else if r.service == "monitor", r.message == "probe down" || r.message == "probe up", let probe = r.data["probe"] {
            demo.say("◦ probe \(probe) \(r.message.dropFirst(6))" + (r.data["cause"].map { ": \($0)" } ?? ""))
        } else if r.level >= .error {
            demo.say("! \(r.message) \(r.data)")
        }
    }
}

/// The simulated trading core: the seed's metrics and health for both venues with a little
/// noise, then the incident.
struct Trader {
    let demo: Demo
    let socket: String
    let api: String

    /// Demo seconds since the trader started.
    func elapsed(_ start: Instant) -> Double { Double(demo.clock.now() - start) / 1e9 }

    func run() {
        let start = demo.clock.now()
        var fd = connect()
        var silent = false
        var acked = false
        var phase = ""
        func announce(_ p: String, _ text: String) {
            guard phase != p else { return }
            phase = p
            demo.say(text)
        }
        var rng = SystemRandomNumberGenerator()
        var redisUp = true
        while !demo.isInterrupted {
            let t = elapsed(start)
            if t >= 13.5 * 60 { break }
            // Redis goes away from 2:00 to 3:30, alongside the latency story.
            if redisUp == (t >= 2 * 60 && t < 3.5 * 60) {
                redisUp.toggle()
                demo.say(redisUp ? "Redis is back" : "the trader's Redis stops answering (its process died)")
                demo.setRedis(up: redisUp)
            }
            let kalshiSlow = t >= 60 && t < 8 * 60
            let polyDown = t >= 4 * 60 && t < 7 * 60
            let limits = t >= 6 * 60 && t < 9 * 60
            let quiet = t >= 9 * 60 && t < 12.5 * 60
            switch t {
            case ..<60: announce("normal", "the trader runs normally")
            case ..<(4 * 60): announce("latency", "Kalshi's feed latency climbs to 2.6 s")
            case ..<(6 * 60): announce("down", "the Polymarket adapter loses its websocket")
            case ..<(7 * 60): announce("limits", "positions approach the risk limits")
            case ..<(9 * 60): announce("recover", "Polymarket is back; Kalshi's latency recovers at 8:00")
            case ..<(12.5 * 60): announce("quiet", "the trader falls silent (a hung process)")
            default: announce("back", "the trader is back")
            }
            if t >= 5 * 60, !acked {
                acked = true
                acknowledge()
            }
            demo.latency.withLock { $0.hung = quiet }
            if quiet {
                if !silent, fd >= 0 { close(fd); fd = -1 }
                silent = true
            } else {
                demo.latency.withLock { h in
                    for _ in 0..<5 {
                        h.observe("kalshi", (kalshiSlow ? 2.6 : 0.15) + Double.random(in: -0.02...0.02, using: &rng))
                        h.observe("polymarket", 0.18 + Double.random(in: -0.02...0.02, using: &rng))
                    }
                }
                if fd < 0 { fd = connect() }
                silent = false
                let ts = demo.clock.now().rfc3339
                let noise = Double.random(in: -20...20, using: &rng)
                var lines = [
                    #"{"ts":"\#(ts)","metric":"feed_latency_p95","labels":{"venue":"kalshi"},"value":\#(Int((kalshiSlow ? 2600 : 150) + noise))}"#,
                    #"{"ts":"\#(ts)","metric":"feed_latency_p95","labels":{"venue":"polymarket"},"value":\#(Int(180 + noise))}"#,
                    #"{"ts":"\#(ts)","metrics":{"position_utilization":\#(limits ? 0.91 : 0.55),"daily_pnl":\#(Int(1200 + t)),"daily_loss":0,"position_exposure":120000,"fill_rate":0.92,"new_arbitrage_edge":120,"schema_validation_errors":0},"labels":{}}"#,
                    #"{"ts":"\#(ts)","service":"kalshi_adapter","status":"healthy","details":{"websocket_connected":true}}"#,
                    #"{"ts":"\#(ts)","service":"polymarket_adapter","status":"\#(polyDown ? "down" : "healthy")","details":{"websocket_connected":\#(!polyDown)}}"#,
                ]
                if Int(t) % 60 == 0 { lines.append(#"{"ts":"\#(ts)","service":"risk_manager","event":"daily_turnover_check","used":18500,"limit":25000}"#) }
                let data = lines.joined(separator: "\n") + "\n"
                if fd >= 0, send(fd, data, data.utf8.count, Int32(MSG_NOSIGNAL)) < 0 { close(fd); fd = -1 }
                for _ in lines { demo.countLine() }
            }
            usleep(useconds_t(max(10_000, demo.clock.real(5_000_000_000) / 1000))) // a batch every 5 demo seconds
        }
        if fd >= 0 { close(fd) }
        // Let the last notifications land (well before the silence could look like an outage).
        usleep(useconds_t(min(1_000_000, demo.clock.real(10_000_000_000) / 1000)))
        demo.setPhase("done")
    }

    private func connect() -> Int32 { UnixSocket.connect(socket, attempts: 50) ?? -1 }

    /// The on-call engineer acknowledges what is firing, through the HTTP API.
    private func acknowledge() {
        guard case .success(let list) = HTTPClient.request("GET", api + "/api/v1/alerts", timeout: 5_000_000_000, maxBody: 16 << 20),
              let alerts = try? JSONSerialization.jsonObject(with: Data(list.body)) as? [[String: Any]] else { return }
        for a in alerts where (a["state"] as? String) == "firing" && (a["alert"] as? String).map({ ["high_latency", "service_down"].contains($0) }) == true {
            guard let fp = a["fingerprint"] as? String,
                  case .success(let answer) = HTTPClient.request("POST", api + "/api/v1/alerts/\(fp)/ack", headers: ["Content-Type: application/json"],
                                                                body: Array(#"{"comment":"on it"}"#.utf8), timeout: 5_000_000_000),
                  answer.status == 200 else { continue }
            demo.say("on-call acknowledges \(a["alert"] as? String ?? "?") through the API (POST /api/v1/alerts/\(fp)/ack)")
        }
    }
}

/// A histogram of feed latency per venue, cumulative as prometheus_client keeps it.
struct DemoHistogram {
    static let bounds = [0.1, 0.25, 0.5, 1, 2, 2.5, 3, 5]
    var buckets: [String: [Int]] = [:]
    var sums: [String: Double] = [:]
    var counts: [String: Int] = [:]
    /// The trader hangs: its endpoint stops answering.
    var hung = false

    mutating func observe(_ venue: String, _ seconds: Double) {
        var b = buckets[venue] ?? Array(repeating: 0, count: DemoHistogram.bounds.count)
        for (k, bound) in DemoHistogram.bounds.enumerated() where seconds <= bound { b[k] += 1 }
        buckets[venue] = b
        sums[venue, default: 0] += seconds
        counts[venue, default: 0] += 1
    }

    /// The text exposition format.
    var exposition: String {
        var out = "# HELP feed_latency_seconds Feed latency\n# TYPE feed_latency_seconds histogram\n"
        for venue in buckets.keys.sorted() {
            for (k, bound) in DemoHistogram.bounds.enumerated() {
                out += "feed_latency_seconds_bucket{le=\"\(bound)\",venue=\"\(venue)\"} \(buckets[venue]?[k] ?? 0)\n"
            }
            out += "feed_latency_seconds_bucket{le=\"+Inf\",venue=\"\(venue)\"} \(counts[venue] ?? 0)\n"
            out += "feed_latency_seconds_sum{venue=\"\(venue)\"} \(sums[venue] ?? 0)\nfeed_latency_seconds_count{venue=\"\(venue)\"} \(counts[venue] ?? 0)\n"
        }
        return out
    }
}

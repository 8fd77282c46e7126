import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Glibc
import Testing
import Synchronization
@testable import VigilCLI
import VigilSidecar
import VigilTestSupport

/// Runs blocking work (sleeps, socket reads, process waits) on a thread of its own, off Swift's
/// cooperative pool and off Dispatch's global queues (on Linux they share threads, and a pool
/// filled with blocked work gets a new thread only once a second): on 2 cores, a blocked pool
/// starves every other async test.
func offPool<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in Thread { c.resume(returning: body()) }.start() }
}

/// `vigil run`, spawned as a process and driven over its socket and its API.
final class RunningVigil {
    let process = Process()
    let dir: URL
    let out: URL
    let err: URL
    /// The API's port: the one asked for, or, when vigil picked it, read off its start-up line.
    private let bound: Port

    private final class Port: Sendable {
        let value: Mutex<UInt16>
        init(_ port: UInt16) { value = Mutex(port) }
    }

    /// `port`: the API's port, for a restart on the port of the run before; by default vigil
    /// binds port 0 and says which port it got. A port picked here and freed for vigil to take
    /// could be taken first by any socket of a test running beside (an outgoing connection's
    /// ephemeral port, another receiver): vigil then failed to start, and the checks talked to
    /// whoever held the port.
    init(_ args: [String], rules: String, port: UInt16? = nil, environment: [String: String] = [:]) throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-run-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data(rules.utf8).write(to: dir.appendingPathComponent("t.rules"))
        bound = Port(port ?? 0)
        out = dir.appendingPathComponent("out.txt")
        err = dir.appendingPathComponent("err.txt")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        guard let binary = BinaryTests.binary else { throw POSIXError(.ENOENT) }
        process.executableURL = binary
        process.arguments = ["run", "--rules", dir.appendingPathComponent("t.rules").path, "--http", "127.0.0.1:\(port ?? 0)"]
            + args.map { $0.replacingOccurrences(of: "DIR", with: dir.path) }
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
    }

    /// The API's port; for a vigil that picked its own, waits (bounded: 20 s, or until it exits)
    /// for the line that names it. 0 when vigil never said.
    var port: UInt16 { Self.port(bound, err, process) }

    private static func port(_ bound: Port, _ err: URL, _ process: Process) -> UInt16 {
        if let known = bound.value.withLock({ $0 == 0 ? nil : $0 }) { return known }
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let running = process.isRunning
            let said = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            if let line = said.split(separator: "\n").first(where: { $0.contains(#""message":"vigil is running""#) }),
               let at = line.range(of: #""http":"127.0.0.1:"#),
               let port = UInt16(line[at.upperBound...].prefix { $0.isNumber }) {
                bound.value.withLock { $0 = port }
                return port
            }
            if !running { return 0 }
            usleep(20_000)
        }
        return 0
    }

    var stdout: String { (try? String(contentsOf: out, encoding: .utf8)) ?? "" }
    var stderr: String { (try? String(contentsOf: err, encoding: .utf8)) ?? "" }

    /// Stops with SIGTERM; returns the exit status (or nil if it did not exit within 15 s).
    func terminate() async -> Int32? {
        let p = process
        return await offPool { RunningVigil.terminate(p) }
    }

    private static func terminate(_ process: Process) -> Int32? {
        process.terminate()
        let deadline = Date().addingTimeInterval(15)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit(); return nil }
        return process.terminationStatus
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: dir)
    }

    /// A port nothing listens on now, and never handed out before in this test process: two
    /// tests given the same port raced for it, and the loser's checks talked to the winner.
    static func freeTCPPort() -> UInt16 {
        for _ in 0..<100 {
            let (s, port) = Loopback.bind() ?? (-1, 0)
            close(s)
            if RunningVigil.handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        return 0
    }

    private static let handedOut = Mutex<Set<UInt16>>([])

    /// An HTTP request to the API; (status, body), (0, "") when it fails. On a thread of its own
    /// over a plain socket (URLSession.shared answers on the shared pool), bounded by 5 s reads.
    func http(_ method: String, _ path: String, body: String? = nil) async -> (Int, String) {
        let (bound, err, process) = (self.bound, self.err, self.process)
        return await offPool { httpRequest(RunningVigil.port(bound, err, process), method, path, body: body) }
    }

    /// Waits (bounded) until the API answers /health.
    func waitUntilUp() async -> Bool {
        for _ in 0..<100 {
            if await http("GET", "/health").0 == 200 { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// Polls (bounded) until `predicate` holds on /api/v1/alerts.
    func waitForAlerts(_ predicate: (String) -> Bool) async -> Bool {
        for _ in 0..<100 {
            if predicate(await http("GET", "/api/v1/alerts").1) { return true }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

/// Runs a child to its end, blocking (call it off the pool), its stdout and stderr merged:
/// (status, output); status -1 when it could not start or was killed at the deadline. Reaped
/// here, bounded: Foundation's waitUntilExit spins a run loop off the main thread, and a script
/// whose children outlive it was once left a zombie Foundation never saw.
func runToEnd(_ executable: String, _ args: [String], environment: [String: String]? = nil, within seconds: Double) -> (status: Int32, output: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = args
    if let environment { p.environment = environment }
    let out = Pipe()
    p.standardOutput = out
    p.standardError = out
    do { try p.run() } catch { return (-1, "\(error)") }
    let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let deadline = Date().addingTimeInterval(seconds)
    var status: Int32 = 0
    while Date() < deadline {
        if !p.isRunning { return (p.terminationStatus, text) }
        if waitpid(p.processIdentifier, &status, WNOHANG) == p.processIdentifier { return ((status >> 8) & 0xff, text) }
        usleep(20_000)
    }
    kill(p.processIdentifier, SIGKILL)
    return (-1, text + "\n(\(executable) did not end within \(Int(seconds)) s)")
}

/// Whether python3 here can import `module` (a real peer's client or a test helper).
func pythonImports(_ module: String) -> Bool {
    runToEnd("/usr/bin/env", ["python3", "-c", "import \(module)"], within: 30).status == 0
}

/// A Unix-socket client writing lines (a trader).
func unixWrite(_ path: String, _ lines: [String]) -> Bool {
    guard let fd = UnixSocket.connect(path, attempts: 50) else { return false }
    defer { close(fd) }
    let data = lines.joined(separator: "\n") + "\n"
    return send(fd, data, data.utf8.count, Int32(MSG_NOSIGNAL)) == data.utf8.count
}


struct RunTests {
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func listenModeWithThreeWritersAndEveryEndpoint() async throws {
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: "metric x labels w\nalert high { when x > 1; severity warning; notify slack }\n")
        #expect(await v.waitUntilUp())
        #expect(await v.http("GET", "/ready").0 == 503)
        let sock = v.dir.appendingPathComponent("t.sock").path
        var st = stat()
        #expect(stat(sock, &st) == 0 && st.st_mode & 0o777 == 0o600)
        let ok = Mutex3()
        await withTaskGroup(of: Void.self) { group in
            for w in 0..<3 {
                group.addTask {
                    let lines = (0..<50).map { i in #"{"metric":"x","labels":{"w":"\#(w)"},"value":\#(i == 49 ? 5 : 0)}"# }
                    if await offPool({ unixWrite(sock, lines) }) { ok.add() }
                }
            }
        }
        #expect(ok.count == 3)
        #expect(await v.waitForAlerts { body in (0..<3).allSatisfy { body.contains(#""labels":{"w":"\#($0)"},"state":"firing""#) } })
        // Every endpoint.
        let (healthStatus, health) = await v.http("GET", "/health")
        #expect(healthStatus == 200 && health.contains(#""status":"ok""#))
        let (detailedStatus, detailed) = await v.http("GET", "/health/detailed")
        #expect(detailedStatus == 200 && detailed.contains(#""lines":150"#) && detailed.contains(#""rules_loaded":1"#))
        let (rulesStatus, rules) = await v.http("GET", "/api/v1/rules")
        #expect(rulesStatus == 200 && rules.hasPrefix(#"[{"name":"high","severity":"warning","channels":["slack"],"file":"\#(v.dir.path)/t.rules","line":2,"lastEvaluation":""#), "\(rules)")
        let (metricsStatus, metrics) = await v.http("GET", "/metrics")
        #expect(metricsStatus == 200)
        #expect(metrics.contains("vigil_stream_lines_total 150\n"))
        #expect(metrics.contains("vigil_alerts{state=\"firing\"} 3\n"))
        #expect(metrics.contains("vigil_evaluation_latency_seconds_count 150\n"))
        #expect(metrics.contains("vigil_evaluation_latency_seconds_bucket{le=\"+Inf\"} 150\n"))
        let sample = try Regex(#"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[a-zA-Z_][a-zA-Z0-9_]*="[^"]*"(,[a-zA-Z_][a-zA-Z0-9_]*="[^"]*")*\})? -?[0-9.e+]+$"#)
        for line in metrics.split(separator: "\n") where !line.hasPrefix("#") {
            #expect(line.wholeMatch(of: sample) != nil, "not Prometheus text: \(line)")
        }
        let (silenceStatus, silence) = await v.http("POST", "/api/v1/silences", body: #"{"matchers":"alertname=\"high\"","for":"1h","comment":"test","createdBy":"me"}"#)
        #expect(silenceStatus == 201)
        let id = silence.components(separatedBy: #""id":""#).last?.prefix { $0 != "\"" } ?? ""
        #expect(await v.http("GET", "/api/v1/silences").1.contains(#""comment":"test""#))
        #expect(await v.http("DELETE", "/api/v1/silences/\(id)").0 == 200)
        #expect(await v.http("DELETE", "/api/v1/silences/\(id)").0 == 404)
        #expect(await v.http("POST", "/api/v1/alerts/0000000000000000/ack").0 == 404)
        #expect(await v.http("POST", "/api/v1/silences", body: #"{"matchers":"nope"}"#).0 == 400)
        #expect(await v.http("POST", "/health").0 == 405)
        #expect(await v.http("GET", "/nowhere").0 == 404)
        #expect(await v.terminate() == 0)
        #expect(v.stderr.contains(#""message":"stopped""#))
        #expect(!FileManager.default.fileExists(atPath: sock))
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func connectModeSurvivesThreeTraderRestarts() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-trader-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("trader.sock").path
        let v = try RunningVigil(["--connect", "unix:\(path)"], rules: "metric x labels life\nalert high { when x > 1; severity warning; notify slack }\n")
        #expect(await v.waitUntilUp())
        for life in 0..<4 {
            // The trader (re)starts: listens, waits for vigil to connect, sends, exits.
            let trader = try UnixListener(path: path)
            let conn = await offPool { trader.accept(timeout: 10) }
            #expect(conn >= 0, "vigil did not reconnect in life \(life)")
            let line = #"{"metric":"x","labels":{"life":"\#(life)"},"value":5}"# + "\n"
            _ = send(conn, line, line.utf8.count, Int32(MSG_NOSIGNAL))
            #expect(await v.waitForAlerts { $0.contains(#""life":"\#(life)""#) })
            close(conn)
            trader.close()
        }
        let alerts = await v.http("GET", "/api/v1/alerts").1
        #expect((0..<4).allSatisfy { alerts.contains(#""labels":{"life":"\#($0)"},"state":"firing""#) })
        #expect(await v.terminate() == 0)
        #expect(v.stderr.components(separatedBy: "cannot connect to the trader").count - 1 <= 4, "logged once per state change, not per attempt")
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func theHTTPServerSurvivesHostileClients() async throws {
        let v = try RunningVigil(["--stdin"], rules: "metric x\nalert a { when x > 1; severity info; notify slack }\n")
        #expect(await v.waitUntilUp())
        let port = v.port
        #expect(await offPool { rawHTTP(port, "NONSENSE\r\n\r\n") }.hasPrefix("HTTP/1.1 400"))
        for target in ["/health?=", "/health?==", "/ready?a=1&="] { // once a trap (an empty query key), exit 132
            #expect(await v.http("GET", target).0 != 0, "\(target)")
        }
        // A duration that cannot be represented is a 400 naming the field and the limit (it was 201
        // with a silence that wrapped past 2262 and muted nothing).
        let longSilence = await v.http("POST", "/api/v1/silences", body: #"{"matchers":"alertname=\"a\"","for":"100000d","comment":"c"}"#)
        #expect(longSilence.0 == 400)
        #expect(longSilence.1.contains("`for` is longer than the longest duration vigil takes (3650d)"))
        #expect(await v.http("POST", "/api/v1/alerts/0123456789abcdef/ack", body: #"{"for":"1e300d"}"#).0 == 400)
        // 70 idle keep-alive clients (over the cap of 64) do not make liveness 503.
        let idle = await offPool { (0..<70).map { _ in Loopback.connect(port, receiveTimeout: 15) } }
        #expect(await v.http("GET", "/health").0 == 200)
        let ready = await v.http("GET", "/ready")
        #expect(ready.0 != 0 && !ready.1.contains("too many connections"))
        for fd in idle { close(fd) }
        let junk = "GET /health HTTP/1.1\r\n" + String(repeating: "X-Junk: " + String(repeating: "a", count: 1000) + "\r\n", count: 1024) + "\r\n"
        #expect(await offPool { rawHTTP(port, junk) }.hasPrefix("HTTP/1.1 431"))
        #expect(await offPool { rawHTTP(port, "POST /api/v1/silences HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n") }.hasPrefix("HTTP/1.1 413"))
        // A client sending one byte a second is cut off, and /health is answered meanwhile: judged
        // from what happened (answered while the slow connection was open), not from a budget.
        let sentBytes = Atomic<Int>(0)
        let slowClosed = Mutex<Date?>(nil)
        let slow = Task {
            await offPool { () -> String in
                let fd = Loopback.connect(port, receiveTimeout: 15)
                defer { close(fd) }
                for b in "GET /health HTTP/1.1\r\nHost: x".utf8 {
                    if send(fd, [b], 1, Int32(MSG_NOSIGNAL)) != 1 { break }
                    sentBytes.add(1, ordering: .relaxed)
                    sleep(1)
                }
                let answer = readAll(fd)
                slowClosed.withLock { $0 = Date() }
                return answer
            }
        }
        for _ in 0..<100 where sentBytes.load(ordering: .relaxed) < 2 { try await Task.sleep(for: .milliseconds(100)) }
        #expect(await v.http("GET", "/health").0 == 200)
        let answeredAt = Date()
        let answer = await slow.value
        #expect(answer.hasPrefix("HTTP/1.1 408") || answer.isEmpty)
        #expect(slowClosed.withLock { $0 }.map { answeredAt < $0 } == true, "/health must be answered while the slow client holds its connection")
        #expect(await v.http("GET", "/health").0 == 200)
        #expect(await v.terminate() == 0)
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(2)))
    func attacksOnTheStreamAreLoggedAndAlertingGoesOn() async throws {
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: "metric x labels k\nalert a { when x > 1; severity warning; notify slack }\n")
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        var n = 0
        /// A good line for a new series, and waits for its alert: alerting is still alive.
        func stillFires() async -> Bool {
            n += 1
            guard await offPool({ [n] in unixWrite(sock, [#"{"metric":"x","labels":{"k":"good\#(n)"},"value":5}"#]) }) else { return false }
            return await v.waitForAlerts { $0.contains(#""labels":{"k":"good\#(n)"},"state":"firing""#) }
        }
        // Junk: logged once per kind, with its source and byte offset.
        #expect(await offPool { unixWrite(sock, ["not json", #"{"metric":"x","value":"NaN"}"#, "still not json", #"{"metric":"x","value":1,"timestamp_ns":9223372036854775807}"#]) }, "vigil said: \(v.stderr.suffix(2000))")
        #expect(await stillFires())
        // Unique label values past the per-metric cap (10,000), from one writer.
        #expect(await offPool { unixWrite(sock, (0..<12_000).map { #"{"metric":"x","labels":{"k":"v\#($0)"},"value":0}"# }) })
        #expect(await v.waitForAlerts { _ in v.stderr.contains("a series cap is reached") })
        // 70 writers at once: 64 are served, the rest refused and logged.
        let fds = await offPool { (0..<70).compactMap { _ in UnixSocket.connect(sock, attempts: 5) } }
        #expect(await v.waitForAlerts { _ in v.stderr.contains("too many writers are connected") })
        let threads = (try? String(contentsOfFile: "/proc/\(v.process.processIdentifier)/status", encoding: .utf8))?
            .split(separator: "\n").first { $0.hasPrefix("Threads:") }.flatMap { Int($0.dropFirst(8).trimmingCharacters(in: .whitespaces)) }
        #expect((threads ?? 999) < 64 + 40, "one reader thread per admitted writer, no more")
        for fd in fds { close(fd) }
        // The capped metric still evaluates its existing series; a new one of another metric fires.
        #expect(await offPool { unixWrite(sock, [#"{"metric":"x","labels":{"k":"v7"},"value":5}"#]) })
        #expect(await v.waitForAlerts { $0.contains(#""labels":{"k":"v7"},"state":"firing""#) })
        #expect(await v.terminate() == 0)
        let logs = v.stderr.split(separator: "\n").map(String.init)
        let rejected = logs.filter { $0.contains("a stream line was rejected") }
        #expect(rejected.count == 3, "not_json, bad_value, bad_timestamp: once each")
        #expect(rejected.contains { $0.contains(#""reason":"not_json""#) && $0.contains(#""offset":"0""#) && $0.contains(#""source":"writer 1""#) })
        #expect(rejected.contains { $0.contains(#""reason":"bad_value""#) && $0.contains(#""offset":"9""#) })
        #expect(logs.filter { $0.contains("a series cap is reached") }.count == 1)
        #expect(logs.contains { $0.contains("too many writers are connected") && $0.contains(#""max_writers":"64""#) })
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func aFutureStampedLineNeitherResolvesNorBlindsRun() async throws {
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: "metric x labels k\nalert a { when x > 1; severity warning; notify slack }\n")
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        #expect(await offPool { unixWrite(sock, [#"{"metric":"x","labels":{"k":"a"},"value":5}"#]) })
        #expect(await v.waitForAlerts { $0.contains(#""labels":{"k":"a"},"state":"firing""#) })
        let ahead = Int64(Date().timeIntervalSince1970 * 1e9) + 600_000_000_000 // ten minutes ahead
        #expect(await offPool { unixWrite(sock, [#"{"timestamp_ns":\#(ahead),"metric":"x","labels":{"k":"b"},"value":0}"#,
                                                 #"{"ts":"2030-01-01T00:00:00Z","metric":"x","labels":{"k":"b"},"value":0}"#,
                                                 #"{"metric":"x","labels":{"k":"c"},"value":5}"#]) })
        #expect(await v.waitForAlerts { $0.contains(#""labels":{"k":"c"},"state":"firing""#) }, "a new series over its threshold still fires")
        let metrics = await v.http("GET", "/metrics").1
        #expect(metrics.contains(#"vigil_stream_rejected_total{reason="future_timestamp"} 2"#))
        #expect(await v.http("GET", "/api/v1/alerts").1.contains(#""labels":{"k":"a"},"state":"firing""#))
        #expect(await v.terminate() == 0)
        #expect(!v.stdout.contains("RESOLVED"), "a is still high: nothing may tell Slack it resolved")
        #expect(v.stdout.contains(#"FIRING warning a{k="c"}"#))
    }
}

extension RunTests {
    /// `run` applies what one read carries as one instant: two gauges written together in one
    /// write never seem apart, 50 times over; and the issue's ratio rule over a steady 3 s
    /// latency, `_sum` and `_count` written together, fires once and never flaps.
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func theLinesOfOneWriteAreOneInstant() async throws {
        let rules = """
            metric orders_sent
            metric orders_acked
            metric feed_latency_seconds_sum
            metric feed_latency_seconds_count
            alert unacked { when orders_sent - orders_acked > 0; severity warning; notify slack }
            alert slow_feed { when rate(feed_latency_seconds_sum over 1min) / rate(feed_latency_seconds_count over 1min) > 2; severity warning; notify slack }

            """
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: rules)
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        for n in 1...50 {
            #expect(await offPool { unixWrite(sock, [#"{"metric":"orders_sent","value":\#(n)}"#, #"{"metric":"orders_acked","value":\#(n)}"#,
                                                     #"{"metric":"feed_latency_seconds_sum","value":\#(3 * n)}"#,
                                                     #"{"metric":"feed_latency_seconds_count","value":\#(n)}"#]) })
            try await Task.sleep(for: .milliseconds(20))
        }
        // The last write is in when the API shows its lines counted.
        var counted = false
        for _ in 0..<100 where !counted {
            counted = await v.http("GET", "/metrics").1.contains("vigil_stream_lines_total 200")
            if !counted { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(counted)
        #expect(await v.terminate() == 0)
        #expect(!v.stdout.contains("unacked"), "\(v.stdout)")
        #expect(v.stdout.components(separatedBy: "FIRING warning slow_feed").count == 2, "\(v.stdout)")
        #expect(!v.stdout.contains("RESOLVED warning slow_feed"), "\(v.stdout)")
    }
}

/// A webhook receiver for spawned sidecars: records every request's path, body and arrival.
/// Armed with a pid, it SIGKILLs that process on the next delivery it has read, before
/// answering: the at-least-once window, where vigil sent but never learnt that it arrived.
final class Sink: Sendable {
    final class Log: Sendable {
        let requests = Mutex<[(path: String, body: String, at: Date, query: [String: String])]>([])
        let armed = Mutex<Int32?>(nil)
        let killed = DispatchSemaphore(value: 0)
    }

    let log = Log()
    let server: HTTPServer

    init() throws {
        let log = self.log
        server = try HTTPServer(host: "127.0.0.1", port: 0) { r in
            log.requests.withLock { $0.append((r.path, String(decoding: r.body, as: UTF8.self), Date(), r.query)) }
            if let pid = log.armed.withLock({ p -> Int32? in defer { p = nil }; return p }) {
                kill(pid, SIGKILL)
                log.killed.signal()
            }
            return .json(200, "{}")
        }
    }

    /// Kills `pid` on the next request read; true if that happened within `seconds`.
    func killOnNextDelivery(_ pid: Int32, within seconds: Double) -> Bool {
        log.armed.withLock { $0 = pid }
        if log.killed.wait(timeout: .now() + seconds) == .success { return true }
        // Disarm; a request that raced the timeout may still have taken the pid.
        let stillArmed = log.armed.withLock { p -> Bool in defer { p = nil }; return p != nil }
        return !stillArmed && log.killed.wait(timeout: .now() + 1) == .success
    }

    var all: [(path: String, body: String)] { log.requests.withLock { $0.map { ($0.path, $0.body) } } }

    /// PagerDuty events by (action, dedup_key), with the `gen` query parameter of the URL they
    /// came to (which process sent them, when each process gets its own).
    var generationPagerEvents: [(event: String, generation: String)] {
        log.requests.withLock { $0 }.filter { $0.path == "/pd" }.map { r in
            let json = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any]
            return ("\(json?["event_action"] as? String ?? "?") \(json?["dedup_key"] as? String ?? "?")", r.query["gen"] ?? "?")
        }
    }
    var url: String { "http://127.0.0.1:\(server.port)" }

    /// PagerDuty events by (action, dedup_key).
    var pagerEvents: [String] {
        all.filter { $0.path == "/pd" }.map { r in
            let json = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any]
            return "\(json?["event_action"] as? String ?? "?") \(json?["dedup_key"] as? String ?? "?")"
        }
    }

    var slackTexts: [String] {
        all.filter { $0.path == "/slack" }.map { r in
            ((try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any])?["text"] as? String ?? "?"
        }
    }
}

struct RestartTests {
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func aKill9NeitherRepagesNorLosesTheEscalation() async throws {
        let sink = try Sink()
        defer { sink.server.stop() }
        let stateDir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-state-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: stateDir) }
        let rules = "metric x\nalert a { when x > 1; severity warning; notify slack; escalate after 4s to pager }\n"
        let config = "channel slack { type slack url \"\(sink.url)/slack\" rate 20 }\nchannel pager { type pagerduty url \"\(sink.url)/pd\" routing_key \"k\" }\n"
        let socketDir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-sock-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: socketDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: socketDir) }
        let sock = socketDir.appendingPathComponent("t.sock").path
        let confPath = socketDir.appendingPathComponent("vigil.conf")
        try Data(config.utf8).write(to: confPath)
        let args = ["--listen", "unix:\(sock)", "--config", confPath.path, "--state-dir", stateDir.path]
        // The trader keeps x high throughout, reconnecting whenever vigil restarts.
        let stop = Flag()
        let trader = Task { await offPool { while !stop.isSet { _ = unixWrite(sock, [#"{"metric":"x","value":5}"#]); usleep(200_000) } } }
        var v = try RunningVigil(args, rules: rules)
        #expect(await v.waitForAlerts { $0.contains(#""state":"firing""#) })
        for _ in 0..<30 where sink.slackTexts.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
        kill(v.process.processIdentifier, SIGKILL)
        v.process.waitUntilExit()
        v = try RunningVigil(args, rules: rules, port: v.port)
        #expect(await v.waitUntilUp())
        try await Task.sleep(for: .seconds(5))
        stop.set()
        _ = await trader.value
        #expect(sink.slackTexts.count == 1, "\(sink.slackTexts)")
        #expect(sink.pagerEvents.count == 1 && sink.pagerEvents.first?.hasPrefix("trigger ") == true, "\(sink.pagerEvents)")
        #expect(v.stderr.contains("state restored"))
        #expect(await v.terminate() == 0)
    }
}

struct ShutdownTests {
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func sigtermFlushesTheOutboxThenExitsZero() async throws {
        let sink = try Sink()
        defer { sink.server.stop() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-term-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let conf = work.appendingPathComponent("vigil.conf")
        try Data("channel slack { type slack url \"\(sink.url)/slack\" rate 1 }\n".utf8).write(to: conf)
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock", "--config", conf.path],
                                 rules: "metric x labels k\nalert a { when x > 1; severity warning; notify slack }\n")
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        #expect(await offPool { unixWrite(sock, ["a", "b", "c"].map { #"{"metric":"x","labels":{"k":"\#($0)"},"value":5}"# }) })
        #expect(await v.waitForAlerts { $0.components(separatedBy: #""state":"firing""#).count == 4 })
        // Paced at one a second, two of the three are still queued when SIGTERM comes.
        #expect(await v.terminate() == 0)
        #expect(sink.slackTexts.count == 3)
        #expect(v.stderr.contains(#""message":"stopped""#))
    }
}

extension ShutdownTests {
    /// Whether `pid` blocks `sig` (the SigBlk mask of /proc/PID/status).
    static func blocks(_ pid: Int32, _ sig: Int32) -> Bool {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("SigBlk:") }),
              let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & (1 << UInt64(sig - 1)) != 0
    }

    /// A SIGHUP and a SIGTERM that come while vigil is still starting are not lost: it stops
    /// cleanly once it runs (before, an ignored signal arriving ahead of its handler vanished and
    /// vigil ran on).
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func signalsWhileStartingAreKept() async throws {
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: "metric x\nalert a { when x > 1; severity warning; notify slack }\n")
        let pid = v.process.processIdentifier
        var blocked = false
        for _ in 0..<500 where !blocked {
            blocked = Self.blocks(pid, SIGTERM) && Self.blocks(pid, SIGHUP)
            if !blocked { try await Task.sleep(for: .milliseconds(2)) }
        }
        #expect(blocked, "vigil blocks SIGTERM and SIGHUP from the start")
        kill(pid, SIGHUP)
        kill(pid, SIGTERM)
        let p = v.process
        let exited = await offPool { () -> Bool in
            let deadline = Date().addingTimeInterval(15)
            while p.isRunning, Date() < deadline { usleep(20_000) }
            return !p.isRunning
        }
        #expect(exited)
        #expect(p.terminationReason == .exit && p.terminationStatus == 0)
        #expect(v.stderr.contains(#""message":"vigil is running""#) && v.stderr.contains(#""message":"stopped""#), "\(v.stderr)")
    }
}

struct CrashTests {
    /// 50 SIGKILLs through an incident that moves one step per kill: before kill i, alert k_i
    /// fires (Slack, and the pager at once) and k_(i-6) resolves, so deliveries are always on
    /// the way however slow the machine, and every other process is seen to fire its k_i first. Every other kill lands in the at-least-once window (the
    /// receiver has read a delivery and not answered it). Nothing is lost, a kill costs at most
    /// one extra copy of each delivery it interrupted, and PagerDuty never gets a second
    /// trigger for a dedup_key from one process (each process posts to its own `?gen=N` URL).
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(4)))
    func fiftyKill9sLoseNothingAndNeverTriggerTwice() async throws {
        let sink = try Sink()
        defer { sink.server.stop() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-crash-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let sock = work.appendingPathComponent("t.sock").path
        let conf = work.appendingPathComponent("vigil.conf")
        func configure(generation: Int) throws {
            try Data("channel slack { type slack url \"\(sink.url)/slack\" rate 50 }\nchannel pager { type pagerduty url \"\(sink.url)/pd?gen=\(generation)\" routing_key \"k\" }\n".utf8).write(to: conf)
        }
        try configure(generation: 0)
        let rules = "metric x labels k\nalert a { when x > 1; severity warning; notify slack; escalate immediate }\n"
        let args = ["--listen", "unix:\(sock)", "--config", conf.path, "--state-dir", work.appendingPathComponent("state").path]
        let kills = 50, span = 6
        let keys = (0..<kills).map { "k\($0)" }
        // k_j is high while j <= phase < j + span. The trader writes every 100 ms and reconnects
        // through every restart.
        let phase = Atomic<Int>(-1)
        let done = Flag()
        let trader = Task {
            await offPool {
                while !done.isSet {
                    let p = phase.load(ordering: .relaxed)
                    let lines = keys.enumerated().map { j, k in #"{"metric":"x","labels":{"k":"\#(k)"},"value":\#(j <= p && p < j + span ? 5 : 0)}"# }
                    _ = unixWrite(sock, lines)
                    usleep(100_000)
                }
            }
        }
        var v = try RunningVigil(args, rules: rules)
        #expect(await v.waitUntilUp())
        var inWindow = 0
        for i in 0..<kills {
            let pid = v.process.processIdentifier
            if i % 2 == 0 {
                // Armed before the step, so the step's deliveries (k_i firing, k_(i-6) resolved)
                // are the ones the kill interrupts.
                let armed = Task { await offPool { sink.killOnNextDelivery(pid, within: 15) } }
                try await Task.sleep(for: .milliseconds(20))
                phase.store(i, ordering: .relaxed)
                if await armed.value { inWindow += 1 } else { kill(pid, SIGKILL) }
            } else {
                // A process that has seen k_i fire, killed at a random moment after: each key is
                // high through six kills, so some process always sees it (one that is killed
                // before it reads its socket sees nothing, and that is not a loss).
                phase.store(i, ordering: .relaxed)
                for _ in 0..<150 where !(await v.http("GET", "/api/v1/alerts").1.contains(#""labels":{"k":"k\#(i)"},"state":"firing""#)) {
                    try await Task.sleep(for: .milliseconds(100))
                }
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...300)))
                kill(pid, SIGKILL)
            }
            let p = v.process
            await offPool { p.waitUntilExit() }
            try configure(generation: i + 1)
            v = try RunningVigil(args, rules: rules, port: v.port)
        }
        // The last keys fire with the last sidecar standing, then everything recovers.
        for _ in 0..<300 where Set(sink.pagerEvents.filter({ $0.hasPrefix("trigger") })).count < keys.count { try await Task.sleep(for: .milliseconds(200)) }
        phase.store(kills + span, ordering: .relaxed)
        for _ in 0..<300 where Set(sink.pagerEvents.filter({ $0.hasPrefix("resolve") })).count < keys.count { try await Task.sleep(for: .milliseconds(200)) }
        done.set()
        _ = await trader.value
        let status = await v.terminate()
        #expect(status == 0, "exit \(String(describing: status)); the last lines of its log: \(v.stderr.split(separator: "\n").suffix(6).joined(separator: "\n"))")
        #expect(inWindow >= kills / 2, "only \(inWindow) of \(kills) kills landed between a delivery's read and its answer")

        // Nothing lost.
        let slack = sink.slackTexts
        for k in keys {
            #expect(slack.contains { $0.hasPrefix("[FIRING] a (warning): a (k=\(k))") }, "no Slack firing for \(k)")
            #expect(slack.contains { $0.hasPrefix("[RESOLVED] a (warning): a (k=\(k))") }, "no Slack resolve for \(k)")
        }
        let events = sink.generationPagerEvents
        #expect(Set(events.map(\.event).filter { $0.hasPrefix("trigger ") }).count == keys.count, "\(events.map(\.event))")
        #expect(Set(events.map(\.event).filter { $0.hasPrefix("resolve ") }).count == keys.count, "\(events.map(\.event))")
        // A kill repeats at most what it interrupted: one copy per delivery in flight, Slack
        // sending one at a time and PagerDuty up to 4 alerts at once.
        let slackExtra = slack.count - Set(slack).count
        let pagerExtra = events.count - Set(events.map(\.event)).count
        #expect(slackExtra <= kills, "\(slackExtra) extra Slack copies for \(kills) kills")
        #expect(pagerExtra <= 4 * kills, "\(pagerExtra) extra PagerDuty copies for \(kills) kills")
        // Never two triggers for a dedup_key from one process: a second one needs a kill between.
        for (key, arrivals) in Dictionary(grouping: events.filter { $0.event.hasPrefix("trigger ") }, by: \.event) {
            let generations = arrivals.map(\.generation)
            #expect(generations.count == Set(generations).count, "\(key) was triggered twice by one process: generations \(generations)")
        }
        print("kill test: \(kills) kills, \(inWindow) in the at-least-once window; extra copies: Slack \(slackExtra) of \(slack.count), PagerDuty \(pagerExtra) of \(events.count)")
    }
}

struct ReloadTests {
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func goodAndBadReloads() async throws {
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: "metric x\nalert high { when x > 1; severity warning; notify slack }\n")
        let rulesFile = v.dir.appendingPathComponent("t.rules")
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        #expect(await offPool { unixWrite(sock, [#"{"metric":"x","value":5}"#]) })
        #expect(await v.waitForAlerts { $0.contains(#""alert":"high""#) })
        let before = await v.http("GET", "/api/v1/alerts").1

        // A broken set is refused with its diagnostics; the running set stays.
        try Data("alert high { when x >; severity warning; notify slack }\n".utf8).write(to: rulesFile)
        let (badStatus, bad) = await v.http("POST", "/-/reload")
        #expect(badStatus == 400 && bad.contains("expected a metric, number, string"))
        #expect(await v.http("GET", "/metrics").1.contains("vigil_config_last_reload_successful 0\n"))
        #expect(await v.http("GET", "/api/v1/alerts").1 == before)

        // A good set: `high` unchanged keeps its state (no second notification), `low` is new.
        try Data("metric x\nalert high { when x > 1; severity warning; notify slack }\nalert low { when x < 10; severity info; notify slack }\n".utf8).write(to: rulesFile)
        #expect(await v.http("POST", "/-/reload").0 == 200)
        #expect(await v.http("GET", "/metrics").1.contains("vigil_config_last_reload_successful 1\n"))
        #expect(await v.http("GET", "/api/v1/rules").1.contains(#""name":"low""#))
        #expect(await v.waitForAlerts { $0.contains(#""alert":"low""#) })
        let after = await v.http("GET", "/api/v1/alerts").1
        let activeAt = { (body: String) in body.components(separatedBy: #""alert":"high""#)[1].components(separatedBy: #""activeAt":""#)[1].prefix(20) }
        #expect(activeAt(after) == activeAt(before))
        #expect(v.stdout.components(separatedBy: "FIRING warning high").count - 1 == 1)

        // SIGHUP: `high` is gone, so its alert resolves to the channel it reached.
        try Data("metric x\nalert low { when x < 10; severity info; notify slack }\n".utf8).write(to: rulesFile)
        kill(v.process.processIdentifier, SIGHUP)
        #expect(await v.waitForAlerts { !$0.contains(#""alert":"high""#) })
        for _ in 0..<50 where !v.stdout.contains("RESOLVED warning high") { try await Task.sleep(for: .milliseconds(100)) }
        #expect(v.stdout.contains("RESOLVED warning high"))
        #expect(await v.terminate() == 0)
    }
}

struct RecordTests {
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func aRecordingReplaysToTheSameTransitions() async throws {
        let rules = "metric x labels k\nalert high { when x > 1 for 1s; severity warning; notify slack }\n"
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock", "--record", "DIR/rec"], rules: rules)
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        // A trader writing in real time, 200 ms apart, each line stamped as it is written (in
        // `run` the wall clock is the clock: a batch stamped into the future would not replay alike).
        let lines = await offPool { () -> [String] in
            var lines: [String] = []
            guard let fd = UnixSocket.connect(sock, attempts: 50) else { return [] }
            defer { close(fd) }
            for i in 0..<30 {
                let line = #"{"timestamp_ns":\#(Int64(Date().timeIntervalSince1970 * 1e9)),"metric":"x","labels":{"k":"\#(i % 2)"},"value":\#(i < 20 ? 5 : 0)}"#
                lines.append(line)
                guard send(fd, line + "\n", line.utf8.count + 1, Int32(MSG_NOSIGNAL)) == line.utf8.count + 1 else { return [] }
                usleep(200_000)
            }
            return lines
        }
        #expect(lines.count == 30)
        #expect(await v.waitForAlerts { $0 == "[]" || $0.contains("firing") })
        try await Task.sleep(for: .milliseconds(500))
        #expect(await v.terminate() == 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: v.dir.appendingPathComponent("rec").path)
        #expect(files.count == 1 && files[0].hasPrefix("stream-") && files[0].hasSuffix(".ndjson"))
        let recorded = try String(contentsOf: v.dir.appendingPathComponent("rec/\(files[0])"), encoding: .utf8)
        #expect(recorded == lines.joined(separator: "\n") + "\n")
        let rulesPath = v.dir.appendingPathComponent("t.rules").path
        let recPath = v.dir.appendingPathComponent("rec/\(files[0])").path
        let replay = await offPool { () -> String in
            let t = CapturedTerminal()
            _ = CLI.run(["replay", "--rules", rulesPath, recPath, "--format", "json"], terminal: t)
            return t.stdout
        }
        let states = replay.split(separator: "\n").filter { $0.contains("\"state\"") }.map { line -> String in
            let k = line.components(separatedBy: #""k":""#)[1].prefix(1)
            let state = line.components(separatedBy: #""state":""#)[1].prefix { $0 != "\"" }
            return "\(k) \(state)"
        }
        #expect(states == ["0 pending", "1 pending", "0 firing", "1 firing", "0 resolved", "1 resolved"])
        // The live run logged the same transitions.
        let live = v.stderr.split(separator: "\n").filter { $0.contains(#""service":"vigil.engine""#) }.map { line -> String in
            let k = line.components(separatedBy: #""labels":"k="#)[1].prefix(1)
            let state = line.components(separatedBy: #""message":"alert "#)[1].prefix { $0 != "\"" }
            return "\(k) \(state)"
        }
        #expect(live == states)
    }
}

struct OperatorCLITests {
    /// `vigil …` in-process, off the cooperative pool (it waits on its HTTP calls).
    func cli(_ args: [String]) async -> (Int32, String, String) {
        await offPool {
            let t = CapturedTerminal()
            let status = CLI.run(args, terminal: t)
            return (status, t.stdout, t.stderr)
        }
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func alertsAckAndSilencesFromTheCommandLine() async throws {
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock"], rules: "metric x labels venue\nalert high { when x > 1; severity warning; notify slack; escalate after 1h to pager }\n")
        #expect(await v.waitUntilUp())
        let http = "127.0.0.1:\(v.port)"
        #expect(await cli(["alerts", "--http", http]).1 == "no pending or firing alerts\n")
        let sock = v.dir.appendingPathComponent("t.sock").path
        #expect(await offPool { unixWrite(sock, [#"{"metric":"x","labels":{"venue":"kalshi"},"value":5}"#, #"{"metric":"x","labels":{"venue":"poly"},"value":5}"#]) })
        #expect(await v.waitForAlerts { $0.contains("poly") && $0.contains("kalshi") })
        let (status, table, _) = await cli(["alerts", "--http", http])
        #expect(status == 0)
        #expect(table.hasPrefix("STATE   ALERT  LABELS        SINCE"))
        #expect(table.contains("firing  high   venue=kalshi") && table.contains("firing  high   venue=poly"))
        let (ackStatus, acked, _) = await cli(["ack", #"high{venue="kalshi"}"#, "--comment", "on it", "--http", http])
        #expect(ackStatus == 0 && acked.hasPrefix("acknowledged "))
        #expect(await cli(["alerts", "--http", http]).1.split(separator: "\n").filter { $0.contains("yes") }.count == 1)
        #expect(await cli(["ack", #"high{venue="nowhere"}"#, "--http", http]).2 == "error: no firing alert matches high{venue=\"nowhere\"}\n")
        let (addStatus, added, _) = await cli(["silence", "add", #"alertname="high", venue=~"po.*""#, "--for", "2h", "--comment", "maintenance", "--author", "ana", "--http", http])
        #expect(addStatus == 0 && added.hasPrefix("silence ") && added.hasSuffix(" added\n"))
        let id = String(added.dropFirst(8).prefix { $0 != " " })
        let listed = await cli(["silence", "ls", "--http", http]).1
        #expect(listed.contains(#"alertname="high", venue=~"po.*""#) && listed.contains("by ana: maintenance"))
        #expect(await cli(["silence", "rm", id, "--http", http]).1 == "silence \(id) removed\n")
        #expect(await cli(["silence", "ls", "--http", http]).1 == "no active silences\n")
        #expect(await v.terminate() == 0)
        let (downStatus, _, downErr) = await cli(["alerts", "--http", http])
        #expect(downStatus == 1 && downErr == "error: cannot reach vigil at http://\(http) (is `vigil run` running?)\n")
    }
}

/// A flag set by one task and read by another.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Counts from several tasks.
final class Mutex3: @unchecked Sendable {
    private let lock = NSLock()
    private var n = 0
    func add() { lock.lock(); n += 1; lock.unlock() }
    var count: Int { lock.lock(); defer { lock.unlock() }; return n }
}

/// A Unix-socket server standing in for the trader in connect mode.
final class UnixListener: @unchecked Sendable { // one test owns it; accept runs off the pool
    private let fd: Int32
    let path: String

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard var addr = UnixSocket.address(path) else { throw POSIXError(.ENAMETOOLONG) }
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        guard ok == 0, listen(fd, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
    }

    func accept(timeout: Int) -> Int32 {
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, Int32(timeout * 1000)) == 1 else { return -1 }
        return Glibc.accept(fd, nil, nil)
    }

    func close() {
        Glibc.close(fd)
        unlink(path)
    }
}

func readAll(_ fd: Int32) -> String {
    var data = [UInt8]()
    var buf = [UInt8](repeating: 0, count: 4096)
    while true {
        let n = recv(fd, &buf, buf.count, 0)
        if n <= 0 { break }
        data += buf[0..<n]
    }
    return String(decoding: data, as: UTF8.self)
}

/// One request with `Connection: close`; (status, body), (0, "") when it fails.
func httpRequest(_ port: UInt16, _ method: String, _ path: String, body: String? = nil) -> (Int, String) {
    let fd = Loopback.connect(port, receiveTimeout: 5)
    defer { close(fd) }
    let payload = body ?? ""
    let text = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: \(payload.utf8.count)\r\n\r\n\(payload)"
    guard text.withCString({ send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }) == text.utf8.count else { return (0, "") }
    let answer = readAll(fd)
    guard answer.hasPrefix("HTTP/1.1 "), let status = Int(answer.dropFirst(9).prefix(3)),
          let split = answer.range(of: "\r\n\r\n") else { return (0, "") }
    return (status, String(answer[split.upperBound...]))
}

/// Sends raw bytes and reads the whole answer (the server closes after an error).
func rawHTTP(_ port: UInt16, _ text: String) -> String {
    let fd = Loopback.connect(port, receiveTimeout: 15)
    defer { close(fd) }
    _ = text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
    return readAll(fd)
}

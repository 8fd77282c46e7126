import Foundation
import Glibc
import Synchronization
import Testing
import VigilEngine
import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// The monitor of SPEC §7 against real targets on 127.0.0.1 and real child processes. Every wait
/// is bounded; every monitor, listener and child is stopped.
struct MonitorTests {
    /// What a monitor emitted, with when.
    final class Collector: Sendable {
        let items = Mutex<[(at: ContinuousClock.Instant, reading: Monitor.Reading)]>([])

        func add(_ readings: [Monitor.Reading]) {
            let now = ContinuousClock.now
            items.withLock { $0 += readings.map { (now, $0) } }
        }

        /// Values of one series, in order, with their times.
        func values(_ metric: String, _ label: String, _ value: String) -> [(at: ContinuousClock.Instant, value: Monitor.Reading.Value)] {
            items.withLock { $0.filter { $0.reading.metric == metric && $0.reading.labels == [Label(label, value)] }.map { ($0.at, $0.reading.value) } }
        }

        func numbers(_ metric: String, _ label: String, _ value: String) -> [Double] {
            values(metric, label, value).compactMap { if case .number(let x) = $0.value { x } else { nil } }
        }

        /// Polls every 20 ms until `done` holds, for at most `seconds`.
        func wait(seconds: Double = 5, _ done: () -> Bool) async -> Bool {
            let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
            while ContinuousClock.now < deadline {
                if done() { return true }
                try? await Task.sleep(for: .milliseconds(20))
            }
            return done()
        }
    }

    static let ms: Int64 = 1_000_000

    func monitor(_ s: Surroundings, log: LogSink = MemoryLog()) -> (Monitor, Collector) {
        let c = Collector()
        let m = Monitor(s, log: log) { c.add($0) }
        m.start()
        return (m, c)
    }

    @Test(.timeLimit(.minutes(1)))
    func aTCPProbeGoesUpThenDownWithinOneIntervalOfTheListenerClosing() async throws {
        let listener = try #require(tcpListener())
        let log = MemoryLog()
        let probe = Surroundings.Probe(name: "redis", target: .tcp(host: "127.0.0.1", port: listener.port), interval: 300 * Self.ms,
                                       timeout: 1000 * Self.ms, critical: true)
        let (m, c) = monitor(Surroundings(probes: [probe]), log: log)
        defer { m.stop() }
        #expect(m.criticalNotUp == ["redis"]) // not checked yet: not known to be up
        #expect(await c.wait { c.numbers("probe_up", "probe", "redis").count >= 2 })
        #expect(c.numbers("probe_up", "probe", "redis").allSatisfy { $0 == 1 })
        #expect(c.values("service_status", "service", "redis").allSatisfy { $0.value == .string("healthy") })
        #expect(c.numbers("probe_duration_seconds", "probe", "redis").allSatisfy { $0 >= 0 && $0 < 1 })
        #expect(m.criticalNotUp == [])
        let up = try #require(m.probes.first)
        #expect(up.up == true && up.lastError == nil && up.kind == "tcp" && up.target == "127.0.0.1:\(listener.port)")
        #expect(try #require(up.nextCheck).timeIntervalSinceNow <= 0.31)

        close(listener.fd)
        let closed = ContinuousClock.now
        #expect(await c.wait { c.numbers("probe_up", "probe", "redis").last == 0 })
        let down = try #require(c.values("probe_up", "probe", "redis").first { $0.at > closed && $0.value == .number(0) })
        // The next check after the close finds it down: one interval, plus slack for a loaded runner.
        #expect(down.at - closed < .milliseconds(300 + 500), "down after \(down.at - closed)")
        #expect(c.values("probe_up", "probe", "redis").filter { $0.at > down.at }.allSatisfy { $0.value == .number(0) })
        #expect(c.values("service_status", "service", "redis").last?.value == .string("down"))
        #expect(m.probes.first?.lastError == "connection refused")
        #expect(m.criticalNotUp == ["redis"])
        // One log line per change, not per check.
        #expect(log.all.filter { $0.service == "monitor" && $0.level != .debug }.map(\.message) == ["probe up", "probe down"])
        #expect(log.all.last?.data["cause"] == "connection refused")
    }

    /// The checks run on the clock the monitor is given: on a manual clock, a probe every 30 s
    /// runs once its first (spread) moment comes, then again only when 30 s more have passed.
    @Test(.timeLimit(.minutes(1)))
    func probesFollowTheMonitorsClock() async throws {
        let listener = try #require(tcpListener())
        defer { close(listener.fd) }
        let clock = ManualClock(Instant(nanoseconds: 1_736_949_600_000_000_000))
        let probe = Surroundings.Probe(name: "redis", target: .tcp(host: "127.0.0.1", port: listener.port), interval: 30_000 * Self.ms,
                                       timeout: 1000 * Self.ms, critical: true)
        let c = Collector()
        let m = Monitor(Surroundings(probes: [probe]), clock: clock, log: MemoryLog()) { c.add($0) }
        m.start()
        defer { m.stop() }
        // The first check is spread over the first second after the monitor reads its config:
        // step the clock 100 ms at a time (at most 5 s, well inside one interval) until it runs.
        for _ in 0..<50 where c.numbers("probe_up", "probe", "redis").isEmpty {
            clock.advance(by: 100 * Self.ms)
            _ = await c.wait(seconds: 0.2) { !c.numbers("probe_up", "probe", "redis").isEmpty }
        }
        #expect(c.numbers("probe_up", "probe", "redis").count == 1)
        clock.advance(by: 10_000 * Self.ms)
        m.reconfigure(Surroundings(probes: [probe])) // a wake-up with nothing due: no check
        #expect(await c.wait(seconds: 0.3) { c.numbers("probe_up", "probe", "redis").count > 1 } == false)
        clock.advance(by: 20_000 * Self.ms)
        #expect(await c.wait { c.numbers("probe_up", "probe", "redis").count == 2 })
        #expect(c.numbers("probe_up", "probe", "redis") == [1, 1])
        #expect(c.numbers("probe_duration_seconds", "probe", "redis").allSatisfy { $0 == 0 }, "a manual clock does not move while a check runs")
    }

    @Test(.timeLimit(.minutes(1)))
    func aUnixSocketProbeAndAResolvedHostName() async throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).sock").path
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = try #require(UnixSocket.address(path))
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        #expect(bound == 0 && listen(s, 128) == 0)
        let listener = try #require(tcpListener())
        defer { close(listener.fd) }
        let (m, c) = monitor(Surroundings(probes: [
            .init(name: "sock", target: .unix(path), interval: 200 * Self.ms, timeout: 2000 * Self.ms),
            .init(name: "named", target: .tcp(host: "localhost", port: listener.port), interval: 200 * Self.ms, timeout: 2000 * Self.ms),
        ]))
        defer { m.stop() }
        #expect(await c.wait { c.numbers("probe_up", "probe", "sock").first == 1 && c.numbers("probe_up", "probe", "named").first == 1 })
        close(s)
        unlink(path)
        #expect(await c.wait { c.numbers("probe_up", "probe", "sock").last == 0 })
        #expect(m.probes.first?.lastError == "no such file or directory")
    }

    /// A listener on [::1], or nil where the machine has no IPv6 loopback.
    static func ipv6Listener() -> (fd: Int32, port: UInt16)? {
        let s = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        var addr = sockaddr_in6()
        addr.sin6_family = sa_family_t(AF_INET6)
        addr.sin6_addr = in6addr_loopback
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        guard bound == 0, listen(s, 128) == 0 else { close(s); return nil }
        var len = socklen_t(MemoryLayout<sockaddr_in6>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        return (s, UInt16(bigEndian: addr.sin6_port))
    }

    @Test(.enabled(if: ipv6Listener().map { close($0.fd); return true } ?? false, "this machine has no IPv6 loopback"), .timeLimit(.minutes(1)))
    func anIPv6Probe() async throws {
        let listener = try #require(Self.ipv6Listener())
        defer { close(listener.fd) }
        let (m, c) = monitor(Surroundings(probes: [.init(name: "v6", target: .tcp(host: "::1", port: listener.port), interval: 200 * Self.ms, timeout: 2000 * Self.ms)]))
        defer { m.stop() }
        #expect(await c.wait { c.numbers("probe_up", "probe", "v6").first == 1 })
        #expect(m.probes.first?.target == "[::1]:\(listener.port)")
    }

    @Test(.timeLimit(.minutes(1)))
    func anHTTPProbeSees200Then503ThenAHangPastItsTimeout() async throws {
        let receiver = try Receiver(script: [.init(status: 200), .init(status: 200), .init(status: 503), .hang])
        defer { receiver.stop() }
        let probe = Surroundings.Probe(name: "kalshi_api", target: .http("\(receiver.url)?token=s3cret"),
                                       interval: 2500 * Self.ms, timeout: 2000 * Self.ms, critical: true, expect: 200)
        let log = MemoryLog()
        let (m, c) = monitor(Surroundings(probes: [probe]), log: log)
        defer { m.stop() }
        #expect(await c.wait(seconds: 20) { c.numbers("probe_up", "probe", "kalshi_api").count >= 5 })
        let causes = log.all.filter { $0.message == "probe checked" }.prefix(5).map { $0.data["cause"] ?? "ok" }
        #expect(causes == ["ok", "ok", "HTTP 503 (expected 200)", "timed out after 2s", "timed out after 2s"])
        #expect(Array(c.numbers("probe_up", "probe", "kalshi_api").prefix(5)) == [1, 1, 0, 0, 0])
        let durations = c.numbers("probe_duration_seconds", "probe", "kalshi_api")
        #expect(durations.count >= 5 && durations[3] >= 1.99 && durations[3] < 2.5, "the hang ends at the timeout: \(durations)")
        #expect(m.probes.first?.lastError == "timed out after 2s")
        #expect(m.probes.first?.target == receiver.url)
        #expect(receiver.requests.first?.path == "\(receiver.path)?token=s3cret")
    }

    @Test(.timeLimit(.minutes(1)))
    func anHTTPProbeWithoutExpectTakesAny2xx() async throws {
        let receiver = try Receiver(script: [.init(status: 204), .init(status: 503), .init(status: 404)])
        defer { receiver.stop() }
        let (m, c) = monitor(Surroundings(probes: [.init(name: "api", target: .http(receiver.url), interval: 1500 * Self.ms, timeout: 1000 * Self.ms)]))
        defer { m.stop() }
        #expect(await c.wait(seconds: 10) { c.numbers("probe_up", "probe", "api").count >= 3 })
        #expect(Array(c.numbers("probe_up", "probe", "api").prefix(3)) == [1, 0, 0])
        #expect(m.probes.first?.lastError == "HTTP 404 (expected 2xx)")
    }

    @Test(.timeLimit(.minutes(1)))
    func anHTTPProbeOfAClosedPortSaysSoInWords() async throws {
        let (port, held) = try Receiver.reservePort() // bound, not listening: connects are refused
        defer { close(held) }
        let (m, c) = monitor(Surroundings(probes: [.init(name: "api", target: .http("http://127.0.0.1:\(port)/"), interval: 1000 * Self.ms)]))
        defer { m.stop() }
        #expect(await c.wait(seconds: 10) { c.numbers("probe_up", "probe", "api").first == 0 })
        #expect(m.probes.first?.lastError == "cannot connect (refused or unreachable)")
    }

    /// A target that never answers holds only its own check: the other probe keeps its pace.
    @Test(.timeLimit(.minutes(1)))
    func aTargetThatNeverAnswersDelaysNoOtherProbe() async throws {
        let hanging = try Receiver(script: [.hang])
        defer { hanging.stop() }
        let listener = try #require(tcpListener())
        defer { close(listener.fd) }
        let (m, c) = monitor(Surroundings(probes: [
            .init(name: "stuck", target: .http(hanging.url), interval: 5000 * Self.ms, timeout: 3000 * Self.ms),
            .init(name: "fast", target: .tcp(host: "127.0.0.1", port: listener.port), interval: 100 * Self.ms),
        ]))
        defer { m.stop() }
        #expect(await c.wait(seconds: 10) { c.numbers("probe_up", "probe", "stuck").first == 0 })
        // Judged from the readings' own times, not this test's wake-ups (a loaded machine delays those).
        let stuck = try #require(c.values("probe_up", "probe", "stuck").first?.at)
        let asked = try #require(hanging.requests.first?.at)
        #expect(stuck - asked >= .milliseconds(2500), "the hung probe waited its 3 s timeout")
        let fast = c.values("probe_up", "probe", "fast").map(\.at).filter { $0 > asked && $0 < stuck }
        #expect(fast.count >= 15, "\(fast.count) fast checks while the other hung (one per 100 ms is 30)")
        let gaps = zip(fast, fast.dropFirst()).map { $1 - $0 }
        #expect(gaps.allSatisfy { $0 < .milliseconds(500) }, "largest gap \(gaps.max() ?? .zero)")
    }

    @Test(.enabled(if: PythonChild.python != nil, "python3 is not installed: the watch test needs it"), .timeLimit(.minutes(1)))
    func aWatchedChildIsMeasuredAndItsExitSeenWithinOneInterval() async throws {
        let marker = "vigil-watch-\(UUID().uuidString)"
        let child = try PythonChild(arguments: [marker])
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(marker).pid")
        try Data("\(child.pid)\n".utf8).write(to: pidFile)
        defer { try? FileManager.default.removeItem(at: pidFile) }
        let log = MemoryLog()
        let (m, c) = monitor(Surroundings(watches: [
            .init(name: "by_pid", selector: .pid(child.pid), interval: 300 * Self.ms),
            .init(name: "by_file", selector: .pidFile(pidFile.path), interval: 300 * Self.ms),
            .init(name: "by_command", selector: .command(marker), interval: 300 * Self.ms),
        ]), log: log)
        defer { m.stop() }
        #expect(await c.wait { ["by_pid", "by_file", "by_command"].allSatisfy { c.numbers("process_cpu_percent", "process", $0).count >= 1 } })
        let vmRSS = try #require(child.vmRSS)
        for name in ["by_pid", "by_file", "by_command"] {
            let rss = try #require(c.numbers("process_rss_mb", "process", name).last) * 1_048_576
            #expect(abs(rss - Double(vmRSS)) <= 0.1 * Double(vmRSS), "\(name): rss \(rss) vs VmRSS \(vmRSS)")
            #expect(c.numbers("process_open_fds", "process", name).last == Double(child.fds), "\(name)")
            #expect(c.numbers("process_connections", "process", name).last == Double(child.inet), "\(name)")
            #expect(c.numbers("process_up", "process", name).allSatisfy { $0 == 1 }, "\(name)")
            #expect(try #require(c.numbers("process_threads", "process", name).last) >= 1)
            #expect(try #require(c.numbers("process_vms_mb", "process", name).last) >= rss / 1_048_576)
            #expect(try #require(c.numbers("process_cpu_percent", "process", name).last) >= 0)
        }
        #expect(m.watches.map(\.pid) == [child.pid, child.pid, child.pid])

        child.finish()
        let exited = ContinuousClock.now
        #expect(await c.wait { ["by_pid", "by_file", "by_command"].allSatisfy { c.numbers("process_up", "process", $0).last == 0 } })
        for name in ["by_pid", "by_file", "by_command"] {
            let gone = try #require(c.values("process_up", "process", name).first { $0.value == .number(0) })
            // One interval, plus slack for a runner loaded by the rest of the suite (840 ms seen with 500).
            #expect(gone.at - exited < .milliseconds(300 + 1000), "\(name): process_up 0 after \(gone.at - exited)")
        }
        #expect(m.watches.map(\.up) == [false, false, false])
        #expect(m.watches.first?.lastError == "no process has pid \(child.pid)")
        #expect(log.all.filter { $0.message == "watched process is gone" }.count == 3)
    }

    @Test(.enabled(if: PythonChild.python != nil, "python3 is not installed: the watch test needs it"), .timeLimit(.minutes(1)))
    func aPidFileThatMovesToANewProcessIsFollowedAndLogged() async throws {
        let first = try PythonChild(), second = try PythonChild()
        defer { first.finish(); second.finish() }
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-\(UUID().uuidString).pid")
        defer { try? FileManager.default.removeItem(at: pidFile) }
        try Data("\(first.pid)".utf8).write(to: pidFile)
        let log = MemoryLog()
        let (m, c) = monitor(Surroundings(watches: [.init(name: "trader", selector: .pidFile(pidFile.path), interval: 150 * Self.ms)]), log: log)
        defer { m.stop() }
        #expect(await c.wait { m.watches.first?.pid == first.pid })
        // Atomically, as a daemon rewrites its pid file: a check that read the file between a
        // plain write's truncation and its bytes saw no process (a "gone", not a "restarted").
        try Data("\(second.pid)".utf8).write(to: pidFile, options: .atomic)
        #expect(await c.wait { m.watches.first?.pid == second.pid })
        let restarts = log.all.filter { $0.message == "watched process restarted" }
        #expect(restarts.map(\.data) == [["watch": "trader", "old_pid": "\(first.pid)", "pid": "\(second.pid)"]])
        #expect(c.numbers("process_up", "process", "trader").allSatisfy { $0 == 1 })
    }

    @Test(.timeLimit(.minutes(1)))
    func theSystemBlockReportsHostSeries() async throws {
        let (m, c) = monitor(Surroundings(system: .init(interval: 200 * Self.ms, mounts: ["/", "/no/such/mount"])))
        defer { m.stop() }
        #expect(await c.wait { c.items.withLock { $0.contains { $0.reading.metric == "cpu_percent" } } })
        let names = Set(c.items.withLock { $0.map(\.reading.metric) })
        #expect(names == ["cpu_percent", "memory_usage_mb", "disk_usage_percent", "load_average"])
        let cpu = try #require(c.items.withLock { $0.first { $0.reading.metric == "cpu_percent" } })
        if case .number(let x) = cpu.reading.value { #expect(x >= 0 && x <= 100) }
        // The missing mount is skipped, not reported as 0.
        #expect(c.items.withLock { $0.filter { $0.reading.metric == "disk_usage_percent" }.allSatisfy { $0.reading.labels == [Label("mount", "/")] } })
    }

    @Test(.timeLimit(.minutes(1)))
    func aReconfigureKeepsUnchangedChecksAndDropsRemovedOnes() async throws {
        let listener = try #require(tcpListener())
        defer { close(listener.fd) }
        // Timeouts longer than the interval: on a loaded runner a loopback connect may wait for the thread.
        let keep = Surroundings.Probe(name: "keep", target: .tcp(host: "127.0.0.1", port: listener.port), interval: 200 * Self.ms,
                                      timeout: 2000 * Self.ms, critical: true)
        let drop = Surroundings.Probe(name: "drop", target: .tcp(host: "127.0.0.1", port: listener.port), interval: 200 * Self.ms, timeout: 2000 * Self.ms)
        let (m, c) = monitor(Surroundings(probes: [keep, drop]))
        defer { m.stop() }
        #expect(await c.wait { m.probes.allSatisfy { $0.up == true } })
        let added = Surroundings.Probe(name: "added", target: .tcp(host: "127.0.0.1", port: 1), interval: 200 * Self.ms, critical: true)
        m.reconfigure(Surroundings(probes: [keep, added]))
        #expect(await c.wait { m.probes.map(\.name) == ["keep", "added"] })
        #expect(m.probes.first?.up == true) // kept its state: no gap in readiness
        #expect(await c.wait { m.probes.last?.up == false })
        #expect(m.criticalNotUp == ["added"])
    }
}

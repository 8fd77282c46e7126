import Foundation
import Glibc
import Testing
import VigilTestSupport
@testable import VigilCLI
import VigilSidecar

/// `vigil run` with `probe` blocks (SPEC §7): the probes' series drive the shipped kind of
/// `service_down` rule, critical probes gate /ready, and a target that never answers delays
/// neither the other probe nor the stream's evaluation.
struct SurroundingsRunTests {
    /// A TCP listener on 127.0.0.1 that never accepts: its backlog completes connects, and an
    /// HTTP request to it never gets an answer.
    static func listener() throws -> (fd: Int32, port: UInt16) {
        let (s, port) = Loopback.bind() ?? (-1, 0)
        guard s >= 0, port != 0, listen(s, 128) == 0 else { close(s); throw POSIXError(.EADDRINUSE) }
        return (s, port)
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func aProbeGoingDownFailsReadyAndFiresServiceDown() async throws {
        let dep = try Self.listener()
        let never = try Self.listener()
        defer { close(dep.fd); close(never.fd) }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-probe-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let conf = work.appendingPathComponent("vigil.conf")
        try Data("""
            channel out { type console }
            escalation_target out
            probe redis { tcp "127.0.0.1:\(dep.port)" every 200ms timeout 2s critical }
            probe venue { http "http://127.0.0.1:\(never.port)/health" every 120s timeout 100s }

            """.utf8).write(to: conf)
        let rules = """
            metric x
            alert service_down { when service_status == 'down' for > 1s; severity critical; notify out; summary "{{service}} is down" }
            alert high { when x > 1; severity warning; notify out }

            """
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock", "--config", conf.path], rules: rules)
        #expect(await v.waitUntilUp())
        // A trader that stays connected.
        let sock = v.dir.appendingPathComponent("t.sock").path
        let trader = try #require(await offPool { UnixSocket.connect(sock, attempts: 50) })
        defer { close(trader) }
        func send(_ line: String) { _ = (line + "\n").withCString { Glibc.send(trader, $0, strlen($0), Int32(MSG_NOSIGNAL)) } }
        send(#"{"metric":"x","value":0}"#)

        func waitFor(_ path: String, _ predicate: (Int, String) -> Bool) async -> (Int, String) {
            var last = (0, "")
            for _ in 0..<100 {
                last = await v.http("GET", path)
                if predicate(last.0, last.1) { return last }
                try? await Task.sleep(for: .milliseconds(100))
            }
            return last
        }
        #expect(await waitFor("/ready") { status, _ in status == 200 }.0 == 200)
        let healthy = await v.http("GET", "/health/detailed").1
        #expect(healthy.contains(#""status":"healthy""#))
        #expect(healthy.contains(#"{"name":"redis","type":"tcp","target":"127.0.0.1:\#(dep.port)","critical":true,"status":"up","#))

        // The dependency goes away; the port stays held so no other test can take it.
        shutdown(dep.fd, Int32(SHUT_RDWR))
        let (status, body) = await waitFor("/ready") { status, _ in status == 503 }
        #expect(status == 503 && body.contains("critical dependencies are not up: redis"), "\(body)")
        let detailed = await v.http("GET", "/health/detailed").1
        #expect(detailed.contains(#""status":"degraded""#))
        #expect(detailed.contains(#""name":"redis","type":"tcp","target":"127.0.0.1:\#(dep.port)","critical":true,"status":"down""#))
        #expect(detailed.contains(#""last_error":"connection refused""#))
        let metrics = await v.http("GET", "/metrics").1
        #expect(metrics.contains("vigil_probe_up{probe=\"redis\"} 0\n"), "\(metrics)")
        #expect(!metrics.contains("vigil_probe_up{probe=\"venue\"}")) // no answer yet: no sample
        #expect(detailed.contains(#"{"name":"venue","type":"http","target":"http://127.0.0.1:\#(never.port)/health","critical":false,"#))

        // The stream is evaluated as ever while the venue probe hangs.
        send(#"{"metric":"x","value":5}"#)
        #expect(await v.waitForAlerts { $0.contains(#""alert":"high","labels":{},"state":"firing""#) })
        // service_down: pending at once, firing after its `for`.
        #expect(await v.waitForAlerts { $0.contains(#""alert":"service_down","labels":{"service":"redis"},"state":"firing""#) })
        #expect(v.stdout.contains(#"FIRING critical service_down{service="redis"}"#), "\(v.stdout)")
        #expect(!v.stdout.contains(#"service_down{service="venue"}"#)) // still waiting on its first answer (100 s)
        #expect(v.stderr.contains(#""message":"probe down""#))
        #expect(await v.terminate() == 0)
    }

    /// An HTTP probe URL from the environment (it carries a token): probed, and shown in the
    /// API and logs only as `env:NAME`. A missing variable stops vigil with one clear line.
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func aSecretProbeURLIsUsedAndNeverShown() async throws {
        let server = try HTTPServer(host: "127.0.0.1", port: 0) { _ in .json(503, "{}") }
        defer { server.stop() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-probe-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let conf = work.appendingPathComponent("vigil.conf")
        try Data("channel out { type console }\nescalation_target out\nprobe venue { http env:VIGIL_TEST_VENUE_URL every 200ms timeout 2s }\n".utf8).write(to: conf)
        let rules = "alert service_down { when service_status == 'down'; severity critical; notify out; summary \"{{service}} is down\" }\n"
        let token = "s3cret-\(UUID().uuidString.prefix(8))"
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock", "--config", conf.path], rules: rules,
                                 environment: ["VIGIL_TEST_VENUE_URL": "http://127.0.0.1:\(server.port)/health?token=\(token)"])
        #expect(await v.waitUntilUp())
        #expect(await v.waitForAlerts { $0.contains(#""alert":"service_down","labels":{"service":"venue"},"state":"firing""#) })
        let detailed = await v.http("GET", "/health/detailed").1
        #expect(detailed.contains(#""target":"env:VIGIL_TEST_VENUE_URL""#) && detailed.contains(#""last_error":"HTTP 503 (expected 2xx)""#), "\(detailed)")
        let everything = detailed + (await v.http("GET", "/metrics").1) + (await v.http("GET", "/api/v1/alerts").1)
        #expect(await v.terminate() == 0)
        #expect(!(everything + v.stderr + v.stdout).contains(token))

        let missing = vigil("run", "--rules", v.dir.appendingPathComponent("t.rules").path, "--config", conf.path, "--stdin")
        #expect(missing.status == 1)
        #expect(missing.err == "error: probe venue: http comes from the environment variable VIGIL_TEST_VENUE_URL, which is not set\n")
    }
}

import Foundation
import Glibc
import Testing
@testable import VigilCLI
import VigilSidecar

/// `vigil run` with a dead man's switch: the heartbeat pings a receiver only while the stream
/// is read and the core answers, and stops within one interval (and a check) when either stops.
struct HeartbeatRunTests {
    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(1)))
    func pingsStopWithinOneIntervalWhenTheStreamOrVigilStops() async throws {
        let sink = try Sink()
        defer { sink.server.stop() }
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-beat-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let conf = work.appendingPathComponent("vigil.conf")
        try Data("""
            channel out { type console }
            escalation_target out
            heartbeat { url env:BEAT_URL every 500ms grace 2s }

            """.utf8).write(to: conf)
        let v = try RunningVigil(["--listen", "unix:DIR/t.sock", "--config", conf.path], rules: "metric x\nalert a { when x > 1; severity info; notify out }\n",
                                 environment: ["BEAT_URL": "\(sink.url)/ping/SECRET-TOKEN"])
        #expect(await v.waitUntilUp())
        let sock = v.dir.appendingPathComponent("t.sock").path
        // One trader connection, kept: a line every 50 ms while fed.
        let trader = try #require(await offPool { UnixSocket.connect(sock, attempts: 50) })
        defer { close(trader) }
        func pings() -> Int { sink.all.filter { $0.path == "/ping/SECRET-TOKEN" }.count }
        func feed(for seconds: Double) async {
            let until = Date().addingTimeInterval(seconds)
            while Date() < until {
                let line = #"{"metric":"x","value":0}"# + "\n"
                _ = line.withCString { send(trader, $0, strlen($0), Int32(MSG_NOSIGNAL)) }
                try? await Task.sleep(for: .milliseconds(50))
            }
        }
        // Fed: it pings about every 500 ms.
        await feed(for: 2.5)
        #expect(pings() >= 2, "\(pings()) pings in 2.5 s")
        // The trader stops: within one interval (plus a check) the pings stop.
        try await Task.sleep(for: .milliseconds(1200))
        let held = pings()
        try await Task.sleep(for: .milliseconds(1500))
        #expect(pings() == held, "pings went on while nothing was read")
        #expect(v.stderr.contains("heartbeat held"))
        // Fed again: they resume.
        await feed(for: 2.0)
        #expect(pings() > held)
        // vigil stops: nothing after.
        #expect(await v.terminate() == 0)
        let last = pings()
        try await Task.sleep(for: .milliseconds(500))
        #expect(pings() == last)
        #expect(!v.stderr.contains("SECRET-TOKEN"), "the ping URL is a secret")
    }
}

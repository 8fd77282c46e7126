import Foundation
import Glibc
import Testing
@testable import VigilCLI

/// `vigil run` tailing a log file that a writer rotates under load, with a `kill -9` in the
/// middle: every line is applied exactly once (the tails' positions are journaled with the
/// step that applied their lines).
struct TailRunTests {
    final class Writer: @unchecked Sendable {
        let dir: URL
        init(_ dir: URL) { self.dir = dir }

        func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

        /// 10,000 lines, rotated as RotatingFileHandler does at 2,500, 5,000 and 7,500, over ~3 s.
        func run() {
            var fd = open(path("trader.log"), O_WRONLY | O_CREAT | O_APPEND, 0o644)
            for n in 0..<10_000 {
                if n > 0, n % 2500 == 0 {
                    close(fd)
                    for k in stride(from: 3, through: 1, by: -1) { rename(path("trader.log.\(k)"), path("trader.log.\(k + 1)")) }
                    rename(path("trader.log"), path("trader.log.1"))
                    fd = open(path("trader.log"), O_WRONLY | O_CREAT | O_APPEND, 0o644)
                }
                let line = "{\"metric\":\"seq\",\"value\":\(n)}\n"
                _ = line.withCString { write(fd, $0, strlen($0)) }
                if n % 3 == 0 { usleep(1_000) }
            }
            close(fd)
        }
    }

    func linesRead(_ v: RunningVigil) async -> Int? {
        let metrics = await v.http("GET", "/metrics").1
        guard let line = metrics.split(separator: "\n").first(where: { $0.hasPrefix("vigil_tail_lines_total{tail=\"trader\"}") }) else { return nil }
        return Int(line.split(separator: " ").last ?? "")
    }

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(2)))
    func tenThousandLinesAcrossThreeRotationsAndAKill9AreEachReadOnce() async throws {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-tailrun-\(UUID().uuidString.prefix(8))")
        let logs = work.appendingPathComponent("logs"), state = work.appendingPathComponent("state")
        try FileManager.default.createDirectory(at: logs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        // The file exists, empty, at the first start: everything after is news.
        FileManager.default.createFile(atPath: logs.appendingPathComponent("trader.log").path, contents: nil)
        let conf = work.appendingPathComponent("vigil.conf")
        // The glob takes the rotated names too, so a file that rotates while vigil is down is
        // still found (by its inode) and finished.
        try Data("""
            channel out { type console }
            escalation_target out
            tail trader { path "\(logs.path)/trader.log*" }

            """.utf8).write(to: conf)
        let rules = "metric seq\nalert last_line { when seq >= 9999; severity info; notify out }\n"
        let args = ["--stdin", "--config", conf.path, "--state-dir", state.path]
        var v = try RunningVigil(args, rules: rules)
        #expect(await v.waitUntilUp())
        // The first start has journaled where it follows the file from.
        let journal = state.appendingPathComponent("journal.bin").path
        for _ in 0..<100 where ((try? FileManager.default.attributesOfItem(atPath: journal)[.size] as? Int) ?? 0) == 0 {
            try await Task.sleep(for: .milliseconds(50))
        }
        let writer = Writer(logs)
        let writing = Task { await offPool { writer.run() } }
        // kill -9 at a random moment of the writing, and back 300 ms later.
        try await Task.sleep(for: .milliseconds(Int.random(in: 400...2000)))
        kill(v.process.processIdentifier, SIGKILL)
        v.process.waitUntilExit()
        let readBefore = v.stderr.contains("following a file")
        try await Task.sleep(for: .milliseconds(300))
        v = try RunningVigil(args, rules: rules, port: v.port)
        #expect(await v.waitUntilUp())
        _ = await writing.value
        var read: Int?
        for _ in 0..<200 where read != 10_000 {
            read = await linesRead(v)
            if read != 10_000 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(read == 10_000)
        try await Task.sleep(for: .milliseconds(1500)) // nothing more arrives: nothing was read twice
        #expect(await linesRead(v) == 10_000)
        #expect(await v.waitForAlerts { $0.contains(#""alert":"last_line""#) })
        #expect(readBefore)
        #expect(v.stderr.contains("state restored"))
        #expect(await v.terminate() == 0)
    }
}

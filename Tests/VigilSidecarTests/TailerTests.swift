import Foundation
import Glibc
import Synchronization
import Testing
import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// The tailer on real files in a temporary directory: rotation under load, copy-truncate,
/// partial lines, new files, gzip, and a restart from saved positions. Every wait is bounded.
@Suite struct TailerTests {
    final class Collected: Sendable {
        let lines = Mutex<[String]>([])
        let positions = Mutex<[String: TailPosition]>([:])

        func add(_ batch: LineBatch, _ p: TailPosition) {
            lines.withLock { all in all += batch.lines.map { String(decoding: $0, as: UTF8.self) } }
            positions.withLock { $0[p.key] = p }
        }

        var count: Int { lines.withLock { $0.count } }

        /// Waits (at most `seconds`) until `n` lines are in.
        func wait(for n: Int, seconds: Double = 10) -> [String] {
            let deadline = Date().addingTimeInterval(seconds)
            while count < n, Date() < deadline { usleep(10_000) }
            return lines.withLock { $0 }
        }
    }

    struct Dir {
        let path: String
        init() {
            path = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-tail-\(UUID().uuidString.prefix(8))").path
            try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        func file(_ name: String) -> String { path + "/" + name }
        func append(_ name: String, _ text: String) {
            let fd = open(file(name), O_WRONLY | O_CREAT | O_APPEND, 0o644)
            _ = text.withCString { write(fd, $0, strlen($0)) }
            close(fd)
        }
        func remove() { try? FileManager.default.removeItem(atPath: path) }
    }

    func tailer(_ dir: Dir, pattern: String = "*.log", positions: [TailPosition] = [], known: Bool? = nil,
                log: MemoryLog = MemoryLog()) -> (Tailer, Collected) {
        let collected = Collected()
        let t = Tailer([Surroundings.Tail(name: "trader", directory: dir.path, pattern: pattern)], positions: positions,
                       known: known ?? !positions.isEmpty ? ["trader"] : [], maxLine: 1 << 20, log: log,
                       emit: { batch, p in collected.add(batch, p) })
        t.start()
        return (t, collected)
    }

    /// Waits until the tailer logs that it follows `n` files.
    func following(_ log: MemoryLog, _ n: Int) -> Bool {
        for _ in 0..<500 {
            if log.all.filter({ $0.message == "following a file" }).count >= n { return true }
            usleep(10_000)
        }
        return false
    }

    @Test func tenThousandLinesAcrossThreeRenameRotationsArriveOnceInOrder() {
        let dir = Dir()
        defer { dir.remove() }
        let log = MemoryLog()
        let (t, got) = tailer(dir, log: log)
        defer { t.stop() }
        dir.append("trader.log", "")
        #expect(following(log, 1))
        // The writer rotates as logging.handlers.RotatingFileHandler does: close, shift the
        // backups, rename the file to .1, open a new one.
        for n in 0..<10_000 {
            if n > 0, n % 2500 == 0 {
                for k in stride(from: 2, through: 1, by: -1) { rename(dir.file("trader.log.\(k)"), dir.file("trader.log.\(k + 1)")) }
                rename(dir.file("trader.log"), dir.file("trader.log.1"))
            }
            dir.append("trader.log", "{\"metric\":\"seq\",\"value\":\(n)}\n")
            if n % 500 == 0 { usleep(2_000) }
        }
        let lines = got.wait(for: 10_000)
        #expect(lines.count == 10_000)
        #expect(lines == (0..<10_000).map { "{\"metric\":\"seq\",\"value\":\($0)}" })
    }

    @Test func aFileAlreadyThereAtTheFirstStartIsReadFromItsEnd() {
        let dir = Dir()
        defer { dir.remove() }
        dir.append("trader.log", "old 1\nold 2\n")
        let log = MemoryLog()
        let (t, got) = tailer(dir, log: log)
        defer { t.stop() }
        #expect(following(log, 1))
        dir.append("trader.log", "new 1\n")
        #expect(got.wait(for: 1) == ["new 1"])
    }

    @Test func aTailThatRanBeforeReadsAFileThatAppearedMeanwhileFromItsStart() {
        let dir = Dir()
        defer { dir.remove() }
        dir.append("trader.log", "written while vigil was down\n")
        let (t, got) = tailer(dir, known: true)
        defer { t.stop() }
        #expect(got.wait(for: 1) == ["written while vigil was down"])
    }

    @Test func copyTruncateIsDetectedAndAPartialLineWaitsForItsNewline() {
        let dir = Dir()
        defer { dir.remove() }
        let log = MemoryLog()
        let (t, got) = tailer(dir, log: log)
        defer { t.stop() }
        dir.append("trader.log", "")
        #expect(following(log, 1))
        dir.append("trader.log", (0..<20).map { "a long line number \($0)\n" }.joined())
        #expect(got.wait(for: 20).count == 20)
        // copytruncate: the content is copied away, the file cut to 0, writing goes on.
        truncate(dir.file("trader.log"), 0)
        usleep(200_000)
        dir.append("trader.log", "after 1\nhalf")
        #expect(got.wait(for: 21).last == "after 1")
        usleep(300_000)
        #expect(got.count == 21, "a partial line waits")
        dir.append("trader.log", " and the rest\n")
        #expect(got.wait(for: 22).last == "half and the rest")
        #expect(log.all.contains { $0.message.contains("truncated") })
    }

    @Test func newFilesArePickedUpAndGzipIsNeverRead() {
        let dir = Dir()
        defer { dir.remove() }
        let log = MemoryLog()
        let (t, got) = tailer(dir, pattern: "*", log: log)
        defer { t.stop() }
        dir.append("a.log", "")
        #expect(following(log, 1))
        dir.append("b.log", "from b\n")
        dir.append("c.log.gz", "not read\n")
        let fd = open(dir.file("d.log.1"), O_WRONLY | O_CREAT, 0o644)
        var gz: [UInt8] = [0x1F, 0x8B, 0x08, 0x00, 0x0A]
        _ = write(fd, &gz, gz.count)
        close(fd)
        dir.append("a.log", "from a\n")
        let lines = got.wait(for: 2)
        usleep(300_000)
        #expect(Set(got.lines.withLock { $0 }) == ["from a", "from b"], "\(lines)")
    }

    @Test func aRestartFromSavedPositionsNeitherRereadsNorSkipsEvenAcrossARotation() {
        let dir = Dir()
        defer { dir.remove() }
        let log = MemoryLog()
        var (t, got) = tailer(dir, pattern: "trader.log*", log: log)
        dir.append("trader.log", "")
        #expect(following(log, 1))
        dir.append("trader.log", "1\n2\n3")
        #expect(got.wait(for: 2) == ["1", "2"])
        usleep(100_000)
        t.stop()
        let saved = Array(got.positions.withLock { $0.values })
        #expect(saved.map(\.offset) == [4], "just past the last whole line: \"3\" is read again from its start")
        // While vigil is down the file grows, then rotates.
        dir.append("trader.log", "\n4\n")
        rename(dir.file("trader.log"), dir.file("trader.log.1"))
        dir.append("trader.log", "5\n")
        let log2 = MemoryLog()
        (t, got) = tailer(dir, pattern: "trader.log*", positions: saved, log: log2)
        defer { t.stop() }
        let lines = got.wait(for: 3)
        usleep(200_000)
        #expect(got.lines.withLock { $0 } == ["3", "4", "5"], "\(lines)")
    }
}

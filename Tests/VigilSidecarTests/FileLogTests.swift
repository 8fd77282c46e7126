import Foundation
import Testing
@testable import VigilSidecar

struct FileLogTests {
    @Test func rotatesIntoFiveGzippedBackups() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-log-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("vigil.log").path
        let log = try FileLog(path: path, maxBytes: 4000, backups: 5)
        for i in 0..<400 { log.write(LogRecord(level: .info, service: "test", message: "line \(i)", data: ["i": "\(i)"])) }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(names == ["vigil.log", "vigil.log.1.gz", "vigil.log.2.gz", "vigil.log.3.gz", "vigil.log.4.gz", "vigil.log.5.gz"])
        // The newest backup holds the lines just before the live file's, as JSON lines.
        let backup = String(decoding: try #require(FileLog.gunzip(path + ".1.gz")), as: UTF8.self)
        let live = try String(contentsOfFile: path, encoding: .utf8)
        let lastBackedUp = backup.split(separator: "\n").last.map(String.init) ?? ""
        let firstLive = live.split(separator: "\n").first.map(String.init) ?? ""
        func index(_ line: String) -> Int? { line.components(separatedBy: #""i":""#).last.flatMap { Int($0.prefix { $0 != "\"" }) } }
        #expect(index(firstLive).map { $0 - 1 } == index(lastBackedUp))
        #expect(backup.split(separator: "\n").allSatisfy { $0.hasPrefix(#"{"timestamp":""#) && $0.contains(#""service":"vigil.test""#) })
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)).count <= 4000)
        #expect(index(live.split(separator: "\n").last.map(String.init) ?? "") == 399)
    }
}

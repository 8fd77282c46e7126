import CZlib
import Foundation
import Synchronization

/// `--log-file PATH`: JSON lines appended to PATH, rotated at `maxBytes` (100 MB): the file is
/// gzipped to PATH.1.gz, older backups shift up, and only `backups` (5) are kept.
public final class FileLog: LogSink {
    public let path: String
    public let minimum: LogRecord.Level
    let maxBytes: Int
    let backups: Int
    private let state = Mutex<(handle: FileHandle?, size: Int)>((nil, 0))

    public init(path: String, minimum: LogRecord.Level = .info, maxBytes: Int = 100 * 1024 * 1024, backups: Int = 5) throws {
        self.path = path
        self.minimum = minimum
        self.maxBytes = maxBytes
        self.backups = backups
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else { throw POSIXError(.EACCES) }
        }
        let h = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        let size = Int(try h.seekToEnd())
        state.withLock { $0 = (h, size) }
    }

    public func write(_ r: LogRecord) {
        guard r.level >= minimum else { return }
        let line = Data(r.jsonLine().utf8)
        state.withLock { s in
            if s.size + line.count > maxBytes, s.size > 0 {
                try? s.handle?.close()
                rotate()
                _ = FileManager.default.createFile(atPath: path, contents: nil)
                s.handle = try? FileHandle(forWritingTo: URL(fileURLWithPath: path))
                s.size = 0
            }
            try? s.handle?.write(contentsOf: line)
            s.size += line.count
        }
    }

    /// PATH.{n}.gz → PATH.{n+1}.gz (the oldest dropped), then PATH → PATH.1.gz.
    private func rotate() {
        let fm = FileManager.default
        try? fm.removeItem(atPath: "\(path).\(backups).gz")
        if backups > 1 {
            for n in stride(from: backups - 1, through: 1, by: -1) where fm.fileExists(atPath: "\(path).\(n).gz") {
                try? fm.moveItem(atPath: "\(path).\(n).gz", toPath: "\(path).\(n + 1).gz")
            }
        }
        if FileLog.gzip(path, to: "\(path).1.gz") { try? fm.removeItem(atPath: path) }
    }

    /// Compresses a file with zlib; false (and the original kept) on any failure.
    static func gzip(_ source: String, to target: String) -> Bool {
        guard let data = FileManager.default.contents(atPath: source), let gz = gzopen(target, "wb9") else { return false }
        defer { gzclose(gz) }
        var offset = 0
        while offset < data.count {
            let n = min(1 << 20, data.count - offset)
            let written = data.withUnsafeBytes { gzwrite(gz, $0.baseAddress! + offset, UInt32(n)) }
            guard written == n else { return false }
            offset += n
        }
        return true
    }

    /// Reads a gzipped file (for tests and tools).
    public static func gunzip(_ path: String) -> Data? {
        guard let gz = gzopen(path, "rb") else { return nil }
        defer { gzclose(gz) }
        var out = Data()
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = gzread(gz, &buf, UInt32(buf.count))
            if n < 0 { return nil }
            if n == 0 { return out }
            out.append(contentsOf: buf[0..<Int(n)])
        }
    }
}

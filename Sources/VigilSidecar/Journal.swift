import Foundation
import Glibc
import VigilAlerting
import VigilEngine

/// The state journal in `--state-dir` (SPEC §3: state survives a restart and a `kill -9`).
///
/// `journal.bin` is append-only: each record is a little-endian u32 length, a u32 CRC-32 of the
/// payload, and the payload: the whole alerting state as JSON (engine instances, router
/// tracking with notified channels, escalation positions, repeats, acks, flapping, and
/// silences). A record is appended and fsynced after every core step that changed the state,
/// after that step's notifications are in the outbox. Over 1 MB, and at shutdown, the journal
/// is compacted to its last record (written aside, fsynced, renamed). On start the last valid
/// record is restored; a torn or corrupt tail is cut off with a WARNING.
final class Journal {
    struct State: Codable {
        var instances: [PersistedInstance]
        var router: Router.Persisted
        var acked: Set<String>
    }

    let url: URL
    let log: LogSink
    private var handle: FileHandle?
    private var size = 0
    static let compactAt = 1 << 20

    init(directory: URL, log: LogSink) {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        url = directory.appendingPathComponent("journal.bin")
        self.log = log
    }

    /// The last valid state, cutting off a torn or corrupt tail.
    func load() -> State? {
        guard let data = FileManager.default.contents(atPath: url.path) else { return nil }
        var offset = 0
        var last: Data?
        while offset + 8 <= data.count {
            let length = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian })
            let crc = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian }
            guard offset + 8 + length <= data.count else { break }
            let payload = data.subdata(in: (offset + 8)..<(offset + 8 + length))
            guard CRC32.checksum(payload) == crc else { break }
            last = payload
            offset += 8 + length
        }
        if offset < data.count {
            log.write(LogRecord(level: .warning, service: "journal", message: "the journal's tail was torn or corrupt; cut off",
                                data: ["kept_bytes": "\(offset)", "dropped_bytes": "\(data.count - offset)"]))
            if let h = try? FileHandle(forWritingTo: url) {
                try? h.truncate(atOffset: UInt64(offset))
                try? h.close()
            }
        }
        size = offset
        guard let last else { return nil }
        do {
            return try JSONDecoder().decode(State.self, from: last)
        } catch {
            log.write(LogRecord(level: .warning, service: "journal", message: "the journal's last record does not decode; starting empty", data: [:]))
            return nil
        }
    }

    static func record(_ state: State) -> Data? {
        guard let payload = try? JSONEncoder().encode(state) else { return nil }
        var out = Data()
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(payload).littleEndian) { out.append(contentsOf: $0) }
        return out + payload
    }

    /// Appends a record and fsyncs; compacts when the journal grows past 1 MB.
    func append(_ state: State) {
        guard let record = Journal.record(state) else { return }
        if size + record.count > Journal.compactAt { compact(state); return }
        do {
            if handle == nil {
                if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
                handle = try FileHandle(forWritingTo: url)
                try handle?.seekToEnd()
            }
            try handle?.write(contentsOf: record)
            try handle?.synchronize()
            size += record.count
        } catch {
            log.write(LogRecord(level: .error, service: "journal", message: "cannot write the journal", data: ["cause": "\(error)"]))
        }
    }

    /// Rewrites the journal as one record: aside, fsync, rename.
    func compact(_ state: State) {
        guard let record = Journal.record(state) else { return }
        try? handle?.close()
        handle = nil
        let aside = url.appendingPathExtension("new")
        do {
            try record.write(to: aside)
            let h = try FileHandle(forWritingTo: aside)
            try h.synchronize()
            try h.close()
            guard rename(aside.path, url.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            size = record.count
        } catch {
            log.write(LogRecord(level: .error, service: "journal", message: "cannot compact the journal", data: ["cause": "\(error)"]))
        }
    }

    func close() {
        try? handle?.close()
        handle = nil
    }
}

/// CRC-32 (IEEE), for journal records.
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { i in
        var c = UInt32(i)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ data: Data) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in data { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }
}

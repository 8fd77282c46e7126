import Foundation
import Synchronization
import VigilAlerting

/// The durable outbox: one append-only journal per channel (`DIR/outbox/CHANNEL.ndjson`). A
/// notification is appended and fsynced before its first attempt and marked done after its
/// delivery (or final failure); on start, what was added and not done is delivered again. It
/// holds notifications, never rendered requests, so no secret is written to disk. A journal
/// whose entries are all done is truncated.
public final class Outbox: Sendable {
    public struct Entry: Sendable {
        public let id: UInt64
        public let channel: String
        public let notification: AlertNotification
    }

    private struct Record: Codable {
        let op: String          // "add" or "done"
        let id: UInt64
        let notification: AlertNotification?
    }

    private struct State {
        var nextID: UInt64 = 1
        var pending: [String: [UInt64: AlertNotification]] = [:]
        var order: [String: [UInt64]] = [:]
    }

    private let directory: URL?
    private let state = Mutex(State())
    private let log: LogSink

    /// An outbox in `directory` (created if needed), or in memory when nil.
    public init(directory: URL?, log: LogSink) {
        self.directory = directory.map { $0.appendingPathComponent("outbox") }
        self.log = log
        if let dir = self.directory { try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
    }

    /// Entries added and not done, per channel in the order they were added (the state after a restart).
    public func load() -> [Entry] {
        guard let dir = directory, let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else { return [] }
        var entries: [Entry] = []
        state.withLock { s in
            for name in names.sorted() where name.hasSuffix(".ndjson") {
                let channel = String(name.dropLast(7))
                guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(name).path) else { continue }
                var added: [UInt64: AlertNotification] = [:]
                var order: [UInt64] = []
                for line in data.split(separator: UInt8(ascii: "\n")) {
                    // A torn last line (a crash mid-write) is skipped, not fatal.
                    guard let r = try? JSONDecoder().decode(Record.self, from: Data(line)) else {
                        log.write(LogRecord(level: .warning, service: "outbox", message: "skipped an unreadable outbox record", data: ["channel": channel]))
                        continue
                    }
                    s.nextID = max(s.nextID, r.id + 1)
                    if r.op == "add", let n = r.notification { added[r.id] = n; order.append(r.id) }
                    if r.op == "done" { added[r.id] = nil }
                }
                let live = order.filter { added[$0] != nil }
                s.pending[channel] = added
                s.order[channel] = live
                entries += live.compactMap { id in added[id].map { Entry(id: id, channel: channel, notification: $0) } }
            }
        }
        return entries
    }

    /// Records a notification before its first attempt.
    public func add(_ n: AlertNotification) -> Entry {
        state.withLock { s in
            let id = s.nextID
            s.nextID += 1
            s.pending[n.channel, default: [:]][id] = n
            s.order[n.channel, default: []].append(id)
            append(Record(op: "add", id: id, notification: n), channel: n.channel, sync: true)
            return Entry(id: id, channel: n.channel, notification: n)
        }
    }

    /// Records that an entry needs no more attempts.
    public func done(_ entry: Entry) {
        state.withLock { s in
            s.pending[entry.channel]?[entry.id] = nil
            s.order[entry.channel]?.removeAll { $0 == entry.id }
            if s.pending[entry.channel]?.isEmpty ?? true {
                truncate(channel: entry.channel)
            } else {
                append(Record(op: "done", id: entry.id, notification: nil), channel: entry.channel, sync: false)
            }
        }
    }

    /// Entries waiting per channel (`/metrics` outbox depth).
    public var depth: [String: Int] { state.withLock { $0.pending.mapValues(\.count) } }

    private func file(_ channel: String) -> URL? { directory?.appendingPathComponent(channel + ".ndjson") }

    private func append(_ r: Record, channel: String, sync: Bool) {
        guard let url = file(channel), let data = try? JSONEncoder().encode(r) else { return }
        if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
        do {
            let h = try FileHandle(forWritingTo: url)
            defer { try? h.close() }
            try h.seekToEnd()
            try h.write(contentsOf: data + Data([0x0A]))
            if sync { try h.synchronize() }
        } catch {
            log.write(LogRecord(level: .error, service: "outbox", message: "cannot write the outbox", data: ["channel": channel, "cause": "\(error)"]))
        }
    }

    private func truncate(channel: String) {
        guard let url = file(channel) else { return }
        try? Data().write(to: url)
    }
}

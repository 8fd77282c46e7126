import Foundation
import CZlib
import Glibc
import Synchronization
import VigilAlerting
import VigilEngine

/// The state journal in `--state-dir` (SPEC §3: state survives a restart and a `kill -9`).
///
/// `journal.bin` is append-only: each record is a little-endian u32 length, a u32 CRC-32 of the
/// payload, and the payload, a `Record` in `BinaryCoder`'s form (JSON in journals written
/// before it, which still load). A core step that changed anything appends one
/// record holding what changed in the alerting state since the last record (engine instances,
/// router tracking with notified channels, escalation positions, repeats, acks, flapping,
/// silences; the engine and router remember what they changed, so a step costs what it
/// changed, not what is firing) *and* the notifications that step added to the outbox, then
/// fsyncs once;
/// only then are those notifications handed to the channel workers. State and owed
/// notifications are therefore one atomic fact: a crash before the fsync loses both (the step
/// is redone from the stream), after it keeps both.
/// A finished delivery appends a small `done` record without an fsync (it survives a
/// `kill -9` in the page cache; after a power loss it costs at most a repeated notification).
/// Over 1 MB, and at shutdown, the journal is compacted to one record (the state and every
/// notification still owed), written aside, fsynced and renamed. On start the records are
/// replayed; a torn or corrupt tail is cut off with a WARNING.
final class Journal: Sendable {
    /// The core's state. Acks are the router's (`Tracked.ackedUntil`); journals from before
    /// that also hold an `acked` set, which decoding ignores.
    struct State: Codable {
        var instances: [PersistedInstance]
        var router: Router.Persisted
        /// How far each tail has read its files, and how many lines it read (absent in
        /// journals from before tails).
        var tails: TailState?

        init(instances: [PersistedInstance], router: Router.Persisted, tails: TailState? = nil) {
            self.instances = instances
            self.router = router
            self.tails = tails
        }

        init(_ s: Core.State, tails: TailState? = nil) { self.init(instances: s.instances, router: s.router, tails: tails) }

        var core: Core.State { Core.State(instances: instances, router: router) }
    }

    /// What changed since the previous record (absent fields did not change).
    struct Delta: Codable {
        var upserted: [PersistedInstance]?
        var removed: [String]?
        var tracked: [String: Router.Tracked]?
        var untracked: [String]?
        var silences: [Silence]?
        /// The tails' whole state, when a step read lines from them: journaled with the step that
        /// applied those lines, so a restart resumes exactly there.
        var tails: TailState?

        init() {}

        /// From the core's changes (the engine's and the router's).
        init(_ changes: Core.Changes) {
            let instances = changes.instances, router = changes.router
            if !instances.upserted.isEmpty { upserted = instances.upserted }
            if !instances.removed.isEmpty { removed = instances.removed.map { Journal.key(rule: $0.rule, signature: $0.signature, labels: $0.labels) } }
            if !router.tracked.isEmpty { tracked = router.tracked }
            if !router.untracked.isEmpty { untracked = router.untracked }
            silences = router.silences
        }

        var isEmpty: Bool { upserted == nil && removed == nil && tracked == nil && untracked == nil && silences == nil && tails == nil }
    }

    /// One journal record: a whole state (the first, and a compaction) or a step's delta, the
    /// notifications it added, or finished deliveries.
    struct Record: Codable {
        var state: State?
        var delta: Delta?
        var added: [Outbox.Entry]?
        var done: [UInt64]?
    }

    /// The state as the records so far leave it, keyed for replaying.
    struct Image {
        var instances: [String: PersistedInstance] = [:]
        var tracked: [String: Router.Tracked] = [:]
        var silences: [Silence] = []
        var tails: TailState?

        init() {}

        init(_ s: State) {
            for i in s.instances { instances[Image.key(i)] = i }
            tracked = s.router.tracked
            silences = s.router.silences
            tails = s.tails
        }

        static func key(_ i: PersistedInstance) -> String { Journal.key(rule: i.rule, signature: i.signature, labels: i.labels) }

        mutating func apply(_ d: Delta) {
            for i in d.upserted ?? [] { instances[Image.key(i)] = i }
            for k in d.removed ?? [] { instances[k] = nil }
            for (fp, t) in d.tracked ?? [:] { tracked[fp] = t }
            for fp in d.untracked ?? [] { tracked[fp] = nil }
            if let s = d.silences { silences = s }
            if let t = d.tails { tails = t }
        }

        var state: State {
            State(instances: instances.sorted { $0.key < $1.key }.map(\.value),
                  router: Router.Persisted(tracked: tracked, silences: silences), tails: tails)
        }
    }

    /// What a start restores: the last state and the notifications still owed, oldest first.
    struct Loaded {
        var state: State?
        var owed: [Outbox.Entry]
    }

    let url: URL
    let log: Logger
    /// The file, under one lock.
    private struct File {
        /// The open descriptor, -1 until the first append.
        var fd: Int32 = -1
        var size = 0
        /// Whether the next append must write the whole state: at first (unless `resume` found
        /// the journal already holds it), after a failed write (its delta is lost), and after
        /// `rebase()`.
        var needsState = true
        /// The size of the last whole-state record, for `compactAt`.
        var lastState = 0
        /// Whether the last `load` read every record (none undecodable, no torn tail).
        var loadedWhole = false
    }

    private let file = Mutex(File())
    /// The journal is compacted past 1 MB, or past four times its last whole state when that
    /// is bigger: with 1,000 alerts firing a whole state is ~1 MB, and compacting at a fixed
    /// 1 MB would rewrite it every few hundred steps (a step's p99 was 58 ms); this way
    /// compactions cost each step a fixed share, and the file stays within 4× the state.
    static let compactAt = 1 << 20

    init(directory: URL, log: LogSink) {
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        url = directory.appendingPathComponent("journal.bin")
        self.log = log.logger("journal")
    }

    /// Replays the valid prefix of the journal, cutting off a torn or corrupt tail.
    func load() -> Loaded {
        guard let data = FileManager.default.contents(atPath: url.path) else { return Loaded(state: nil, owed: []) }
        let (payloads, valid) = Journal.payloads(in: data)
        let replayed = Journal.replay(payloads)
        let undecodable = replayed.undecodable
        if undecodable > 0 {
            log.warning("skipped journal records that do not decode", ["records": "\(undecodable)"])
        }
        if valid < data.count {
            log.warning("the journal's tail was torn or corrupt; cut off", ["kept_bytes": "\(valid)", "dropped_bytes": "\(data.count - valid)"])
            if let h = try? FileHandle(forWritingTo: url) {
                try? h.truncate(atOffset: UInt64(valid))
                try? h.close()
            }
        }
        file.withLock { f in
            f.size = valid
            f.lastState = replayed.lastState
            f.loadedWhole = undecodable == 0 && valid == data.count
        }
        return Loaded(state: replayed.state, owed: replayed.owed)
    }

    /// What a journal's records leave: the state, the notifications still owed (oldest first),
    /// how many records did not decode, and the framed size of the last whole state.
    struct Replayed {
        var state: State?
        var owed: [Outbox.Entry]
        var undecodable: Int
        var lastState: Int
    }

    /// Replays records in order: a whole state starts over, a delta applies to the state before
    /// it (none before the first state), `added` and `done` keep the outbox.
    static func replay(_ payloads: [Data]) -> Replayed {
        // The last whole state as read, keyed into an image only when deltas follow it (keying
        // 10,000 alerts costs more than decoding them).
        var whole: State?
        var image: Image?
        var owed: [UInt64: Outbox.Entry] = [:]
        var undecodable = 0, lastState = 0
        for payload in payloads {
            guard let record = Journal.decode(payload) else { undecodable += 1; continue }
            if let s = record.state {
                whole = s
                image = nil
                lastState = payload.count + 8
            }
            if let d = record.delta {
                if image == nil, let w = whole { image = Image(w) }
                image?.apply(d)
            }
            for e in record.added ?? [] { owed[e.id] = e }
            for id in record.done ?? [] { owed[id] = nil }
        }
        return Replayed(state: image?.state ?? whole, owed: owed.values.sorted { $0.id < $1.id }, undecodable: undecodable, lastState: lastState)
    }

    /// After a start whose restore kept the loaded state as it was (`Core.restore`): when the
    /// load also read every record, the journal already ends in that state, so the first step
    /// appends a delta instead of the whole state (~50 ms of a start with 10,000 alerts).
    func resume() {
        file.withLock { f in if f.loadedWhole { f.needsState = false } }
    }

    /// The payloads of the valid prefix of `data` (each whole and matching its CRC), and that prefix's length.
    static func payloads(in data: Data) -> (payloads: [Data], validBytes: Int) {
        var offset = 0
        var payloads: [Data] = []
        while offset + 8 <= data.count {
            let length = Int(data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian })
            let crc = data.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian }
            guard offset + 8 + length <= data.count else { break }
            let payload = data.subdata(in: (offset + 8)..<(offset + 8 + length))
            guard CRC32.checksum(payload) == crc else { break }
            payloads.append(payload)
            offset += 8 + length
        }
        return (payloads, offset)
    }

    /// A record's payload: `BinaryCoder`'s form, or JSON in journals written before it (a JSON
    /// record starts with `{`, a binary one with its object tag).
    static func decode(_ payload: Data) -> Record? {
        if payload.first == UInt8(ascii: "{") { return try? JSONDecoder().decode(Record.self, from: payload) }
        return try? BinaryCoder.decode(Record.self, from: payload.withUnsafeBytes { Array($0) })
    }

    static func frame(_ record: Record) -> Data? {
        guard let payload = try? Data(BinaryCoder.encode(record)) else { return nil }
        var out = Data()
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(payload).littleEndian) { out.append(contentsOf: $0) }
        return out + payload
    }

    /// Appends a step (what changed in the state since the last record, and the notifications
    /// it added) and fsyncs. `state` builds the whole state, written instead of the delta when
    /// the journal needs it, and at compaction past 1 MB with everything still `owed`.
    func append(_ delta: Delta, added: [Outbox.Entry], state: () -> State, owed: () -> [Outbox.Entry]) {
        file.withLock { f in
            var record = Record(added: added.isEmpty ? nil : added)
            if f.needsState { record.state = state() } else if !delta.isEmpty { record.delta = delta }
            guard record.state != nil || record.delta != nil || record.added != nil, let bytes = Journal.frame(record) else { return }
            if f.size + bytes.count > max(Journal.compactAt, 4 * f.lastState), compact(&f, Record(state: state(), added: owed())) { return }
            // A failed write loses this step's delta: the next record holds the whole state.
            f.needsState = !write(&f, bytes, sync: true)
            if record.state != nil, !f.needsState { f.lastState = bytes.count }
        }
    }

    /// The next append writes the whole state (after a reload, which renumbers what changed).
    func rebase() {
        file.withLock { $0.needsState = true }
    }

    /// An instance's key in records: rule, condition signature and labels.
    static func key(rule: String, signature: String, labels: [Label]) -> String {
        rule + "\u{1F}" + signature + "\u{1F}" + labels.map { $0.name + "=" + $0.value }.joined(separator: "\u{1E}")
    }

    /// Records a notification owed outside a core step (a fallback report), with an fsync.
    func owe(_ entry: Outbox.Entry) {
        guard let bytes = Journal.frame(Record(added: [entry])) else { return }
        file.withLock { f in _ = write(&f, bytes, sync: true) }
    }

    /// Records that an owed notification is finished (no fsync: see the type's comment).
    func done(_ id: UInt64) {
        guard let bytes = Journal.frame(Record(done: [id])) else { return }
        file.withLock { f in _ = write(&f, bytes, sync: false) }
    }

    /// Rewrites the journal as one record: aside, fsync, rename.
    func compact(_ state: State, owed: [Outbox.Entry]) {
        file.withLock { f in _ = compact(&f, Record(state: state, added: owed)) }
    }

    func close() {
        file.withLock { f in
            if f.fd >= 0 { Glibc.close(f.fd) }
            f.fd = -1
        }
    }

    /// Appends `bytes`; true when they are all written (and fsynced when `sync`). A partial
    /// write is cut off again, so a later record never follows a torn one.
    private func write(_ f: inout File, _ bytes: Data, sync: Bool) -> Bool {
        if f.fd < 0 { f.fd = open(url.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600) }
        guard f.fd >= 0 else { fail("cannot open the journal"); return false }
        let written = bytes.withUnsafeBytes { raw -> Int in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(f.fd, raw.baseAddress! + done, raw.count - done)
                if n < 0, errno == EINTR { continue }
                if n <= 0 { return done }
                done += n
            }
            return done
        }
        guard written == bytes.count else {
            fail("cannot write the journal")
            _ = ftruncate(f.fd, off_t(f.size))
            return false
        }
        f.size += written
        if sync, fsync(f.fd) != 0 { fail("cannot fsync the journal"); return false }
        return true
    }

    /// Replaces the journal with one record holding a whole state; true when it did.
    private func compact(_ f: inout File, _ record: Record) -> Bool {
        var record = record
        if record.added?.isEmpty == true { record.added = nil }
        guard record.state != nil, let bytes = Journal.frame(record) else { return false }
        if f.fd >= 0 { Glibc.close(f.fd) }
        f.fd = -1
        let aside = url.appendingPathExtension("new")
        do {
            try bytes.write(to: aside)
            let h = try FileHandle(forWritingTo: aside)
            try h.synchronize()
            try h.close()
            guard rename(aside.path, url.path) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            f.size = bytes.count
            f.needsState = false
            f.lastState = bytes.count
            return true
        } catch {
            log.error("cannot compact the journal", ["cause": "\(error)"])
            return false
        }
    }

    private func fail(_ message: String) {
        log.error(message, ["cause": String(cString: strerror(errno))])
    }
}

/// CRC-32 (IEEE), for journal records.
enum CRC32 {
    /// CRC-32 (IEEE 802.3, as zlib and gzip compute it): zlib's, which is ~10× a byte-table loop
    /// (the journal checks every record at start-up).
    static func checksum(_ data: Data) -> UInt32 {
        data.withUnsafeBytes { raw in
            var c: uLong = 0
            var offset = 0
            while offset < raw.count {
                let n = min(raw.count - offset, Int(Int32.max))
                c = crc32(c, raw.baseAddress!.advanced(by: offset).assumingMemoryBound(to: Bytef.self), uInt(n))
                offset += n
            }
            return UInt32(truncatingIfNeeded: c)
        }
    }
}

/// The journal's file format from bytes alone, for the `journal` fuzz harness (a state
/// directory is read at every start, whatever put it there).
public enum JournalFormat {
    /// Frames and checks `data` as a journal file, decodes each record, and replays them as a
    /// start does. Returns the records read, those that did not decode, and the valid bytes.
    public static func read(_ data: Data) -> (records: Int, undecodable: Int, validBytes: Int) {
        let (payloads, valid) = Journal.payloads(in: data)
        return (payloads.count, Journal.replay(payloads).undecodable, valid)
    }

    /// Decodes `payload` as one record, unframed (past the CRC a fuzzer rarely gets by); when
    /// it decodes, encodes it again and checks the bytes decode to the same record.
    public static func roundTrip(_ payload: Data) {
        guard let record = Journal.decode(payload), let again = try? BinaryCoder.encode(record) else { return }
        guard let back = try? BinaryCoder.decode(Journal.Record.self, from: again) else {
            preconditionFailure("a record the journal wrote does not decode")
        }
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        precondition((try? e.encode(back)) == (try? e.encode(record)), "a record changed through the binary form")
    }
}

import Foundation
import Glibc
import Synchronization
import VigilEngine
import VigilRules

/// How far a `tail` has read one file: the file by identity (device and inode, so a renamed file
/// is the same file), where it was last seen, and the offset just past its last whole line.
public struct TailPosition: Codable, Sendable, Equatable {
    public var tail: String
    public var device: UInt64
    public var inode: UInt64
    public var path: String
    public var offset: Int64

    var key: String { "\(tail)\u{0}\(device):\(inode)" }
}

/// Follows the files a `tail` block's glob matches, as Fluent Bit and Promtail do, and hands
/// their lines to the core as stream lines (each batch with the position it reaches, which the
/// core journals with the step that applied it, so a restart neither re-reads nor skips):
///
/// - files are followed by identity: a rename-rotation (`x.log` → `x.log.1`, a new `x.log`)
///   keeps reading the renamed file to its end before letting it go, then reads the new one
///   from its start, so no line is lost or read twice;
/// - a file shorter than what was read of it was truncated in place (copy-truncate): it is
///   read again from its start, and that is logged;
/// - a partial last line waits for its newline (a file that goes away gives it as it is);
/// - a new file matching the glob is read from its start; at the first start (no position for
///   the tail), files already there are read from their end, so an old log is not replayed as
///   news;
/// - gzipped files (`.gz`, or gzip's magic bytes) are never read.
///
/// One thread for every tail, woken by inotify on the directories, with a rescan every second
/// as a safety net (an event lost to a full queue, a directory that appears later).
final class Tailer: Sendable {
    private let loop: TailLoop
    private let wake = WakePipe()
    private let done = DispatchSemaphore(value: 0)
    private let running = Mutex(false)

    /// `emit` gets each batch with the position it reaches; `forgot` each file let go. `known`
    /// names the tails that ran before (with `--state-dir`): the others start at their files' end.
    init(_ tails: [Surroundings.Tail], positions: [TailPosition], known: Set<String>, maxLine: Int, log: LogSink,
         emit: @escaping @Sendable (LineBatch, TailPosition) -> Void, forgot: @escaping @Sendable (TailPosition) -> Void = { _ in }) {
        loop = TailLoop(tails, positions: positions, known: known, maxLine: maxLine, log: log.logger("tail"), emit: emit, forgot: forgot)
    }

    func start() {
        guard !loop.tails.isEmpty, running.withLock({ r in defer { r = true }; return !r }) else { return }
        let thread = Thread { [self] in
            loop.run(wake: wake, stopped: { !self.running.withLock { $0 } })
            done.signal()
        }
        thread.name = "vigil-tail"
        thread.start()
    }

    /// Stops the thread (at most 2 s); its files are closed.
    func stop() {
        guard running.withLock({ r in defer { r = false }; return r }) else { return }
        wake.wake()
        _ = done.wait(timeout: .now() + 2)
    }
}

/// The files and their state, touched only by the tail thread.
private final class TailLoop: @unchecked Sendable {
    struct Identity: Hashable {
        let device: UInt64
        let inode: UInt64
    }

    final class Followed {
        let tail: Surroundings.Tail
        let identity: Identity
        var path: String
        let fd: Int32
        var framer: LineFramer
        /// Seen at a path matching the glob in the last scan.
        var present = true
        /// When it was first missed (monotonic ns): a rotated file stays open a while, for a
        /// writer that finishes a line after the rename.
        var absentSince: Int64?
        /// Its first bytes are gzip's magic: never read (it was empty when it was opened).
        var gzipped = false

        init(tail: Surroundings.Tail, identity: Identity, path: String, fd: Int32, framer: LineFramer) {
            self.tail = tail
            self.identity = identity
            self.path = path
            self.fd = fd
            self.framer = framer
        }
    }

    let tails: [Surroundings.Tail]
    let maxLine: Int
    let log: Logger
    let emit: @Sendable (LineBatch, TailPosition) -> Void
    let forgot: @Sendable (TailPosition) -> Void
    /// Restored positions, by tail and identity.
    var restored: [String: [Identity: TailPosition]] = [:]
    /// Tails that ran before; the others read the files there at their first scan from the end.
    let known: Set<String>
    var followed: [Followed] = []
    var firstScan = true
    var buffer = [UInt8](repeating: 0, count: 65_536)
    /// The most read from one file in one turn: a file written fast holds back no other.
    static let perTurn = 1 << 20
    /// How long a file renamed away stays open (Fluent Bit's `Rotate_Wait`, 5 s).
    static let rotateWait: Int64 = 5_000_000_000

    init(_ tails: [Surroundings.Tail], positions: [TailPosition], known: Set<String>, maxLine: Int, log: Logger,
         emit: @escaping @Sendable (LineBatch, TailPosition) -> Void, forgot: @escaping @Sendable (TailPosition) -> Void) {
        self.tails = tails
        self.known = known
        self.maxLine = maxLine
        self.log = log
        self.emit = emit
        self.forgot = forgot
        for p in positions { restored[p.tail, default: [:]][Identity(device: p.device, inode: p.inode)] = p }
    }

    func run(wake: WakePipe, stopped: () -> Bool) {
        let inotify = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        var watched: Set<String> = []
        defer {
            for f in followed { close(f.fd) }
            followed.removeAll()
            if inotify >= 0 { close(inotify) }
        }
        var drain = [UInt8](repeating: 0, count: 4096)
        while !stopped() {
            if inotify >= 0 {
                for t in tails where !watched.contains(t.directory) {
                    let mask = UInt32(IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_MODIFY | IN_DELETE | IN_CLOSE_WRITE)
                    if inotify_add_watch(inotify, t.directory, mask) >= 0 { watched.insert(t.directory) }
                }
            }
            let more = scanAndRead()
            var fds = [pollfd(fd: wake.readFD, events: Int16(POLLIN), revents: 0), pollfd(fd: inotify, events: Int16(POLLIN), revents: 0)]
            // A rotated file waiting out `rotateWait` is checked again within a second anyway.
            _ = poll(&fds, inotify >= 0 ? 2 : 1, more ? 0 : 1000)
            wake.drain()
            if inotify >= 0 { while Glibc.read(inotify, &drain, drain.count) > 0 {} }
        }
    }

    /// One turn: finds the files, reads what they gained. True when a file has more to read.
    func scanAndRead() -> Bool {
        var more = false
        for tail in tails {
            // What matches the glob now, by identity.
            var here: [Identity: String] = [:]
            for path in TailLoop.matches(tail) {
                var st = stat()
                guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                here[Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))] = path
            }
            for f in followed where f.tail.name == tail.name {
                if let path = here[f.identity] {
                    f.present = true
                    f.absentSince = nil
                    f.path = path
                } else {
                    f.present = false
                    if f.absentSince == nil { f.absentSince = monotonic() }
                }
            }
            // Files already followed first (a rotated file's last lines come before the new
            // file's first), then the new ones, oldest path name first.
            for (identity, path) in here.sorted(by: { $0.value > $1.value }) where !followed.contains(where: { $0.tail.name == tail.name && $0.identity == identity }) {
                open(tail, identity, path)
            }
        }
        var grew: Set<ObjectIdentifier> = []
        for f in followed {
            let (read, again) = read(f)
            if read { grew.insert(ObjectIdentifier(f)) }
            if again { more = true }
        }
        // Files no longer at any matching path, read to their end and quiet for `rotateWait`: let go.
        let now = monotonic()
        followed.removeAll { f in
            guard !f.present, let since = f.absentSince, now - since >= TailLoop.rotateWait, !grew.contains(ObjectIdentifier(f)) else { return false }
            var rest = f.framer.flush()
            if rest.count > 0 {
                rest.source = "tail \(f.tail.name) \(f.path)"
                emit(rest, position(f))
            }
            forgot(position(f))
            close(f.fd)
            return true
        }
        firstScan = false
        return more
    }

    func open(_ tail: Surroundings.Tail, _ identity: Identity, _ path: String) {
        guard !path.hasSuffix(".gz") else { return }
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { return }
        var st = stat()
        guard fstat(fd, &st) == 0, Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino)) == identity else {
            close(fd)
            return
        }
        var magic: [UInt8] = [0, 0]
        if pread(fd, &magic, 2, 0) == 2, magic == [0x1F, 0x8B] {
            close(fd)
            return
        }
        let size = Int64(st.st_size)
        var offset: Int64 = 0
        if let p = restored[tail.name]?[identity] {
            if p.offset <= size {
                offset = p.offset
            } else {
                log.warning("a followed file is shorter than what was read of it (truncated): reading it from the start",
                            ["tail": tail.name, "path": path])
            }
        } else if firstScan, !known.contains(tail.name) {
            offset = size // the first start: what is there already is history, not news
        }
        lseek(fd, off_t(offset), SEEK_SET)
        let f = Followed(tail: tail, identity: identity, path: path, fd: fd, framer: LineFramer(maxLine: maxLine, at: offset))
        followed.append(f)
        log.info("following a file", ["tail": tail.name, "path": path, "offset": "\(offset)"])
        // Where it starts is journaled at once: a crash before its first line must not make the
        // next start take the file for history and skip what was written meanwhile.
        emit(LineBatch(source: "tail \(tail.name) \(path)"), position(f))
    }

    /// Reads what `f` gained (at most `perTurn` bytes): whether it had anything, and whether it
    /// may have more.
    func read(_ f: Followed) -> (read: Bool, more: Bool) {
        if f.gzipped { return (false, false) }
        if f.framer.consumedBytes == 0 {
            // Read from its start: a file opened while still empty (a compressor that creates
            // it, then writes) is checked for gzip's magic once it has two bytes.
            var magic: [UInt8] = [0, 0]
            let n = pread(f.fd, &magic, 2, 0)
            if n >= 0 && n < 2 { return (false, false) }
            if n == 2, magic == [0x1F, 0x8B] {
                f.gzipped = true
                return (false, false)
            }
        }
        var st = stat()
        if fstat(f.fd, &st) == 0, Int64(st.st_size) < f.framer.consumedBytes {
            log.warning("a followed file was truncated (copy-truncate): reading it from the start", ["tail": f.tail.name, "path": f.path])
            lseek(f.fd, 0, SEEK_SET)
            f.framer = LineFramer(maxLine: maxLine, at: 0)
        }
        var total = 0
        var batch = LineBatch(source: "tail \(f.tail.name) \(f.path)")
        while total < TailLoop.perTurn {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(f.fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            total += n
            let lines = buffer.withUnsafeBytes { f.framer.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            batch.append(contentsOf: lines)
        }
        if !batch.isEmpty { emit(batch, position(f)) }
        return (total > 0, total >= TailLoop.perTurn)
    }

    func position(_ f: Followed) -> TailPosition {
        TailPosition(tail: f.tail.name, device: f.identity.device, inode: f.identity.inode, path: f.path, offset: f.framer.wholeLinesEnd)
    }

    /// The regular files in the tail's directory whose names match its pattern.
    static func matches(_ tail: Surroundings.Tail) -> [String] {
        guard let dir = opendir(tail.directory) else { return [] }
        defer { closedir(dir) }
        var out: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name != ".", name != "..", fnmatch(tail.pattern, name, 0) == 0 else { continue }
            out.append(tail.directory + "/" + name)
        }
        return out
    }
}

/// What the journal keeps of the tails: each followed file's position, and the lines each
/// tail has read in all (`vigil_tail_lines_total`).
struct TailState: Codable, Equatable {
    var positions: [TailPosition] = []
    var lines: [String: Int] = [:]

    /// A batch of `lines` lines read up to `p`.
    mutating func advance(_ p: TailPosition, lines n: Int) {
        if let i = positions.firstIndex(where: { $0.key == p.key }) { positions[i] = p } else { positions.append(p) }
        lines[p.tail, default: 0] += n
    }

    /// A file let go (rotated away and read to its end): its position is no longer needed.
    mutating func forget(_ p: TailPosition) {
        positions.removeAll { $0.key == p.key }
    }
}

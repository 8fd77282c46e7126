import Foundation
import Glibc
import Synchronization
import VigilEngine

/// Splits a byte stream into lines (without their newline), dropping any longer than `maxLine`:
/// the rest of such a line is skipped up to its newline, and the drop is reported. Every line
/// comes with the byte offset where it starts in the stream, for reject logs.
struct LineFramer {
    let maxLine: Int
    private var buffer: [UInt8] = []
    private var skipping = false
    /// Offset of the first byte of `buffer` (or of the line being skipped).
    private var lineStart: Int64 = 0
    /// Bytes fed so far.
    private var consumed: Int64 = 0

    init(maxLine: Int) { self.maxLine = maxLine }

    /// A framer for a stream read from `offset` on (a file followed from a saved position).
    init(maxLine: Int, at offset: Int64) {
        self.maxLine = maxLine
        lineStart = offset
        consumed = offset
    }

    /// Bytes fed so far, from the start of the stream.
    var consumedBytes: Int64 { consumed }

    /// Where the line being assembled starts: just past the last whole line (or dropped one).
    var wholeLinesEnd: Int64 { lineStart }

    /// The partial line waiting for its newline, as a line (its stream ended without one).
    mutating func flush() -> LineBatch {
        var batch = LineBatch()
        if !skipping, !buffer.isEmpty {
            buffer.withUnsafeBytes { batch.append($0, offset: lineStart) }
            lineStart = consumed
        }
        buffer.removeAll()
        skipping = false
        return batch
    }

    /// Feeds bytes; returns the complete lines and the offsets of those too long.
    mutating func feed(_ bytes: UnsafeRawBufferPointer) -> LineBatch {
        var batch = LineBatch(capacity: buffer.count + bytes.count)
        var start = 0
        for i in 0..<bytes.count where bytes[i] == UInt8(ascii: "\n") {
            if skipping {
                skipping = false
            } else {
                let piece = UnsafeRawBufferPointer(rebasing: bytes[start..<i])
                if buffer.count + piece.count > maxLine {
                    batch.tooLong.append(lineStart)
                } else if buffer.count + piece.count > 0 {
                    batch.append(buffer, piece, offset: lineStart)
                }
            }
            buffer.removeAll(keepingCapacity: true)
            start = i + 1
            lineStart = consumed + Int64(start)
        }
        if !skipping {
            buffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start...]))
            if buffer.count > maxLine {
                batch.tooLong.append(lineStart)
                skipping = true
                buffer.removeAll(keepingCapacity: false)
            }
        }
        consumed += Int64(bytes.count)
        return batch
    }
}

/// What a stream source tells the core.
enum StreamEvent: Sendable {
    case lines(LineBatch)
    case connected(Bool)
}

/// Where the stream comes from (SPEC §4): a trader's socket we connect to, a socket traders
/// connect to, or stdin. Each reads on its own thread and hands framed lines to the core.
public enum StreamSourceSpec: Sendable, Equatable {
    case connect(String)
    case listen(String)
    case stdin
    /// No source: the core reads only what `Sidecar.feed` hands it (in-process tests).
    case none
}

/// A running source. `stop()` closes its descriptors so its threads end. In listen mode at most
/// `maxWriters` traders are connected at once (one reader thread each); one more is refused
/// (closed at once), logged at most every 10 s with how many were refused.
final class StreamSource: Sendable {
    /// Writers connected at once in listen mode, by default.
    static let defaultMaxWriters = 64

    private let spec: StreamSourceSpec
    private let maxLine: Int
    private let maxWriters: Int
    private let emit: @Sendable (StreamEvent) -> Void
    private let log: Logger

    private struct State {
        var stopped = false
        var fds: Set<Int32> = []
        var writers = 0
        var socketFile: String?
        var accepted = 0
        var refused = 0
        var refusalLogged: Int64?
    }

    private let state = Mutex(State())

    init(_ spec: StreamSourceSpec, maxLine: Int, maxWriters: Int = StreamSource.defaultMaxWriters, log: LogSink,
         emit: @escaping @Sendable (StreamEvent) -> Void) {
        self.spec = spec
        self.maxLine = maxLine
        self.maxWriters = max(1, maxWriters)
        self.log = log.logger("stream")
        self.emit = emit
    }

    struct StartError: Error, CustomStringConvertible {
        let description: String
    }

    func start() throws(StartError) {
        switch spec {
        case .stdin:
            emit(.connected(true))
            Thread { [self] in
                read(fd: 0, source: "stdin")
                emit(.connected(false))
                log.info("stdin closed")
            }.start()
        case .listen(let path):
            let fd = try listenUnix(path)
            Thread { [self] in acceptLoop(fd) }.start()
        case .connect(let path):
            Thread { [self] in connectLoop(path) }.start()
        case .none:
            emit(.connected(true))
        }
    }

    func stop() {
        let (fds, file) = state.withLock { s -> (Set<Int32>, String?) in
            s.stopped = true
            return (s.fds, s.socketFile)
        }
        // Shut down, not closed: each descriptor's own thread closes it when its read or accept
        // returns (`untrack`). Closing here would free the number while that thread may still
        // read it, and a descriptor opened next (a journal, a client) could take the number.
        for fd in fds { shutdown(fd, Int32(SHUT_RDWR)) }
        if let file { unlink(file) } // the socket file we created
    }

    private var stopped: Bool { state.withLock { $0.stopped } }

    private func track(_ fd: Int32) -> Bool {
        state.withLock { s in
            if s.stopped { return false }
            s.fds.insert(fd)
            return true
        }
    }

    private func untrack(_ fd: Int32) {
        let owned = state.withLock { $0.fds.remove(fd) != nil }
        if owned { close(fd) }
    }

    /// Reads a descriptor to its end, framing lines; `source` names it in reject logs.
    private func read(fd: Int32, source: String) {
        var framer = LineFramer(maxLine: maxLine)
        var buf = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { return }
            var batch = buf.withUnsafeBytes { framer.feed(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            batch.source = source
            if !batch.isEmpty { emit(.lines(batch)) }
        }
    }

    private static func address(_ path: String) throws(StartError) -> sockaddr_un {
        guard let addr = UnixSocket.address(path) else {
            throw StartError(description: "socket path is too long (\(path.utf8.count) bytes, at most 107): \(path)")
        }
        return addr
    }

    /// Binds a listening socket at `path` (mode 0600). A stale socket file is replaced; a live
    /// one (another process listening) or a file that is not a socket is an error.
    private func listenUnix(_ path: String) throws(StartError) -> Int32 {
        var st = stat()
        if lstat(path, &st) == 0 {
            guard (st.st_mode & S_IFMT) == S_IFSOCK else { throw StartError(description: "\(path) exists and is not a socket; not replacing it") }
            if let live = UnixSocket.connect(path) {
                close(live)
                throw StartError(description: "another process is listening on \(path)")
            }
            unlink(path)
        }
        var addr = try StreamSource.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw StartError(description: "cannot create a socket: \(String(cString: strerror(errno)))") }
        let old = umask(0o177) // the socket file is created 0600
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        umask(old)
        guard bound == 0, listen(fd, 16) == 0 else {
            let why = String(cString: strerror(errno))
            close(fd)
            throw StartError(description: "cannot listen on \(path): \(why)")
        }
        chmod(path, 0o600)
        _ = track(fd)
        state.withLock { $0.socketFile = path }
        log.info("listening for traders", ["socket": path])
        return fd
    }

    private func acceptLoop(_ fd: Int32) {
        defer { untrack(fd) }
        while !stopped {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR { continue }
                return
            }
            let admitted = state.withLock { s -> (first: Bool, name: String)? in
                guard !s.stopped, s.writers < maxWriters else { return nil }
                s.fds.insert(c)
                s.writers += 1
                s.accepted += 1
                return (s.writers == 1, "writer \(s.accepted)")
            }
            guard let (first, name) = admitted else {
                close(c)
                if stopped { return }
                refused()
                continue
            }
            if first { emit(.connected(true)) }
            log.info("a trader connected", ["source": name])
            Thread { [self] in
                read(fd: c, source: name)
                untrack(c)
                let last = state.withLock { s -> Bool in
                    s.writers -= 1
                    return s.writers == 0
                }
                log.info("a trader disconnected", ["source": name])
                if last { emit(.connected(false)) }
            }.start()
        }
    }

    /// Counts a writer refused at the cap; logs at most every 10 s, with the count since the last log.
    private func refused() {
        let now = monotonic()
        let count = state.withLock { s -> Int? in
            s.refused += 1
            if let last = s.refusalLogged, now - last < 10_000_000_000 { return nil }
            s.refusalLogged = now
            defer { s.refused = 0 }
            return s.refused
        }
        guard let count else { return }
        log.warning("a trader was refused: too many writers are connected", ["max_writers": "\(maxWriters)", "refused": "\(count)"])
    }

    /// Connects to the trader's socket, reconnecting with backoff (100 ms doubling to 5 s);
    /// logs once per state change, not per attempt.
    private func connectLoop(_ path: String) {
        var backoff: UInt32 = 100_000
        var loggedDown = false
        while !stopped {
            guard let fd = UnixSocket.connect(path) else {
                if !loggedDown {
                    log.warning("cannot connect to the trader; retrying", ["socket": path])
                    loggedDown = true
                }
                usleep(backoff)
                backoff = min(backoff * 2, 5_000_000)
                continue
            }
            guard track(fd) else { close(fd); return }
            backoff = 100_000
            loggedDown = false
            log.info("connected to the trader", ["socket": path])
            emit(.connected(true))
            read(fd: fd, source: "connect \(path)")
            untrack(fd)
            emit(.connected(false))
            if !stopped { log.warning("the trader closed the connection; reconnecting", ["socket": path]) }
        }
    }
}

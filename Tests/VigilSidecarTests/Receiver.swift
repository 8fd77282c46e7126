import Foundation
import Glibc
import Synchronization
import VigilTestSupport

/// A scripted HTTP receiver on 127.0.0.1 for delivery tests: the n-th request gets the n-th
/// scripted response (the last one repeats), and every request is recorded with its arrival time.
/// It runs one accept thread, bounded by `stop()` (which every test calls).
final class Receiver: Sendable {
    struct Response: Sendable {
        let status: Int
        var headers: [String: String] = [:]

        /// Reads the request and never answers (until the client gives up, or 10 s).
        static let hang = Response(status: 0)
    }

    struct Request: Sendable {
        let at: ContinuousClock.Instant
        let path: String
        let body: String
    }

    /// What the receiver and its accept thread share.
    final class Shared: Sendable {
        let state = Mutex<(requests: [Request], stopped: Bool)>(([], false))
    }

    let port: UInt16
    private let fd: Int32
    private let shared = Shared()

    /// The path `url` names: one of this receiver's own, so a stray request (another test's
    /// delivery or probe still retrying a port that was freed and handed out again) is told
    /// apart from the ones the test made.
    let path = "/hook/\(UUID().uuidString.prefix(8).lowercased())"

    /// `only`: requests whose path does not start with it (by default, `path`) get a 404 and
    /// take no scripted response: a stray client of a reused port cannot shift the script.
    init(script: [Response], port: UInt16 = 0, reserved: Int32? = nil, only: String? = nil) throws {
        if let reserved { close(reserved) } // hand the held port over at the last moment
        guard let (s, bound) = Loopback.bind(port: port, reuseAddress: true) else { throw POSIXError(.EADDRINUSE) }
        guard listen(s, 64) == 0 else { close(s); throw POSIXError(.EADDRINUSE) }
        self.port = bound
        fd = s
        let box = Box(fd: s, script: script, only: only ?? path, shared: shared)
        Thread { box.serve() }.start()
    }

    var url: String { "http://127.0.0.1:\(port)\(path)" }
    var requests: [Request] { shared.state.withLock { $0.requests } }

    func stop() {
        shared.state.withLock { $0.stopped = true }
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }

    /// A port held bound but not listening, so connections to it are refused and no other test is
    /// given it; pass the descriptor to `init(script:port:reserved:)` to start listening there.
    static func reservePort() throws -> (port: UInt16, fd: Int32) {
        // No SO_REUSEADDR here: on Linux two sockets that both set it may bind one port while
        // neither listens, and another test's receiver could take this one.
        guard let (s, port) = Loopback.bind() else { throw POSIXError(.EADDRINUSE) }
        return (port, s)
    }

    /// What the accept thread owns (the fd belongs to the receiver, which outlives the thread's work).
    private struct Box: Sendable {
        let fd: Int32
        let script: [Response]
        let only: String
        let shared: Shared

        func serve() {
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { return }
                handle(c)
                close(c)
                if shared.state.withLock({ $0.stopped }) { return }
            }
        }

        private func handle(_ c: Int32) {
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            var data = [UInt8]()
            var buf = [UInt8](repeating: 0, count: 65536)
            var need: Int?
            while data.count < 1 << 20 {
                let n = read(c, &buf, buf.count)
                if n <= 0 { break }
                data += buf[0..<n]
                if need == nil, let end = find(data, Array("\r\n\r\n".utf8)) {
                    let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
                    let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                        .flatMap { Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) } ?? 0
                    need = end + 4 + length
                }
                if let need, data.count >= need { break }
            }
            let text = String(decoding: data, as: UTF8.self)
            let path = text.split(separator: " ").dropFirst().first.map(String.init) ?? ""
            let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
            let r: Response
            if !path.hasPrefix(only) {
                r = Response(status: 404)
            } else {
                let index = shared.state.withLock { s -> Int in
                    s.requests.append(Request(at: .now, path: path, body: body))
                    return s.requests.count - 1
                }
                r = script[min(index, script.count - 1)]
            }
            if r.status == 0 {
                var p = pollfd(fd: c, events: Int16(POLLIN), revents: 0)
                _ = poll(&p, 1, 10_000) // the client closing makes it readable
                return
            }
            var response = "HTTP/1.1 \(r.status) X\r\nContent-Length: 0\r\nConnection: close\r\n"
            for (k, v) in r.headers { response += "\(k): \(v)\r\n" }
            response += "\r\n"
            _ = response.withCString { write(c, $0, strlen($0)) }
        }

        private func find(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
            guard hay.count >= needle.count else { return nil }
            for i in 0...(hay.count - needle.count) where hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
            return nil
        }
    }
}

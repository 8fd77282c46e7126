import Foundation
import Glibc
import Synchronization
import VigilRules

/// A parsed HTTP request.
public struct HTTPRequest: Sendable {
    public let method: String
    public let path: String
    public let query: [String: String]
    public let headers: [String: String]   // lower-cased names
    public let body: Data
}

/// A response; written in one `write()` (a split header/body write meets Nagle and delayed ACK).
public struct HTTPResponse: Sendable {
    public var status: Int
    public var contentType = "application/json"
    public var body: Data
    public var headers: [String: String] = [:]

    public init(status: Int, contentType: String = "application/json", body: Data, headers: [String: String] = [:]) {
        self.status = status
        self.contentType = contentType
        self.body = body
        self.headers = headers
    }

    public static func json(_ status: Int, _ text: String) -> HTTPResponse { HTTPResponse(status: status, body: Data(text.utf8)) }

    static func error(_ status: Int, _ message: String) -> HTTPResponse {
        .json(status, "{\"error\":\(jsonString(message))}")
    }

    static let reasons = [200: "OK", 201: "Created", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                          405: "Method Not Allowed", 408: "Request Timeout", 413: "Content Too Large", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
                          500: "Internal Server Error", 503: "Service Unavailable"]

    func serialized(keepAlive: Bool) -> Data {
        var head = "HTTP/1.1 \(status) \(HTTPResponse.reasons[status] ?? "Status")\r\nContent-Type: \(contentType)\r\nContent-Length: \(body.count)\r\n"
        head += keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n"
        for (k, v) in headers.sorted(by: { $0.key < $1.key }) { head += "\(k): \(v)\r\n" }
        return Data((head + "\r\n").utf8) + body
    }
}

/// A small HTTP/1.1 server on POSIX sockets, built to survive hostile clients: limits on header
/// bytes (16 KiB → 431), header count (100 → 431), body (1 MiB → 413), time per request (10 s →
/// 408, so a client sending a byte a second cannot hold a connection), keep-alive idle time
/// (5 s), and connections (64). At the cap a new connection evicts the connection idle longest,
/// else the one whose request has been arriving longest; only when every connection is running
/// a handler is it refused with 503. So a liveness probe is answered whatever other clients
/// hold. One thread per connection.
public final class HTTPServer: Sendable {
    public struct Limits: Sendable {
        public var headerBytes = 16 * 1024
        public var headerCount = 100
        public var bodyBytes = 1 << 20
        public var requestSeconds = 10
        public var idleSeconds = 5
        public var connections = 64
        public init() {}
    }

    public let port: UInt16
    public let host: String
    private let fd: Int32
    private let limits: Limits
    private let handler: @Sendable (HTTPRequest) -> HTTPResponse

    /// Where a connection is: waiting for a request (since), receiving one (since), or in its handler.
    enum Phase: Equatable {
        case idle(since: Int64)
        case receiving(since: Int64)
        case handling
    }

    private struct Connections {
        var stopped = false
        var open: [Int32: Phase] = [:]
        /// Shut down to make room; their threads have not closed them yet.
        var evicted: Set<Int32> = []
        var evictions = 0
    }

    private let state = Mutex(Connections())

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Binds `host:port` (port 0 picks one) and starts serving.
    public init(host: String, port: UInt16, limits: Limits = Limits(), handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws(StartError) {
        self.host = host
        self.limits = limits
        self.handler = handler
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let ai = info else {
            throw StartError(description: "invalid listen address \(host):\(port) (use an IP address, like 127.0.0.1)")
        }
        defer { freeaddrinfo(info) }
        let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype, ai.pointee.ai_protocol)
        guard s >= 0 else { throw StartError(description: "cannot create a socket: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0, listen(s, 128) == 0 else {
            let why = String(cString: strerror(errno))
            close(s)
            throw StartError(description: "cannot listen on \(host):\(port): \(why)")
        }
        var addr = sockaddr_storage()
        var len = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        let bound: UInt16 = withUnsafePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        self.port = bound
        fd = s
        Thread { [self] in acceptLoop() }.start()
    }

    public func stop() {
        state.withLock { s in
            s.stopped = true
            for c in s.open.keys { shutdown(c, Int32(SHUT_RDWR)) } // under the lock: their threads close them only after leaving `open`
        }
        // Wakes the accept loop, which closes the socket itself: closing it here would free the
        // number while that thread may still call accept on it, and a server started next could
        // get the number, its connections then taken (and refused) by this stopped loop.
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Connections made room for at the cap, since the start.
    public var evictions: Int { state.withLock { $0.evictions } }

    /// The connection to shut down to make room: idle longest, else receiving longest.
    static func victim(_ open: [Int32: Phase], excluding evicted: Set<Int32>) -> Int32? {
        var idle: (Int32, Int64)?
        var receiving: (Int32, Int64)?
        for (c, phase) in open where !evicted.contains(c) {
            switch phase {
            case .idle(let t): if idle == nil || t < idle!.1 { idle = (c, t) }
            case .receiving(let t): if receiving == nil || t < receiving!.1 { receiving = (c, t) }
            case .handling: break
            }
        }
        return idle?.0 ?? receiving?.0
    }

    private func acceptLoop() {
        defer { close(fd) }
        while true {
            let c = accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                if errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM { usleep(10_000); continue }
                return
            }
            let admitted = state.withLock { s -> Bool in
                guard !s.stopped else { return false }
                if s.open.count - s.evicted.count >= limits.connections {
                    guard let v = HTTPServer.victim(s.open, excluding: s.evicted) else { return false }
                    shutdown(v, Int32(SHUT_RDWR)) // under the lock, while `v` is still open: its thread closes it
                    s.evicted.insert(v)
                    s.evictions += 1
                }
                s.open[c] = .idle(since: monotonic())
                return true
            }
            guard admitted else {
                send(c, HTTPResponse.error(503, "too many connections").serialized(keepAlive: false))
                close(c)
                continue
            }
            var one: Int32 = 1
            setsockopt(c, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            Thread { [self] in
                serve(c)
                state.withLock { s in
                    s.open[c] = nil
                    s.evicted.remove(c)
                }
                close(c)
            }.start()
        }
    }

    private func enter(_ c: Int32, _ phase: Phase) {
        state.withLock { s in if s.open[c] != nil { s.open[c] = phase } }
    }

    private func send(_ c: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = Glibc.send(c, raw.baseAddress! + off, raw.count - off, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                off += n
            }
        }
    }

    /// Serves requests on one connection until it closes, errs, idles or breaks a limit.
    private func serve(_ c: Int32) {
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 8192)
        while true {
            let started = Date()
            var requestStarted = !buffer.isEmpty
            enter(c, requestStarted ? .receiving(since: monotonic()) : .idle(since: monotonic()))
            var parsed = HTTPServer.parse(buffer, limits: limits)
            while case .needMore = parsed {
                let budget = requestStarted ? limits.requestSeconds : limits.idleSeconds
                let left = Double(budget) - Date().timeIntervalSince(started)
                if left <= 0 {
                    if requestStarted { send(c, HTTPResponse.error(408, "the request took longer than \(limits.requestSeconds) s").serialized(keepAlive: false)) }
                    return
                }
                var tv = timeval(tv_sec: Int(left.rounded(.up)), tv_usec: 0)
                setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
                let n = recv(c, &chunk, chunk.count, 0)
                if n < 0, errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                if n <= 0 { return }
                buffer += chunk[0..<n]
                if !requestStarted { enter(c, .receiving(since: monotonic())) }
                requestStarted = true
                parsed = HTTPServer.parse(buffer, limits: limits)
            }
            switch parsed {
            case .needMore:
                return
            case .reject(let response):
                send(c, response.serialized(keepAlive: false))
                return
            case .request(let request, let consumed, let keepAlive):
                buffer.removeFirst(consumed)
                enter(c, .handling)
                send(c, handler(request).serialized(keepAlive: keepAlive))
                if !keepAlive { return }
            }
        }
    }

    /// What the bytes received so far on a connection come to.
    package enum Parsed {
        /// Not a whole request yet.
        case needMore
        /// A request, the bytes it took, and whether the connection stays open after it.
        case request(HTTPRequest, consumed: Int, keepAlive: Bool)
        /// A request that breaks the protocol or a limit: answer this and close.
        case reject(HTTPResponse)
    }

    /// Parses the request at the start of `buffer` (pure, so the fuzz harness drives it).
    package static func parse(_ buffer: [UInt8], limits: Limits) -> Parsed {
        guard let end = headEnd(buffer, limit: limits.headerBytes) else {
            return buffer.count >= limits.headerBytes + 4
                ? .reject(.error(431, "request headers are larger than \(limits.headerBytes) bytes")) : .needMore
        }
        let head = String(decoding: buffer[0..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ", omittingEmptySubsequences: true)
        guard requestLine.count == 3, requestLine[2].hasPrefix("HTTP/1.") else { return .reject(.error(400, "malformed request line")) }
        guard lines.count <= limits.headerCount else { return .reject(.error(431, "more than \(limits.headerCount) headers")) }
        var headers: [String: String] = [:]
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { return .reject(.error(400, "malformed header line")) }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        guard let length = Int(headers["content-length"] ?? "0"), length >= 0 else { return .reject(.error(400, "invalid Content-Length")) }
        guard length <= limits.bodyBytes else { return .reject(.error(413, "the body is larger than \(limits.bodyBytes) bytes")) }
        if headers["transfer-encoding"] != nil { return .reject(.error(400, "chunked bodies are not accepted; send Content-Length")) }
        let bodyStart = end + 4
        guard buffer.count >= bodyStart + length else { return .needMore }
        let (path, query) = splitTarget(String(requestLine[1]))
        let request = HTTPRequest(method: String(requestLine[0]), path: path, query: query, headers: headers,
                                  body: Data(buffer[bodyStart..<(bodyStart + length)]))
        return .request(request, consumed: bodyStart + length, keepAlive: (headers["connection"]?.lowercased() ?? "") != "close")
    }

    /// The path and query of a request target; empty keys (`?=`, `?a=1&=x`) are ignored.
    static func splitTarget(_ target: String) -> (String, [String: String]) {
        guard let q = target.firstIndex(of: "?") else { return (target.removingPercentEncoding ?? target, [:]) }
        var query: [String: String] = [:]
        for pair in target[target.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let rawKey = kv.first, !rawKey.isEmpty else { continue }
            let key = String(rawKey).removingPercentEncoding ?? String(rawKey)
            query[key] = kv.count > 1 ? (String(kv[1]).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(kv[1])) : ""
        }
        let path = String(target[..<q])
        return (path.removingPercentEncoding ?? path, query)
    }

    /// Where the head's blank line (CRLF CRLF) starts, if it starts at most `limit` bytes in.
    static func headEnd(_ hay: [UInt8], limit: Int) -> Int? {
        guard hay.count >= 4 else { return nil }
        var i = 0
        let last = min(hay.count - 4, limit)
        while i <= last {
            if hay[i] == 13, hay[i + 1] == 10, hay[i + 2] == 13, hay[i + 3] == 10 { return i }
            i += 1
        }
        return nil
    }
}

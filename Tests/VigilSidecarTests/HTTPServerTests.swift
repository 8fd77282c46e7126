import Foundation
import Glibc
import Synchronization
import Testing
@testable import VigilSidecar
import VigilTestSupport

/// A client connection to 127.0.0.1:`port` with a receive timeout, for driving the server byte by byte.
private final class Client {
    let fd: Int32

    init(_ port: UInt16, timeoutSeconds: Int = 10) {
        fd = Loopback.connect(port, receiveTimeout: timeoutSeconds)
    }

    deinit { close(fd) }

    @discardableResult
    func write(_ text: String) -> Bool {
        text.withCString { send(fd, $0, strlen($0), Int32(MSG_NOSIGNAL)) } == text.utf8.count
    }

    /// Reads one response (head and Content-Length body); nil when the server closed first.
    func response() -> String? {
        var data = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 4096)
        while true {
            if let text = Optional(String(decoding: data, as: UTF8.self)), let head = text.range(of: "\r\n\r\n") {
                let length = text[..<head.lowerBound].split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                if text.utf8.count - text.utf8.distance(from: text.startIndex, to: head.upperBound) >= length { return text }
            }
            let n = recv(fd, &buf, buf.count, 0)
            if n <= 0 { return data.isEmpty ? nil : String(decoding: data, as: UTF8.self) }
            data += buf[0..<n]
        }
    }

    /// True when the server has closed this connection (a read returns end of file).
    var closedByServer: Bool {
        var b: UInt8 = 0
        return recv(fd, &b, 1, 0) == 0
    }

    /// True when the server has closed this connection already (a non-blocking read sees end of file).
    var closedNow: Bool {
        var b: UInt8 = 0
        return recv(fd, &b, 1, Int32(MSG_DONTWAIT)) == 0
    }

    func get(_ path: String) -> String? {
        write("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
        return response()
    }
}

/// Runs blocking client work on a thread of its own, off the shared pool.
private func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { c in Thread { c.resume(returning: body()) }.start() }
}

struct HTTPServerTests {
    private static func server(_ limits: HTTPServer.Limits = HTTPServer.Limits(),
                               handler: @escaping @Sendable (HTTPRequest) -> HTTPResponse = { r in .json(200, "{\"path\":\"\(r.path)\",\"query\":\(r.query.count)}") }) throws -> HTTPServer {
        try HTTPServer(host: "127.0.0.1", port: 0, limits: limits, handler: handler)
    }

    @Test func queriesWithEmptyKeysAreIgnoredNotFatal() {
        #expect(HTTPServer.splitTarget("/health?=") == ("/health", [:]))
        #expect(HTTPServer.splitTarget("/health?==") == ("/health", [:]))
        #expect(HTTPServer.splitTarget("/health?a=1&=") == ("/health", ["a": "1"]))
        #expect(HTTPServer.splitTarget("/health?a=1&=x&b&c=d=e") == ("/health", ["a": "1", "b": "", "c": "d=e"]))
        #expect(HTTPServer.splitTarget("/a%20b?k%3D=v+w") == ("/a b", ["k=": "v w"]))
    }

    @Test(.timeLimit(.minutes(1)))
    func aRequestWithAnEmptyQueryKeyIsAnswered() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let port = server.port
        for target in ["/health?=", "/health?==", "/health?a=1&=", "/health?&&&="] {
            let answer = await onThread { Client(port).get(target) }
            #expect(answer?.hasPrefix("HTTP/1.1 200") == true, "\(target)")
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func headersUpTo16KiBPassAndOneByteMoreIs431() async throws {
        let server = try Self.server()
        defer { server.stop() }
        let port = server.port
        // A head of exactly `size` bytes before its blank line.
        @Sendable func request(headBytes size: Int) -> String {
            let start = "GET /h HTTP/1.1\r\nX-Pad: "
            return start + String(repeating: "a", count: size - start.utf8.count) + "\r\n\r\n"
        }
        let limit = HTTPServer.Limits().headerBytes
        #expect(limit == 16 * 1024)
        let atLimit = await onThread { let c = Client(port); c.write(request(headBytes: limit)); return c.response() }
        #expect(atLimit?.hasPrefix("HTTP/1.1 200") == true)
        let over = await onThread { let c = Client(port); c.write(request(headBytes: limit + 1)); return c.response() }
        #expect(over?.hasPrefix("HTTP/1.1 431") == true)
    }

    @Test(.timeLimit(.minutes(1)))
    func anIdleKeepAliveConnectionIsClosed() async throws {
        var limits = HTTPServer.Limits()
        limits.idleSeconds = 1
        let server = try Self.server(limits)
        defer { server.stop() }
        let port = server.port
        let (first, closed) = await onThread { () -> (String?, Bool) in
            let c = Client(port, timeoutSeconds: 10)
            let first = c.get("/a")
            return (first, c.closedByServer) // blocks until the server closes (1 s idle) or 10 s pass
        }
        #expect(first?.hasPrefix("HTTP/1.1 200") == true)
        #expect(first?.contains("Connection: keep-alive") == true)
        #expect(closed)
    }

    @Test(.timeLimit(.minutes(1)))
    func atTheCapTheConnectionIdleLongestMakesRoom() async throws {
        var limits = HTTPServer.Limits()
        limits.connections = 4
        let server = try Self.server(limits)
        defer { server.stop() }
        let port = server.port
        let results = await onThread { () -> [String] in
            // Four keep-alive clients, each idle after one request; the first is idle longest.
            let clients = (0..<4).map { _ in Client(port) }
            var out: [String] = []
            for c in clients {
                out.append(c.get("/warm")?.prefix(12).description ?? "none")
                usleep(20_000)
            }
            let probe = Client(port)
            out.append(probe.get("/health")?.prefix(12).description ?? "none")
            out.append(clients[0].closedByServer ? "first closed" : "first open")
            out.append(clients[1].get("/again")?.prefix(12).description ?? "none")
            return out
        }
        #expect(results == ["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "first closed", "HTTP/1.1 200"])
        #expect(server.evictions == 1)
    }

    @Test(.timeLimit(.minutes(1)))
    func slowClientsHoldingEveryConnectionCannotStarveLiveness() async throws {
        var limits = HTTPServer.Limits()
        limits.connections = 8
        let server = try Self.server(limits)
        defer { server.stop() }
        let port = server.port
        let answers = await onThread { () -> [String] in
            // Every connection holds a request that never ends (a slowloris).
            let slow = (0..<8).map { _ in Client(port) }
            for c in slow { c.write("GET /health HTTP/1.1\r\nX-Slow: ") }
            usleep(100_000)
            // Each probe stays connected, so each needs room: the first takes a slowloris's, the
            // next ones the previous probe's once it is idle, else another slowloris's.
            var probes: [Client] = []
            var out: [String] = []
            for _ in 0..<3 {
                probes.append(Client(port))
                out.append(probes.last?.get("/health")?.prefix(12).description ?? "none")
            }
            out.append(slow.contains(where: \.closedNow) ? "a slow one closed" : "every slow one open")
            return out
        }
        #expect(answers == ["HTTP/1.1 200", "HTTP/1.1 200", "HTTP/1.1 200", "a slow one closed"])
        #expect(server.evictions == 3)
    }

    @Test(.timeLimit(.minutes(1)))
    func whenEveryConnectionIsInItsHandlerTheNextIsRefused() async throws {
        var limits = HTTPServer.Limits()
        limits.connections = 2
        let release = DispatchSemaphore(value: 0)
        let entered = DispatchSemaphore(value: 0)
        let server = try Self.server(limits) { r in
            if r.path == "/block" {
                entered.signal()
                release.wait()
            }
            return .json(200, "{}")
        }
        defer { server.stop() }
        let port = server.port
        let blocked = (0..<2).map { _ in Task { await onThread { Client(port).get("/block")?.prefix(12).description } } }
        let inHandlers = await onThread { entered.wait(timeout: .now() + 10) == .success && entered.wait(timeout: .now() + 10) == .success }
        #expect(inHandlers)
        let third = await onThread { Client(port).get("/health") }
        #expect(third?.hasPrefix("HTTP/1.1 503") == true)
        release.signal()
        release.signal()
        for t in blocked { #expect(await t.value == "HTTP/1.1 200") }
    }
}

import Dispatch
import Foundation
import Synchronization
import Testing
import VigilAlerting
@testable import VigilSidecar
import VigilTestSupport

/// vigil's one HTTP client (libcurl) against vigil's own server on 127.0.0.1: what it sends, what
/// it keeps of the answer, and how it stops. The real peers (Alertmanager, a mail server) are in
/// their own suites.
private final class Log: Sendable {
    let requests = Mutex<[HTTPRequest]>([])
}

/// A server that records each request and answers with `respond`.
private final class Peer: Sendable {
    let seen: Log
    let server: HTTPServer

    init(_ respond: @escaping @Sendable (HTTPRequest) -> HTTPResponse) throws {
        let log = Log()
        seen = log
        server = try HTTPServer(host: "127.0.0.1", port: 0) { r in
            log.requests.withLock { $0.append(r) }
            return respond(r)
        }
    }

    var url: String { "http://127.0.0.1:\(server.port)" }
    func stop() { server.stop() }
}

@Suite struct HTTPClientTests {
    @Test func aPostCarriesItsHeadersAndBodyAndReadsRetryAfter() throws {
        let peer = try Peer { _ in HTTPResponse(status: 429, body: Data(), headers: ["Retry-After": "7"]) }
        defer { peer.stop() }
        let request = OutgoingRequest(channel: "c", url: Secret(peer.url + "/emails"), body: Data(#"{"a":1}"#.utf8),
                                      headers: [("Authorization", Secret("Bearer re_test"))])
        #expect(CurlTransport().post(request, timeout: 5_000_000_000) == .status(429, retryAfter: "7"))
        let got = try #require(peer.seen.requests.withLock { $0.first })
        #expect(got.method == "POST")
        #expect(got.path == "/emails")
        #expect(got.headers["authorization"] == "Bearer re_test")
        #expect(got.headers["content-type"] == "application/json")
        #expect(String(decoding: got.body, as: UTF8.self) == #"{"a":1}"#)
    }

    @Test func aGetKeepsTheBodyAndContentTypeUpToTheCap() throws {
        let text = String(repeating: "x", count: 100_000)
        let peer = try Peer { _ in HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Data(text.utf8)) }
        guard case .success(let a) = HTTPClient.request("GET", peer.url + "/metrics", headers: ["Accept: text/plain"],
                                                        timeout: 5_000_000_000, maxBody: 100_000) else {
            Issue.record("no answer")
            return
        }
        defer { peer.stop() }
        #expect(a.status == 200)
        #expect(a.contentType == "text/plain; version=0.0.4")
        #expect(a.body.count == 100_000)
        #expect(peer.seen.requests.withLock { $0.first?.headers["accept"] } == "text/plain")
        #expect(peer.seen.requests.withLock { $0.first?.method } == "GET")

        guard case .failure(let f) = HTTPClient.request("GET", peer.url + "/metrics", timeout: 5_000_000_000, maxBody: 99_999) else {
            Issue.record("a body over the cap was accepted")
            return
        }
        #expect(f.result == .failed("the answer is larger than 99999 bytes"))
    }

    @Test func withoutACapTheBodyIsNotKept() throws {
        let peer = try Peer { _ in .json(200, #"{"ok":true}"#) }
        guard case .success(let a) = HTTPClient.request("GET", peer.url, timeout: 5_000_000_000) else {
            Issue.record("no answer")
            return
        }
        defer { peer.stop() }
        #expect(a.status == 200)
        #expect(a.body.isEmpty)
    }

    @Test func aSlowPeerTimesOutInMilliseconds() throws {
        let peer = try Peer { _ in
            usleep(1_500_000)
            return .json(200, "{}")
        }
        defer { peer.stop() }
        // 300 ms: URLSession on Linux could not say this (its timeouts are whole seconds).
        guard case .failure(let f) = HTTPClient.request("GET", peer.url, timeout: 300_000_000) else {
            Issue.record("the slow peer answered first")
            return
        }
        #expect(f.result == .timeout)
    }

    @Test func aCancelledRequestStopsBeforeTheAnswer() throws {
        let peer = try Peer { _ in
            usleep(6_000_000) // libcurl's progress callback runs at least once a second: the cancel lands well before
            return .json(200, "{}")
        }
        defer { peer.stop() }
        let flag = CancelFlag()
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) { flag.set() }
        guard case .failure(let f) = HTTPClient.request("GET", peer.url, timeout: 10_000_000_000, cancel: flag) else {
            Issue.record("the request was not cancelled")
            return
        }
        #expect(f.result == .failed("cancelled"))
    }

    @Test func nothingListeningIsCannotConnect() throws {
        let (fd, port) = try #require(Loopback.bind()) // bound, never listening: connects are refused
        defer { close(fd) }
        guard case .failure(let f) = HTTPClient.request("GET", "http://127.0.0.1:\(port)/", timeout: 2_000_000_000) else {
            Issue.record("answered")
            return
        }
        guard case .cannotConnect = f.result else {
            Issue.record("\(f.result)")
            return
        }
    }

    @Test func aHeaderWithALineBreakIsRefusedBeforeSending() throws {
        let peer = try Peer { _ in .json(200, "{}") }
        guard case .failure(let f) = HTTPClient.request("GET", peer.url, headers: ["X: a\r\nInjected: b"], timeout: 2_000_000_000) else {
            Issue.record("sent")
            return
        }
        defer { peer.stop() }
        #expect(f.result == .failed("a NUL or line break in the URL or a header"))
        #expect(peer.seen.requests.withLock { $0.isEmpty })
    }
}

extension HTTPClientTests {
    @Test func aGetFollowsRedirectsAndAPostDoesNot() throws {
        let peer = try Peer { r in
            r.path == "/old" ? HTTPResponse(status: 302, body: Data(), headers: ["Location": "/new"]) : .json(200, #"{"at":"new"}"#)
        }
        defer { peer.stop() }
        guard case .success(let a) = HTTPClient.request("GET", peer.url + "/old", timeout: 5_000_000_000, maxBody: 100) else {
            Issue.record("no answer")
            return
        }
        #expect(a.status == 200)
        #expect(String(decoding: a.body, as: UTF8.self) == #"{"at":"new"}"#)
        let post = OutgoingRequest(channel: "c", url: Secret(peer.url + "/old"), body: Data("{}".utf8))
        #expect(CurlTransport().post(post, timeout: 5_000_000_000) == .status(302, retryAfter: nil))
    }

    @Test func onlyHTTPIsSpoken() {
        guard case .failure(let f) = HTTPClient.request("GET", "file:///etc/passwd", timeout: 1_000_000_000, maxBody: 1 << 20) else {
            Issue.record("a file URL was read")
            return
        }
        #expect(f.code == 1) // CURLE_UNSUPPORTED_PROTOCOL
    }
}

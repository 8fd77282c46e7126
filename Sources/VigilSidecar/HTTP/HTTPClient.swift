import Dispatch
import Foundation
import CCurl
import VigilAlerting

/// Sends one request (an HTTP POST, or a mail when it carries an envelope) and blocks until it
/// is answered (delivery calls it on threads of its own). `CurlTransport` in `run`.
public protocol HTTPTransport: Sendable {
    func post(_ request: OutgoingRequest, timeout: Int64) -> HTTPResult
}

/// vigil's one HTTP client: libcurl, driven directly (loaded at run time, see CCurl), on the
/// calling thread, with a handle kept per thread so its connection is reused. Delivery, probes
/// and the operator commands all go through it. Measured against URLSession (`vigil-bench
/// transport`): 5× faster here, and its timeouts are milliseconds, not whole seconds.
public enum HTTPClient {
    /// What came back: the status, the headers vigil reads, and the body if it was asked for.
    public struct Answer: Sendable {
        public let status: Int
        public let retryAfter: String?
        public let contentType: String?
        public let body: [UInt8]
    }

    /// One request, blocking. `maxBody` bytes of the answer are kept (0: none is read; a longer
    /// one fails the request). `cancel`, if given, stops the transfer once set.
    public static func request(_ method: String, _ url: String, headers: [String] = [], body: [UInt8] = [],
                               timeout: Int64, maxBody: Int = 0, cancel: CancelFlag? = nil) -> Result<Answer, HTTPFailure> {
        guard !url.utf8.contains(0), !headers.contains(where: { $0.utf8.contains(0) || $0.utf8.contains(10) || $0.utf8.contains(13) }) else {
            return .failure(HTTPFailure(code: -1, result: .failed("a NUL or line break in the URL or a header")))
        }
        var answer = vigil_http_answer()
        var err = [CChar](repeating: 0, count: 512)
        let lines = headers.map { strdup($0) }
        defer { lines.forEach { free($0) } }
        let ms = Int(max(1, timeout / 1_000_000))
        let code: Int32 = lines.map { UnsafePointer($0) }.withUnsafeBufferPointer { h in
            body.withUnsafeBytes { b in
                vigil_http(method, url, h.baseAddress, Int32(h.count), b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count,
                           ms, maxBody, cancel?.pointer, &answer, &err, err.count)
            }
        }
        defer { vigil_http_answer_free(&answer) }
        guard code == 0 else { return .failure(HTTPFailure(code: code, result: failure(code, HTTPClient.text(err), cancel))) }
        let kept = answer.length > 0 ? [UInt8](UnsafeBufferPointer(start: answer.body, count: answer.length)) : []
        let retryAfter = withUnsafeBytes(of: answer.retry_after) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let contentType = withUnsafeBytes(of: answer.content_type) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return .success(Answer(status: answer.status, retryAfter: retryAfter.isEmpty ? nil : retryAfter,
                               contentType: contentType.isEmpty ? nil : contentType, body: kept))
    }

    /// A C string filled in by libcurl (NUL-terminated in its buffer), as text.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// A transfer that got no answer, in words: a timeout, no connection, or the rest.
    static func failure(_ code: Int32, _ why: String, _ cancel: CancelFlag?) -> HTTPResult {
        switch code {
        case 28: return .timeout // CURLE_OPERATION_TIMEDOUT
        case 6: return .cannotConnect("host not found") // CURLE_COULDNT_RESOLVE_HOST
        case 7: return .cannotConnect("refused or unreachable") // CURLE_COULDNT_CONNECT
        case 42 where cancel != nil: return .failed("cancelled") // CURLE_ABORTED_BY_CALLBACK
        default: return .failed(why.isEmpty ? "libcurl error \(code)" : why)
        }
    }

    /// A GET for an `http` probe, run on `queue` (a probe's own serial queue, so a hung target
    /// holds back only that probe). Returns a cancel function.
    public static func get(_ url: String, timeout: Int64, on queue: DispatchQueue,
                           done: @escaping @Sendable (ProbeAnswer) -> Void) -> @Sendable () -> Void {
        let flag = CancelFlag()
        queue.async {
            switch request("GET", url, timeout: timeout, cancel: flag) {
            case .success(let a): done(.status(a.status))
            case .failure(let f): done(ProbeAnswer(f.result))
            }
        }
        return { flag.set() }
    }
}

/// Why a request got no answer: libcurl's code and what it means for the caller.
public struct HTTPFailure: Error, Sendable {
    public let code: Int32
    public let result: HTTPResult
}

/// A flag one thread sets and a transfer on another reads, to stop early.
public final class CancelFlag: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<Int32>

    public init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: 0)
    }

    deinit { pointer.deallocate() }

    /// Read by libcurl's progress callback with an atomic load; set with an atomic store.
    public func set() { vigil_cancel(pointer) }
}

/// What an `http` probe's GET came to, as the monitor reads it.
public enum ProbeAnswer: Sendable, Equatable {
    case status(Int)
    case timeout
    /// Anything else, in words.
    case failed(String)

    init(_ r: HTTPResult) {
        switch r {
        case .status(let code, _): self = .status(code)
        case .timeout: self = .timeout
        case .cannotConnect, .failed, .reply: self = .failed(r.description)
        }
    }
}

/// Delivery's transport: a POST through `HTTPClient`, or a mail through `SMTPClient`.
public struct CurlTransport: HTTPTransport {
    public init() {}

    public func post(_ request: OutgoingRequest, timeout: Int64) -> HTTPResult {
        if let mail = request.mail { return SMTPClient.send(request, mail, timeout: timeout) }
        let headers = ["Content-Type: \(request.contentType)"] + request.headers.map { "\($0.name): \($0.value.reveal())" }
        switch HTTPClient.request("POST", request.url.reveal(), headers: headers, body: [UInt8](request.body), timeout: timeout) {
        case .success(let a): return .status(a.status, retryAfter: a.retryAfter)
        case .failure(let f): return f.result
        }
    }
}

import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import CCurl
import VigilAlerting

/// Sends one request (an HTTP POST, or a mail when it carries an envelope) and blocks until it
/// is answered (delivery calls it on threads of its own). `CurlTransport` in `run`.
public protocol HTTPTransport: Sendable {
    func post(_ request: OutgoingRequest, timeout: Int64) -> HTTPResult
}

/// GETs (`http` probes) through FoundationNetworking's URLSession, and POSTs for the bench's
/// comparison only: delivery uses `CurlTransport` (5× faster here, millisecond timeouts).
public struct URLSessionTransport: HTTPTransport {
    public init() {}

    /// POSTs on delivery's own session, whose completions run on a serial queue of its own: a
    /// serial queue gets a thread even when blocking work fills Dispatch's global pool (where
    /// URLSession.shared answers, and where a starved pool adds a thread only once a second).
    /// Waits at most the timeout plus 5 s, in case libcurl never answers.
    public func post(_ request: OutgoingRequest, timeout: Int64) -> HTTPResult {
        guard request.mail == nil else { return .failed("URLSession sends no mail: delivery uses CurlTransport") }
        guard let url = URL(string: request.url.reveal()) else { return .failed("the channel's url is not a URL") }
        var r = URLRequest(url: url)
        r.httpMethod = "POST"
        r.httpBody = request.body
        r.setValue(request.contentType, forHTTPHeaderField: "Content-Type")
        r.timeoutInterval = URLSessionTransport.curlTimeout(timeout)
        let answer = Mutex<HTTPResult?>(nil)
        let done = DispatchSemaphore(value: 0)
        let task = URLSessionTransport.deliverySession.dataTask(with: r) { _, response, error in
            answer.withLock { $0 = URLSessionTransport.result(response, error) }
            done.signal()
        }
        task.resume()
        guard done.wait(timeout: .now() + r.timeoutInterval + 5) == .success else {
            task.cancel()
            return .timeout
        }
        return answer.withLock { $0 } ?? .timeout
    }

    private static let deliveryQueue = DispatchQueue(label: "vigil-delivery-http")
    private static let deliverySession = session(on: deliveryQueue)

    /// A GET for an `http` probe, on the probes' own session (no cache, no cookies, its own
    /// connection pool, so a hung webhook delivery cannot hold a probe back), answered on
    /// URLSession's queue rather than the cooperative pool. Returns a cancel function.
    public static func get(_ url: String, timeout: Int64, done: @escaping @Sendable (ProbeAnswer) -> Void) -> @Sendable () -> Void {
        guard let url = URL(string: url) else {
            done(.failed("not a URL"))
            return {}
        }
        var r = URLRequest(url: url)
        r.cachePolicy = .reloadIgnoringLocalCacheData
        r.timeoutInterval = curlTimeout(timeout)
        let task = probeSession.dataTask(with: r) { _, response, error in
            done(ProbeAnswer(result(response, error)))
        }
        task.resume()
        return { task.cancel() }
    }

    private static let probeQueue = DispatchQueue(label: "vigil-probe-http")
    private static let probeSession = session(on: probeQueue)

    /// An ephemeral session (no cache, no cookies) whose completions run on a serial queue of
    /// its own: a serial queue gets a thread even when blocking work fills the global pool,
    /// where the default delegate queue would wait its turn. The queue is a static: the
    /// operation queue holds it unowned (a queue made here was freed at once, and the warning
    /// said so).
    private static func session(on queue: DispatchQueue) -> URLSession {
        let c = URLSessionConfiguration.ephemeral
        c.urlCache = nil
        c.httpCookieStorage = nil
        c.httpShouldSetCookies = false
        c.httpMaximumConnectionsPerHost = 64
        let q = OperationQueue()
        q.underlyingQueue = queue
        q.maxConcurrentOperationCount = 1
        return URLSession(configuration: c, delegate: nil, delegateQueue: q)
    }

    /// FoundationNetworking turns the timeout into libcurl's low-speed time in whole seconds, so
    /// 0.25 s becomes 0 and aborts at once, and 1.5 s becomes 1. Round up; callers that need a
    /// sharper bound (probes) enforce their own deadline.
    static func curlTimeout(_ ns: Int64) -> TimeInterval { max(1, (Double(ns) / 1e9).rounded(.up)) }

    static func result(_ response: URLResponse?, _ error: (any Error)?) -> HTTPResult {
        if let e = error as? URLError {
            // On Linux a URLError prints as a bare number; say it in words.
            switch e.code {
            case .timedOut: return .timeout
            case .cannotConnectToHost: return .cannotConnect("refused or unreachable")
            case .cannotFindHost, .dnsLookupFailed: return .cannotConnect("host not found")
            case .networkConnectionLost: return .cannotConnect("connection lost")
            case .notConnectedToInternet: return .cannotConnect("no network")
            case .secureConnectionFailed: return .failed("TLS handshake failed")
            case .serverCertificateUntrusted, .serverCertificateHasBadDate, .serverCertificateHasUnknownRoot, .serverCertificateNotYetValid:
                return .failed("untrusted TLS certificate")
            case .badServerResponse, .cannotParseResponse: return .failed("not a valid HTTP response")
            case .httpTooManyRedirects, .redirectToNonExistentLocation: return .failed("too many redirects")
            default: return .failed("URL error \(e.code.rawValue)")
            }
        }
        if let error { return .failed("\(type(of: error))") }
        guard let http = response as? HTTPURLResponse else { return .failed("not an HTTP response") }
        return .status(http.statusCode, retryAfter: http.value(forHTTPHeaderField: "Retry-After"))
    }
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

/// POSTs through libcurl directly (loaded at run time, see CCurl), one reused handle per
/// delivery thread. Measured against URLSession in `vigil-bench transport`; see the README for
/// which one delivery uses and why.
public struct CurlTransport: HTTPTransport {
    public init() {}

    public func post(_ request: OutgoingRequest, timeout: Int64) -> HTTPResult {
        if let mail = request.mail { return SMTPClient.send(request, mail, timeout: timeout) }
        var status = 0
        var retryAfter = [CChar](repeating: 0, count: 128)
        var err = [CChar](repeating: 0, count: 512)
        let code = request.body.withUnsafeBytes { body in
            vigil_http_post(request.url.reveal(), body.baseAddress?.assumingMemoryBound(to: CChar.self), body.count, request.contentType,
                            Int(max(1, timeout / 1_000_000)), &status, &retryAfter, retryAfter.count, &err, err.count)
        }
        if code == 0 {
            let ra = String(cString: retryAfter)
            return .status(status, retryAfter: ra.isEmpty ? nil : ra)
        }
        return SMTPClient.curlFailure(code, String(cString: err))
    }
}

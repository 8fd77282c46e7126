import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization
import VigilAlerting
import VigilSidecar

/// A POST through FoundationNetworking's URLSession: what `vigil-bench transport` measures
/// libcurl against (the measurement that chose libcurl for vigil's one HTTP client). Its
/// completions run on a serial queue of its own, which gets a thread even when blocking work
/// fills Dispatch's global pool.
struct URLSessionPost: HTTPTransport {
    private static let queue = DispatchQueue(label: "bench-urlsession")
    private static let session: URLSession = {
        let c = URLSessionConfiguration.ephemeral
        c.urlCache = nil
        c.httpMaximumConnectionsPerHost = 64
        let q = OperationQueue()
        q.underlyingQueue = queue
        q.maxConcurrentOperationCount = 1
        return URLSession(configuration: c, delegate: nil, delegateQueue: q)
    }()

    func post(_ request: OutgoingRequest, timeout: Int64) -> HTTPResult {
        guard let url = URL(string: request.url.reveal()) else { return .failed("not a URL") }
        var r = URLRequest(url: url)
        r.httpMethod = "POST"
        r.httpBody = request.body
        r.setValue(request.contentType, forHTTPHeaderField: "Content-Type")
        r.timeoutInterval = max(1, (Double(timeout) / 1e9).rounded(.up)) // whole seconds on Linux
        let answer = Mutex<HTTPResult>(.timeout)
        let done = DispatchSemaphore(value: 0)
        let task = URLSessionPost.session.dataTask(with: r) { _, response, error in
            let status = (response as? HTTPURLResponse)?.statusCode
            answer.withLock { $0 = status.map { .status($0, retryAfter: nil) } ?? .failed(error.map { "\($0)" } ?? "no answer") }
            done.signal()
        }
        task.resume()
        guard done.wait(timeout: .now() + r.timeoutInterval + 5) == .success else {
            task.cancel()
            return .timeout
        }
        return answer.withLock { $0 }
    }
}

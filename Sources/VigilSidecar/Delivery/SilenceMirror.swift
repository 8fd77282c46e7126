import Foundation
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules

/// With `silences_from NAME`, the silences live in that channel's Alertmanager cluster, not in
/// vigil: every `interval` this reads `GET /api/v2/silences` from the first peer that answers
/// and hands them to the core, which mirrors the active and pending ones (ids `am:ID`). So a
/// silence made with amtool, in Alertmanager's UI or by another replica mutes every replica
/// within one interval, and survives any replica. A silence made or expired through vigil's
/// own API is made or expired in the cluster (`create`, `expire`).
public final class SilenceMirror: Sendable {
    private let peers: [Secret]
    private let interval: Int64
    private let log: Logger
    private let post: @Sendable ([Silence]) -> Void
    private let stopped = Mutex(false)
    private let wake = DispatchSemaphore(value: 0)
    private let done = DispatchSemaphore(value: 0)

    init(peers: [Secret], interval: Int64 = 2_000_000_000, log: LogSink, post: @escaping @Sendable ([Silence]) -> Void) {
        self.peers = peers
        self.interval = interval
        self.log = log.logger("silences")
        self.post = post
    }

    func start() {
        let thread = Thread { [self] in
            run()
            done.signal()
        }
        thread.name = "vigil-silences"
        thread.start()
    }

    func stop() {
        stopped.withLock { $0 = true }
        wake.signal()
        _ = done.wait(timeout: .now() + 2)
    }

    private func run() {
        var failing: String?
        while !stopped.withLock({ $0 }) {
            var why = "no Alertmanager peer is configured"
            var read: [Silence]?
            for peer in peers where read == nil {
                switch HTTPClient.request("GET", SilenceMirror.base(peer) + "/api/v2/silences", headers: ["Accept: application/json"],
                                          timeout: min(interval, 5_000_000_000), maxBody: 32 << 20) {
                case .success(let a) where a.status == 200:
                    if let list = SilenceMirror.parse(a.body) { read = list } else { why = "its answer is not a list of silences" }
                case .success(let a): why = "HTTP \(a.status)"
                case .failure(let f): why = f.result.description
                }
            }
            if let read {
                post(read)
                if failing != nil { log.info("reading Alertmanager's silences again", ["silences": "\(read.count)"]) }
                failing = nil
            } else if failing != why {
                log.warning("cannot read Alertmanager's silences; keeping the last ones", ["error": why])
                failing = why
            }
            _ = wake.wait(timeout: .now() + .nanoseconds(Int(interval)))
        }
    }

    /// Makes a silence in the cluster (`POST /api/v2/silences` to the first peer that takes
    /// it; the cluster gossips it to the others): its id there, or why not.
    func create(matchers: [LabelMatcher], startsAt: Instant, endsAt: Instant, createdBy: String, comment: String) -> Result<String, SilenceError> {
        let body: [String: Any] = [
            "matchers": matchers.map { m in
                ["name": m.name, "value": m.value, "isRegex": m.op == .regexMatch || m.op == .regexNoMatch,
                 "isEqual": m.op == .equal || m.op == .regexMatch] as [String: Any]
            },
            "startsAt": startsAt.rfc3339, "endsAt": endsAt.rfc3339, "createdBy": createdBy, "comment": comment.isEmpty ? "vigil" : comment,
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: body) else { return .failure(SilenceError("the silence does not encode")) }
        var why = "no Alertmanager peer is configured"
        for peer in peers {
            switch HTTPClient.request("POST", SilenceMirror.base(peer) + "/api/v2/silences", headers: ["Content-Type: application/json"],
                                      body: Array(data), timeout: 5_000_000_000, maxBody: 1 << 16) {
            case .success(let a) where a.status == 200:
                if let json = (try? JSONSerialization.jsonObject(with: Data(a.body))) as? [String: Any], let id = json["silenceID"] as? String {
                    return .success(id)
                }
                why = "its answer names no silenceID"
            case .success(let a): why = "HTTP \(a.status): " + String(decoding: a.body.prefix(200), as: UTF8.self)
            case .failure(let f): why = f.result.description
            }
        }
        return .failure(SilenceError(why))
    }

    /// Expires a silence in the cluster (`DELETE /api/v2/silence/ID`); why not, or nil.
    func expire(_ id: String) -> String? {
        guard id.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { return "not an Alertmanager silence id" }
        var why = "no Alertmanager peer is configured"
        for peer in peers {
            switch HTTPClient.request("DELETE", SilenceMirror.base(peer) + "/api/v2/silence/" + id, timeout: 5_000_000_000, maxBody: 1 << 16) {
            case .success(let a) where a.status == 200: return nil
            case .success(let a): why = "HTTP \(a.status): " + String(decoding: a.body.prefix(200), as: UTF8.self)
            case .failure(let f): why = f.result.description
            }
        }
        return why
    }

    struct SilenceError: Error, CustomStringConvertible {
        let description: String
        init(_ d: String) { description = d }
    }

    /// A peer's URL without its trailing slash, as the state sync posts to it.
    static func base(_ peer: Secret) -> String { peer.reveal().trimmingSuffix("/") }

    /// Alertmanager's `GettableSilences` as vigil's silences. Expired ones are kept (their end
    /// is past): they say a silence was expired, where a missing one may just not be listed yet.
    public static func parse(_ body: [UInt8]) -> [Silence]? {
        guard let list = (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] else { return nil }
        return list.compactMap { s -> Silence? in
            guard let id = s["id"] as? String, (s["status"] as? [String: Any])?["state"] is String,
                  let starts = (s["startsAt"] as? String).flatMap(Instant.parseRFC3339),
                  let ends = (s["endsAt"] as? String).flatMap(Instant.parseRFC3339),
                  let raw = s["matchers"] as? [[String: Any]] else { return nil }
            let matchers = raw.compactMap { m -> LabelMatcher? in
                guard let name = m["name"] as? String, let value = m["value"] as? String else { return nil }
                let regex = m["isRegex"] as? Bool ?? false, equal = m["isEqual"] as? Bool ?? true
                return LabelMatcher(name: name, op: regex ? (equal ? .regexMatch : .regexNoMatch) : (equal ? .equal : .notEqual), value: value)
            }
            guard matchers.count == raw.count, !matchers.isEmpty else { return nil }
            return Silence(id: "am:" + id, matchers: matchers, startsAt: starts, endsAt: ends,
                           createdBy: s["createdBy"] as? String ?? "", comment: s["comment"] as? String ?? "")
        }
    }
}

import Foundation
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules

/// With `silences_from NAME`, the silences live in that channel's Alertmanager cluster, not in
/// vigil: every `interval` this reads `GET /api/v2/silences` from the first peer that answers
/// and hands the active and pending ones to the core, which mirrors them (ids `am:ID`). So a
/// silence made with amtool, in Alertmanager's UI or by another replica mutes every replica
/// within one interval, and survives any replica. Reads only: a silence made through vigil's
/// own API stays that replica's (its writing to the cluster is issue 14's item 2, left).
final class SilenceMirror: Sendable {
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
                var base = peer.reveal()
                while base.hasSuffix("/") { base.removeLast() }
                switch HTTPClient.request("GET", base + "/api/v2/silences", headers: ["Accept: application/json"],
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

    /// Alertmanager's `GettableSilences`: the active and pending ones, as vigil's silences.
    static func parse(_ body: [UInt8]) -> [Silence]? {
        guard let list = (try? JSONSerialization.jsonObject(with: Data(body))) as? [[String: Any]] else { return nil }
        return list.compactMap { s -> Silence? in
            guard let id = s["id"] as? String, let state = (s["status"] as? [String: Any])?["state"] as? String, state != "expired",
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

import Foundation
import Synchronization
import VigilAlerting
import VigilEngine

/// One state-sync channel (Alertmanager): the alerts it should know about now, and one sender
/// per peer that posts all of them every `resend` and soon after each change.
///
/// The state coalesces: a peer that was down gets the present when it comes back, not a replay
/// of what it missed (an alert that ended meanwhile arrives resolved, never firing). It is not
/// journaled: at a start the sidecar seeds it from the restored router (`seed`), and an alert
/// whose resolve was lost in a crash ends at the peer by its `endsAt`, at most 4 × resend later.
final class StateSync: Sendable {
    let channel: ChannelConfig
    let integration: any StateSyncIntegration
    private let log: Logger
    private let policy: RetryPolicy
    private let transport: HTTPTransport
    /// By fingerprint: the alert as last notified, and when it resolved (wall-clock ns).
    private let alerts = Mutex<(byFingerprint: [String: (info: AlertInfo, resolvedAt: Int64?)], version: Int)>(([:], 0))
    private let peers: [Peer]

    init(channel: ChannelConfig, integration: any StateSyncIntegration, transport: HTTPTransport, policy: RetryPolicy, log: Logger) {
        self.channel = channel
        self.integration = integration
        self.transport = transport
        self.policy = policy
        self.log = log
        peers = channel.peers.map { Peer(url: $0) }
    }

    /// Starts one sender thread per peer; each ends within `resend` of this sync being dropped
    /// (a reload that changed the channel, a test's delivery going away).
    func start() {
        for (i, peer) in peers.enumerated() {
            let thread = Thread { [weak self] in
                // Strong only during a round, so a dropped sync ends its senders.
                while let wait = self?.round(peer, index: i) {
                    _ = peer.wake.wait(timeout: .now() + .nanoseconds(Int(max(1_000_000, wait))))
                }
            }
            thread.name = "vigil-sync-\(channel.name)-\(i)"
            thread.start()
        }
    }

    /// A notification changes the state: firing (and its escalations and repeats) makes an alert
    /// active with its latest text; resolved ends it at the notice's time.
    func apply(_ n: AlertNotification) {
        guard n.kind != .acknowledge else { return } // an ack does not end an alert
        alerts.withLock { s in
            for a in n.alerts {
                if n.kind == .resolved {
                    s.byFingerprint[a.fingerprint] = (a, (a.endsAt ?? n.at).nanoseconds)
                } else {
                    s.byFingerprint[a.fingerprint] = (a, nil)
                }
            }
            s.version += 1
        }
        for p in peers { p.wake.signal() }
    }

    /// Cluster mode: a notification to channel C, which this cluster delivers, changes the
    /// alerts it holds for C (`Cluster`): firing makes the alert's state for C active, as does an
    /// escalation that is the first C hears of it; another notice (a later step, a repeat,
    /// flapping) is an alert of its own from its time (a repeat ends the one before it), and the
    /// resolve ends the state and every notice for C.
    func relay(_ n: AlertNotification) {
        guard n.kind != .acknowledge else { return } // Alertmanager has no ack event: the ack is a silence
        alerts.withLock { s in
            for a in n.alerts {
                let base = a.fingerprint + "|" + n.channel
                // The state starts when it was first told (so Alertmanager's group wait takes a
                // grouped batch whole), and keeps that start while it fires.
                let start = s.byFingerprint[base].flatMap { $0.resolvedAt == nil ? $0.info.startsAt : nil } ?? n.at
                switch n.kind {
                case .resolved:
                    let end = (a.endsAt ?? n.at).nanoseconds
                    s.byFingerprint[base] = (Cluster.relayed(a, channel: n.channel, notice: nil, at: start), end)
                    StateSync.end(base + "|", at: end, in: &s.byFingerprint)
                case .firing:
                    s.byFingerprint[base] = (Cluster.relayed(a, channel: n.channel, notice: nil, at: start), nil)
                case .escalation where s.byFingerprint[base].map({ $0.resolvedAt != nil }) ?? true:
                    // The first the channel hears of the alert: its state, which it will see resolve.
                    var state = Cluster.relayed(a, channel: n.channel, notice: nil, at: n.at)
                    state.notice = Cluster.notice(n)
                    s.byFingerprint[base] = (state, nil)
                default:
                    guard let notice = Cluster.notice(n) else { continue }
                    if n.kind == .repeat { StateSync.end(base + "|repeat-", at: n.at.nanoseconds, in: &s.byFingerprint) }
                    s.byFingerprint[base + "|" + notice] = (Cluster.relayed(a, channel: n.channel, notice: notice, at: n.at), nil)
                }
            }
            s.version += 1
        }
        for p in peers { p.wake.signal() }
    }

    /// Ends the active entries whose keys start with `prefix` (an alert's notices for a channel).
    private static func end(_ prefix: String, at end: Int64, in entries: inout [String: (info: AlertInfo, resolvedAt: Int64?)]) {
        for (k, v) in entries where k.hasPrefix(prefix) && v.resolvedAt == nil { entries[k]?.resolvedAt = end }
    }

    /// Active alerts the restored router says this channel was told about.
    func seed(_ active: [AlertInfo]) {
        guard !active.isEmpty else { return }
        adopt(Dictionary(active.map { ($0.fingerprint, ($0, nil)) }) { first, _ in first })
    }

    /// Takes over what a sync of the same channel held before a reload.
    func inherit(_ old: StateSync) {
        adopt(old.alerts.withLock { $0.byFingerprint })
    }

    /// Alerts learnt from elsewhere, where this sync does not know them yet; the peers hear it.
    private func adopt(_ entries: [String: (info: AlertInfo, resolvedAt: Int64?)]) {
        alerts.withLock { s in
            for (fp, entry) in entries where s.byFingerprint[fp] == nil { s.byFingerprint[fp] = entry }
            s.version += 1
        }
        for p in peers { p.wake.signal() }
    }

    /// Whether every peer has been sent the latest state (or none is reachable: nothing waits on
    /// a dead peer at shutdown, since the next start sends the present anyway).
    var isIdle: Bool {
        let version = alerts.withLock { $0.version }
        return peers.allSatisfy { $0.state.withLock { $0.sent >= version || $0.failing } }
    }

    /// The state to send at wall-clock `now`: active alerts end 4 × resend from now; resolved
    /// ones keep their end and are dropped after the retention.
    func present(now: Int64) -> (alerts: [AlertInfo], version: Int) {
        alerts.withLock { s in
            let retention = integration.resolvedRetention
            s.byFingerprint = s.byFingerprint.filter { $0.value.resolvedAt.map { now.subtractingSaturated($0) < retention } ?? true }
            let out = s.byFingerprint.values.sorted { $0.info.fingerprint < $1.info.fingerprint }.map { entry -> AlertInfo in
                var a = entry.info
                a.endsAt = Instant(nanoseconds: entry.resolvedAt ?? now.addingSaturated(channel.resend.multipliedSaturated(by: 4)))
                return a
            }
            return (out, s.version)
        }
    }

    /// One peer's sender: the whole state at each change and every `resend`; a failed post is
    /// retried with backoff (at most `resend` apart), and holds no other peer back.
    final class Peer: Sendable {
        let url: Secret
        let wake = DispatchSemaphore(value: 0)
        let state = Mutex<(sent: Int, failing: Bool, attempt: Int)>((0, false, 0))
        init(url: Secret) { self.url = url }
    }

    /// Posts the present to one peer; returns how long to wait before the next round: `resend`,
    /// or a backoff (at most `resend`) after a failure, which holds no other peer back.
    private func round(_ peer: Peer, index: Int) -> Int64 {
        let (now, version) = present(now: Int64(Date().timeIntervalSince1970 * 1e9))
        if now.isEmpty, version <= peer.state.withLock({ $0.sent }) { return channel.resend } // nothing to tell it
        let result = transport.post(integration.stateRequest(now, peer: peer.url, channel: channel), timeout: channel.timeout)
        let where_ = ["channel": channel.name, "peer": "\(index + 1) of \(peers.count)"]
        switch integration.classify(result, now: Date()) {
        case .delivered:
            let recovered = peer.state.withLock { p -> Bool in
                defer { p = (max(p.sent, version), false, 0) }
                return p.failing
            }
            if recovered { log.info("state sync reaches the peer again", where_) }
            return channel.resend
        case .retry(let after):
            return min(channel.resend, after ?? failed(peer, result, where_))
        case .final:
            return min(channel.resend, failed(peer, result, where_))
        }
    }

    /// Counts a failed post (logged at the first of a run); the backoff before the next.
    private func failed(_ peer: Peer, _ result: HTTPResult, _ data: [String: String]) -> Int64 {
        let attempt = peer.state.withLock { p -> Int in
            p.attempt += 1
            p.failing = true
            return p.attempt
        }
        if attempt == 1 { log.warning("state sync failed; retrying", data.merging(["cause": result.description]) { a, _ in a }) }
        return policy.backoff(after: attempt)
    }
}

import Foundation
import Glibc
import Synchronization
import VigilEngine

/// Where the shell gets its time (DESIGN: a `Clock` for live and virtual time). The engine and
/// router take time as a value; the core thread and the monitor ask a clock for it and wait
/// until their deadlines.
public protocol Clock: Sendable {
    /// The instant the core steps at (stream samples arrive at it in `run`).
    func now() -> Instant
    /// A monotonic reading in nanoseconds, for schedules and durations (probes). It passes at
    /// real speed (a demo's scaled clock too: probes are real I/O, their timeouts real time),
    /// except on a clock that moves by hand.
    func ticks() -> Int64
    /// Whether the clock moves only when told (then waits on it end when it moves).
    var movesByHand: Bool { get }
    /// How long to wait, in real nanoseconds, for `ns` of this clock's time; nil: until the
    /// clock is moved (a manual clock).
    func realDuration(_ ns: Int64) -> Int64?
    /// Calls `wake` whenever the clock is moved by hand; clocks that move by themselves never do.
    func whenMoved(_ wake: @escaping @Sendable () -> Void)
}

extension Clock {
    public func whenMoved(_ wake: @escaping @Sendable () -> Void) {}
    public var movesByHand: Bool { false }
}

/// The wall clock (`vigil run`); ticks are CLOCK_MONOTONIC, so a wall-clock step does not
/// stall or rush the probes.
public struct WallClock: Clock {
    public init() {}
    public func now() -> Instant { Instant(nanoseconds: Int64(Date().timeIntervalSince1970 * 1e9)) }
    public func ticks() -> Int64 { monotonic() }
    public func realDuration(_ ns: Int64) -> Int64? { ns }
}

/// A clock that runs `speed` times faster than the wall clock from `origin` (`vigil demo`, so a
/// 2-minute `for` takes seconds).
public struct ScaledClock: Clock {
    public let speed: Double
    private let origin: Instant
    private let start = ContinuousClock.now

    public init(speed: Double, origin: Instant = WallClock().now()) {
        self.speed = speed
        self.origin = origin
    }

    public func now() -> Instant { origin + elapsed() }
    public func ticks() -> Int64 { monotonic() }

    private func elapsed() -> Int64 {
        let d = ContinuousClock.now - start
        let ns = Double(d.components.seconds) * 1e9 + Double(d.components.attoseconds) / 1e9
        return Int64(ns * speed)
    }

    public func realDuration(_ ns: Int64) -> Int64? { real(ns) }

    /// Real nanoseconds for `ns` of this clock's time.
    public func real(_ ns: Int64) -> Int64 { Int64(Double(ns) / speed) }
}

/// Virtual time, as swift-nio's `EmbeddedEventLoop.advanceTime(by:)`: it moves only when a test
/// says so, and whoever waits on it (the core thread, the monitor) wakes when it does. A test
/// builds a sidecar on it in-process and runs 15 minutes of escalation in no time.
public final class ManualClock: Clock {
    private let state: Mutex<(now: Instant, wakers: [@Sendable () -> Void])>

    public init(_ start: Instant) { state = Mutex((start, [])) }

    public func now() -> Instant { state.withLock { $0.now } }
    public func ticks() -> Int64 { now().nanoseconds }
    public func realDuration(_ ns: Int64) -> Int64? { nil }
    public var movesByHand: Bool { true }

    public func whenMoved(_ wake: @escaping @Sendable () -> Void) {
        state.withLock { $0.wakers.append(wake) }
    }

    /// Moves the clock forward by `ns` and wakes every waiter.
    public func advance(by ns: Int64) {
        let wakers = state.withLock { s -> [@Sendable () -> Void] in
            s.now = s.now + max(0, ns)
            return s.wakers
        }
        for wake in wakers { wake() }
    }
}

/// Monotonic nanoseconds (HTTP connection ages, log rate limits, the wall clock's ticks).
func monotonic() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

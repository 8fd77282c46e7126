import Foundation
import VigilEngine

/// Where `run` gets its time. The engine and router take time as a value; the shell asks a
/// clock for it and sleeps until their deadlines.
public protocol Clock: Sendable {
    func now() -> Instant
    /// How long to sleep, in real nanoseconds, for `ns` of this clock's time.
    func realDuration(_ ns: Int64) -> Int64
}

/// The wall clock (`vigil run`).
public struct WallClock: Clock {
    public init() {}
    public func now() -> Instant { Instant(nanoseconds: Int64(Date().timeIntervalSince1970 * 1e9)) }
    public func realDuration(_ ns: Int64) -> Int64 { ns }
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

    public func now() -> Instant {
        let elapsed = ContinuousClock.now - start
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        return origin + Int64(ns * speed)
    }

    public func realDuration(_ ns: Int64) -> Int64 { Int64(Double(ns) / speed) }
}

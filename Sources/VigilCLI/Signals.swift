import Foundation
import Glibc
import Synchronization

/// SIGTERM, SIGINT and SIGHUP, none lost. `takeOver`, first thing in `main`, blocks them in the
/// process before any other thread exists (threads inherit the mask) and receives them on one
/// thread with `sigwait`. A command that handles them (`run`, `demo`) is started with
/// `holding: true`: a signal that comes before its handler is kept and delivered when the
/// handler is installed, where an ignored signal ahead of a dispatch source would vanish. Any
/// other command, or a signal nobody handles, does what it would by default: the process exits
/// with 128 + the signal.
public enum Signals {
    static let handled: [Int32] = [SIGTERM, SIGINT, SIGHUP]

    private struct State {
        var handlers: [Int32: @Sendable (Int32) -> Void] = [:]
        var held: [Int32] = []
        var holding = false
    }
    private static let state = Mutex(State())

    public static func takeOver(holding: Bool) {
        state.withLock { $0.holding = holding }
        var set = sigset_t()
        sigemptyset(&set)
        for s in handled { sigaddset(&set, s) }
        pthread_sigmask(SIG_BLOCK, &set, nil)
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            for s in handled { sigaddset(&set, s) }
            while true {
                var sig: Int32 = 0
                guard sigwait(&set, &sig) == 0 else { continue }
                let handler = state.withLock { s -> (@Sendable (Int32) -> Void)? in
                    if let h = s.handlers[sig] { return h }
                    if s.holding { s.held.append(sig) }
                    return nil
                }
                if let handler {
                    handler(sig)
                } else if !state.withLock({ $0.holding }) {
                    exit(128 + sig)
                }
            }
        }
        thread.name = "vigil-signals"
        thread.start()
    }

    /// Runs `handler` for each `sig` from now on (replacing any before), and at once for each
    /// one held until now.
    public static func on(_ sig: Int32, _ handler: @escaping @Sendable (Int32) -> Void) {
        let held = state.withLock { s -> Int in
            s.handlers[sig] = handler
            let n = s.held.count { $0 == sig }
            s.held.removeAll { $0 == sig }
            return n
        }
        for _ in 0..<held { handler(sig) }
    }
}

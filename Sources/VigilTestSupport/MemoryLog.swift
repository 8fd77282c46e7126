import Synchronization
import VigilSidecar

/// Keeps records, for tests (and the bench): logs are asserted, not printed.
public final class MemoryLog: LogSink {
    private let records = Mutex<[LogRecord]>([])
    public init() {}
    public func write(_ record: LogRecord) { records.withLock { $0.append(record) } }
    public var all: [LogRecord] { records.withLock { $0 } }
}

import Foundation
import Synchronization
import VigilRules

/// One log record in the seed's structured format (SPEC §6).
public struct LogRecord: Sendable, Equatable {
    public enum Level: String, Sendable, Comparable {
        case debug = "DEBUG", info = "INFO", warning = "WARNING", error = "ERROR", critical = "CRITICAL"

        private var rank: Int { [.debug, .info, .warning, .error, .critical].firstIndex(of: self) ?? 0 }
        public static func < (a: Level, b: Level) -> Bool { a.rank < b.rank }
    }

    public let level: Level
    /// The component that speaks (`delivery`, `outbox`, …): the seed's `service`.
    public let service: String
    public let message: String
    public let data: [String: String]

    public init(level: Level, service: String, message: String, data: [String: String]) {
        self.level = level
        self.service = service
        self.message = message
        self.data = data
    }
}

/// Where log records go: stderr as JSON lines in `run`, memory in tests (logs are asserted, not printed).
public protocol LogSink: Sendable {
    func write(_ record: LogRecord)
}

/// Keeps records, for tests.
public final class MemoryLog: LogSink {
    private let records = Mutex<[LogRecord]>([])
    public init() {}
    public func write(_ record: LogRecord) { records.withLock { $0.append(record) } }
    public var all: [LogRecord] { records.withLock { $0 } }
}

/// One JSON object per line on stderr, at or above `minimum`.
public struct StderrLog: LogSink {
    public let minimum: LogRecord.Level
    public init(minimum: LogRecord.Level = .info) { self.minimum = minimum }

    public func write(_ r: LogRecord) {
        guard r.level >= minimum else { return }
        FileHandle.standardError.write(Data(r.jsonLine().utf8))
    }
}

extension LogRecord {
    /// The seed's structured log line: timestamp, level, service, trace_id, message, data, tags.
    public func jsonLine(at date: Date = Date()) -> String {
        let fields = data.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }.joined(separator: ",")
        return "{\"timestamp\":\"\(ISO8601DateFormatter().string(from: date))\",\"level\":\"\(level.rawValue)\","
            + "\"service\":\(jsonString(service == "vigil" ? "vigil" : "vigil." + service)),\"trace_id\":\"\","
            + "\"message\":\(jsonString(message)),\"data\":{\(fields)},\"tags\":[]}\n"
    }
}

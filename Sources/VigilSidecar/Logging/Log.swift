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

/// Where log records go (the facade's backend): stderr as JSON lines in `run`, rotated files
/// with `--log-file`, memory in tests (`VigilTestSupport.MemoryLog`: logs are asserted, not printed).
public protocol LogSink: Sendable {
    func write(_ record: LogRecord)
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

/// What components log through, as swift-log's `Logger` over its handler: a value naming the
/// component (the seed's `service`) over a backend (`LogSink`): `log.warning("…", ["k": v])`.
public struct Logger: Sendable {
    public let service: String
    public let sink: any LogSink

    public init(_ service: String, to sink: any LogSink) {
        self.service = service
        self.sink = sink
    }

    public func log(_ level: LogRecord.Level, _ message: String, _ data: [String: String] = [:]) {
        sink.write(LogRecord(level: level, service: service, message: message, data: data))
    }

    public func debug(_ message: String, _ data: [String: String] = [:]) { log(.debug, message, data) }
    public func info(_ message: String, _ data: [String: String] = [:]) { log(.info, message, data) }
    public func warning(_ message: String, _ data: [String: String] = [:]) { log(.warning, message, data) }
    public func error(_ message: String, _ data: [String: String] = [:]) { log(.error, message, data) }
}

extension LogSink {
    /// A logger for one component over this backend.
    public func logger(_ service: String) -> Logger { Logger(service, to: self) }
}

import Foundation
import VigilEngine

/// `--record DIR`: the raw stream, one file per hour (`stream-YYYYMMDD-HH.ndjson`, UTC), for
/// `vigil replay`. Lines are written as received; a line without a timestamp replays at the
/// time of the line before it.
final class Recorder {
    let directory: URL
    let log: Logger
    private var hour: Int64 = -1
    private var handle: FileHandle?

    init(directory: URL, log: LogSink) {
        self.directory = directory
        self.log = log.logger("recorder")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// The file name for the hour of `t`.
    static func fileName(_ t: Instant) -> String {
        let text = t.rfc3339 // 2025-01-15T14:23:45.123Z
        let chars = Array(text)
        let date = String(chars[0..<4]) + String(chars[5..<7]) + String(chars[8..<10])
        return "stream-\(date)-\(String(chars[11..<13])).ndjson"
    }

    /// Appends a batch's lines, each with its newline, to the hour's file.
    func write(_ batch: LineBatch, at t: Instant) {
        guard batch.count > 0 else { return }
        let h = t.nanoseconds / 3_600_000_000_000
        if h != hour {
            try? handle?.close()
            let url = directory.appendingPathComponent(Recorder.fileName(t))
            if !FileManager.default.fileExists(atPath: url.path) { _ = FileManager.default.createFile(atPath: url.path, contents: nil) }
            handle = try? FileHandle(forWritingTo: url)
            _ = try? handle?.seekToEnd()
            hour = h
            if handle == nil { log.error("cannot open the recording", ["file": url.path]) }
        }
        var data = Data(capacity: batch.bytes.count + batch.count)
        for k in 0..<batch.count {
            batch.withLine(k) { data.append(contentsOf: $0) }
            data.append(0x0A)
        }
        try? handle?.write(contentsOf: data)
    }

    func close() {
        try? handle?.close()
        handle = nil
    }
}

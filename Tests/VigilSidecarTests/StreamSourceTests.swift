import Foundation
import Glibc
import Testing
@testable import VigilEngine
@testable import VigilSidecar

struct LineFramerTests {
    private func feed(_ framer: inout LineFramer, _ text: String) -> LineBatch {
        Array(text.utf8).withUnsafeBytes { framer.feed($0) }
    }

    @Test func everyLineComesWithItsByteOffsetAcrossChunks() {
        var framer = LineFramer(maxLine: 8)
        let a = feed(&framer, "ab\ncd")
        #expect(a.lines.map { String(decoding: $0, as: UTF8.self) } == ["ab"])
        #expect(a.offsets == [0])
        let b = feed(&framer, "e\n\nfg\n")
        #expect(b.lines.map { String(decoding: $0, as: UTF8.self) } == ["cde", "fg"])
        #expect(b.offsets == [3, 8])
        // Too long, split over three chunks: dropped, reported at its start; the next line is whole.
        let c = feed(&framer, "0123456")
        let d = feed(&framer, "789abc")
        let e = feed(&framer, "def\nok\n")
        #expect(c.tooLong == [] && c.lines.isEmpty)
        #expect(d.tooLong == [11] && d.lines.isEmpty)
        #expect(e.tooLong == [] && e.lines.map { String(decoding: $0, as: UTF8.self) } == ["ok"])
        #expect(e.offsets == [28])
    }
}

struct RejectLogTests {
    @Test func theFirstRejectOfEachKindPerMinuteIsLoggedWithSourceAndOffset() {
        let log = MemoryLog()
        var rejects = RejectLog()
        let t0 = Instant(nanoseconds: 1_000 * 1_000_000_000)
        let config = EngineConfig()
        rejects.note(.notJSON, source: "writer 1", offset: 0, at: t0, log: log, engine: config)
        rejects.note(.notJSON, source: "writer 1", offset: 10, at: t0 + 1_000_000_000, log: log, engine: config)
        rejects.note(.badValue, source: "writer 2", offset: 7, at: t0 + 2_000_000_000, log: log, engine: config)
        rejects.note(.notJSON, source: "writer 1", offset: 20, at: t0 + 59_000_000_000, log: log, engine: config)
        rejects.note(.notJSON, source: "writer 3", offset: 30, at: t0 + 60_000_000_000, log: log, engine: config)
        rejects.note(.seriesCap, source: "stdin", offset: 40, at: t0 + 61_000_000_000, log: log, engine: config)
        #expect(log.all.map(\.message) == ["a stream line was rejected", "a stream line was rejected", "a stream line was rejected",
                                           "a series cap is reached: samples of new series are dropped"])
        #expect(log.all.map(\.level) == [.warning, .warning, .warning, .warning])
        #expect(log.all.map(\.data) == [
            ["reason": "not_json", "source": "writer 1", "offset": "0"],
            ["reason": "bad_value", "source": "writer 2", "offset": "7"],
            ["reason": "not_json", "source": "writer 3", "offset": "30", "dropped_since_last_log": "2"],
            ["reason": "series_cap", "source": "stdin", "offset": "40", "max_series": "10000", "max_series_total": "100000"],
        ])
    }
}

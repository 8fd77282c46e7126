import Foundation
import Glibc
import Synchronization
import Testing
@testable import VigilEngine
@testable import VigilSidecar
import VigilTestSupport

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

struct InboxTests {
    private final class Counter: Sendable {
        private let n = Mutex(0)
        func add() { n.withLock { $0 += 1 } }
        var value: Int { n.withLock { $0 } }
    }

    private struct Item: Sendable, Equatable {
        let source: String
        let bytes: Int
    }

    private static func inbox() -> Inbox<Item> { Inbox<Item>(cap: 100) { ($0.bytes, $0.source) } }

    @Test(.timeLimit(.minutes(1)))
    func aFloodingSourceWaitsAndOthersGetIn() async {
        let inbox = Self.inbox()
        inbox.post(Item(source: "flood", bytes: 60))
        inbox.post(Item(source: "flood", bytes: 40)) // exactly at the cap
        let third = Counter()
        Thread { inbox.post(Item(source: "flood", bytes: 10)); third.add() }.start()
        for _ in 0..<500 where inbox.blockedCount == 0 { try? await Task.sleep(for: .milliseconds(2)) }
        #expect(inbox.blockedCount == 1, "the flood's third batch waits")
        #expect(third.value == 0)
        // The trader's lines, and what weighs nothing (commands), go straight in.
        inbox.post(Item(source: "trader", bytes: 90))
        inbox.post(Item(source: "command", bytes: 0))
        #expect(inbox.take() == [Item(source: "flood", bytes: 60), Item(source: "flood", bytes: 40),
                                 Item(source: "trader", bytes: 90), Item(source: "command", bytes: 0)])
        // Taking lets the flood retry.
        for _ in 0..<500 where third.value == 0 { try? await Task.sleep(for: .milliseconds(2)) }
        #expect(third.value == 1)
        #expect(inbox.take() == [Item(source: "flood", bytes: 10)])
    }

    @Test func oneBatchLargerThanTheCapStillGetsIn() {
        let inbox = Self.inbox()
        inbox.post(Item(source: "w", bytes: 5_000))
        #expect(inbox.take() == [Item(source: "w", bytes: 5_000)])
    }

    @Test(.timeLimit(.minutes(1)))
    func closingReleasesEveryBlockedReader() async {
        let inbox = Self.inbox()
        inbox.post(Item(source: "w", bytes: 100))
        let done = Counter()
        for _ in 0..<3 { Thread { inbox.post(Item(source: "w", bytes: 1)); done.add() }.start() }
        for _ in 0..<500 where inbox.blockedCount < 3 { try? await Task.sleep(for: .milliseconds(2)) }
        inbox.close()
        for _ in 0..<500 where done.value < 3 { try? await Task.sleep(for: .milliseconds(2)) }
        #expect(done.value == 3)
    }
}

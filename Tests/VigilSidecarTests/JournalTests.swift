import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// A journal state with `n` firing instances of rule `a`, and nothing else.
func journalState(_ n: Int) -> Journal.State {
    Journal.State(instances: (0..<n).map { PersistedInstance(rule: "a", signature: "s", labels: [Label("i", "\($0)")], state: "firing",
                                                               activeAt: Int64($0), value: 1, falseSince: nil, isString: false) },
                  router: Router.Persisted(tracked: [:], silences: []))
}

extension Journal {
    /// Appends a record holding the whole `state` (what a start, a reload or a failed write leads to).
    func appendWhole(_ state: State, added: [Outbox.Entry]) {
        rebase()
        append(Delta(), added: added, state: { state }, owed: { [] })
    }
}

struct JournalTests {
    /// The standard check value, and the empty input: journals written before zlib computed it still verify.
    @Test func crcIsIEEE() {
        #expect(CRC32.checksum(Data("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum(Data()) == 0)
        #expect(CRC32.checksum(Data("The quick brown fox jumps over the lazy dog".utf8)) == 0x414F_A339)
    }

    func dir() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("vigil-journal-\(UUID().uuidString)") }

    @Test func theLastValidRecordIsRestored() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        for n in 1...5 { j.appendWhole(journalState(n), added: []) }
        j.close()
        #expect(Journal(directory: d, log: MemoryLog()).load().state?.instances.count == 5)
    }

    @Test func aTornTailIsCutOffWithAWarning() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        j.appendWhole(journalState(1), added: [])
        j.appendWhole(journalState(2), added: [])
        j.close()
        let url = d.appendingPathComponent("journal.bin")
        let whole = try Data(contentsOf: url)
        let third = try #require(Journal.frame(Journal.Record(state: journalState(3))))
        try (whole + third.prefix(third.count / 2)).write(to: url) // a crash mid-append
        let log = MemoryLog()
        #expect(Journal(directory: d, log: log).load().state?.instances.count == 2)
        #expect(log.all.map(\.level) == [.warning])
        #expect(try Data(contentsOf: url) == whole) // the tail is gone from the file too
    }

    @Test func aCorruptRecordEndsTheValidPrefix() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        j.appendWhole(journalState(1), added: [])
        j.appendWhole(journalState(2), added: [])
        j.close()
        let url = d.appendingPathComponent("journal.bin")
        var bytes = try Data(contentsOf: url)
        bytes[bytes.count - 3] ^= 0xFF // flip a byte in the last record's payload
        try bytes.write(to: url)
        let log = MemoryLog()
        #expect(Journal(directory: d, log: log).load().state?.instances.count == 1)
        #expect(log.all.first?.message == "the journal's tail was torn or corrupt; cut off")
    }

    @Test func compactionKeepsOneRecord() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        for n in 1...20 { j.appendWhole(journalState(n), added: []) }
        j.compact(journalState(7), owed: [])
        j.close()
        let size = try Data(contentsOf: d.appendingPathComponent("journal.bin")).count
        #expect(size == (Journal.frame(Journal.Record(state: journalState(7)))?.count ?? 0))
        #expect(Journal(directory: d, log: MemoryLog()).load().state?.instances.count == 7)
    }

    /// With a whole state bigger than a quarter of 1 MB, compaction waits for four times it:
    /// a compaction each few hundred steps made a step's p99 58 ms with 1,000 alerts firing.
    @Test func aBigStateIsCompactedAtFourTimesItsSize() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let url = d.appendingPathComponent("journal.bin")
        let j = Journal(directory: d, log: MemoryLog())
        let big = journalState(5_000)
        let whole = try #require(Journal.frame(Journal.Record(state: big))).count
        #expect(whole > Journal.compactAt / 4 && whole < Journal.compactAt)
        j.appendWhole(big, added: [])
        // Steps that add a notification each, until the file passes 4 × the state: no compaction.
        var id: UInt64 = 0
        let step = try #require(Journal.frame(Journal.Record(added: [owed(1)]))).count
        while try Data(contentsOf: url).count + step <= 4 * whole {
            id += 1
            j.append(Journal.Delta(), added: [owed(id)], state: { big }, owed: { [] })
        }
        #expect(try Data(contentsOf: url).count > Journal.compactAt) // past the fixed 1 MB, not compacted
        id += 1
        j.append(Journal.Delta(), added: [owed(id)], state: { big }, owed: { [] })
        #expect(try Data(contentsOf: url).count == whole) // now compacted to the state (nothing owed)
        j.close()
        #expect(Journal(directory: d, log: MemoryLog()).load().state?.instances.count == 5_000)
    }

    func owed(_ id: UInt64) -> Outbox.Entry { Outbox.Entry(id: id, channel: "hook", notification: note("hook", alert: "a\(id)")) }

    @Test func stepsAddOwedNotificationsAndDoneRecordsFinishThem() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        j.appendWhole(journalState(1), added: [owed(1), owed(2)])
        j.done(1)
        j.appendWhole(journalState(2), added: [owed(3)])
        j.done(3)
        j.close()
        let loaded = Journal(directory: d, log: MemoryLog()).load()
        #expect(loaded.owed.map(\.id) == [2])
        #expect(loaded.state?.instances.count == 2)
    }

    @Test func compactionKeepsWhatIsStillOwed() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        j.appendWhole(journalState(1), added: [owed(1), owed(2)])
        j.done(1)
        j.compact(journalState(3), owed: [owed(2)])
        j.done(2)
        j.appendWhole(journalState(4), added: [owed(5)])
        j.close()
        let loaded = Journal(directory: d, log: MemoryLog()).load()
        #expect(loaded.owed.map(\.id) == [5])
        #expect(loaded.state?.instances.count == 4)
    }

    @Test func deltasReplayToTheLastStateAndAnUnchangedStepWritesNothing() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        func inst(_ i: Int, _ value: Double) -> PersistedInstance {
            PersistedInstance(rule: "a", signature: "s", labels: [Label("i", "\(i)")], state: "firing", activeAt: 1, value: value, falseSince: nil, isString: false)
        }
        let first = Journal.State(instances: (0..<100).map { inst($0, 1) }, router: Router.Persisted(tracked: [:], silences: []))
        // The first append after a start writes the whole state, whatever the delta says.
        j.append(Journal.Delta(), added: [], state: { first }, owed: { [] })
        let whole = try Data(contentsOf: d.appendingPathComponent("journal.bin")).count
        // One instance changes, one goes: the record holds only that.
        let delta = Journal.Delta(Core.Changes(instances: ([inst(0, 99)], [InstanceKey(rule: "a", signature: "s", labels: [Label("i", "7")])]),
                                               router: Router.Changes()))
        j.append(delta, added: [], state: { Issue.record("a delta step must not build the whole state"); return first }, owed: { [] })
        let afterDelta = try Data(contentsOf: d.appendingPathComponent("journal.bin")).count
        #expect(afterDelta - whole < whole / 20, "a one-instance delta took \(afterDelta - whole) bytes")
        j.append(Journal.Delta(), added: [], state: { first }, owed: { [] })
        #expect(try Data(contentsOf: d.appendingPathComponent("journal.bin")).count == afterDelta)
        j.close()
        let loaded = try #require(Journal(directory: d, log: MemoryLog()).load().state)
        var expected = first.instances.filter { $0.labels != [Label("i", "7")] }
        expected[0] = inst(0, 99)
        func sorted(_ a: [PersistedInstance]) -> [PersistedInstance] { a.sorted { Journal.Image.key($0) < Journal.Image.key($1) } }
        #expect(sorted(loaded.instances) == sorted(expected))
        #expect(loaded.instances.count == 99)
    }

    /// A start whose restore kept the whole loaded state appends deltas to the journal as it
    /// is; one that lost something (a rule gone), or a journal whose tail was cut, writes the
    /// whole state first.
    @Test(arguments: ["kept", "dropped", "torn"])
    func aStartThatKeptEverythingAppendsADelta(_ restore: String) throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let url = d.appendingPathComponent("journal.bin")
        func core(_ rule: String) -> Core {
            let text = "metric x labels i\nalert \(rule) { when x > 1; severity info; notify slack }\n"
            return Core(rules: Linter.lint(ruleFiles: [SourceFile(path: "r.rules", text: text)]), config: .defaults, engine: EngineConfig(),
                        start: Instant(nanoseconds: 0))
        }
        let signature = try #require(core("a").engine.rules.first?.signature)
        let written = Journal.State(instances: (0..<50).map {
            PersistedInstance(rule: "a", signature: signature, labels: [Label("i", "\($0)")], state: "firing", activeAt: 1, value: 2, falseSince: nil, isString: false)
        }, router: Router.Persisted(tracked: [:], silences: []))
        let j = Journal(directory: d, log: MemoryLog())
        j.appendWhole(written, added: [])
        j.close()
        if restore == "torn" { try (Data(contentsOf: url) + Data([1, 2, 3])).write(to: url) }
        let again = Journal(directory: d, log: MemoryLog())
        let loaded = try #require(again.load().state)
        let before = try Data(contentsOf: url).count
        let restarted = core(restore == "dropped" ? "b" : "a")
        if restarted.restore(loaded.core, at: Instant(nanoseconds: 0)) { again.resume() }
        let restored = Journal.State(restarted.persisted())
        #expect(restored.instances.count == (restore == "dropped" ? 0 : 50))
        again.append(Journal.Delta(), added: [owed(1)], state: { restored }, owed: { [] })
        again.close()
        let grew = try Data(contentsOf: url).count - before
        let wholeBytes = try #require(Journal.frame(Journal.Record(state: written))).count
        if restore == "kept" { #expect(grew < wholeBytes / 4, "a kept restore wrote \(grew) bytes") }
        if restore == "torn" { #expect(grew > wholeBytes) }
        #expect(Journal(directory: d, log: MemoryLog()).load().state?.instances.count == restored.instances.count)
    }

    /// Journals written before acks lived only in the router also hold an `acked` set: they
    /// still load (the router's `ackedUntil` has the same fact).
    @Test func aJournalWithTheOldAckedSetStillLoads() throws {
        let json = #"{"instances":[],"router":{"tracked":{},"silences":[]},"acked":["4821a43bc87c0862"]}"#
        let state = try JSONDecoder().decode(Journal.State.self, from: Data(json.utf8))
        #expect(state.instances.isEmpty && state.router.tracked.isEmpty)
        let delta = try JSONDecoder().decode(Journal.Delta.self, from: Data(#"{"acked":["4821a43bc87c0862"]}"#.utf8))
        #expect(delta.isEmpty)
    }

    /// The engine's and router's own change records, journaled step by step through an incident
    /// of firing, resolving, escalating, acked and silenced alerts, replay to exactly their
    /// whole state, and each step's record costs what it changed.
    @Test func engineAndRouterChangesReplayToTheirWholeState() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: """
            metric x labels k
            alert hot { when x > 1 for 10s; severity warning; notify slack; escalate after 1min to pager; repeat every 2min }
            alert flat { when x == 0; severity info; notify email; escalate none }

            """)])
        #expect(lint.errorCount == 0)
        let core = Core(rules: lint, config: .defaults, engine: EngineConfig(), start: Instant(nanoseconds: 0))
        core.recordsChanges = true
        let j = Journal(directory: d, log: MemoryLog())
        func whole() -> Journal.State { Journal.State(core.persisted()) }
        var rng = SplitMix64(seed: 5)
        var largest = 0
        var acks = 0
        for step in 1...400 {
            let t = Instant(nanoseconds: Int64(step) * 5_000_000_000)
            var inputs: [Core.Input] = [.lines(LineBatch((0..<3).map { _ in #"{"metric":"x","labels":{"k":"k\#(rng.next() % 30)"},"value":\#(rng.next() % 3)}"# }))]
            if step % 40 == 0, let fp = core.router.firing(alert: "hot", labels: []).first {
                inputs.append(.command(.ack(fingerprint: fp, for: nil)))
                acks += 1
            }
            if step == 100 { inputs.append(.command(.addSilence(matchers: [], duration: 600_000_000_000, createdBy: "test", comment: "quiet"))) }
            _ = core.step(inputs, at: t)
            let before = (try? Data(contentsOf: d.appendingPathComponent("journal.bin")).count) ?? 0
            j.append(Journal.Delta(core.takeChanges()), added: [], state: whole, owed: { [] })
            if step > 1 { largest = max(largest, ((try? Data(contentsOf: d.appendingPathComponent("journal.bin")).count) ?? 0) - before) }
        }
        #expect(acks > 3, "the incident must ack something")
        j.close()
        let live = whole()
        #expect(live.instances.count > 5 && !live.router.tracked.isEmpty, "the incident must leave something to restore")
        let loaded = try #require(Journal(directory: d, log: MemoryLog()).load().state)
        func sorted(_ a: [PersistedInstance]) -> [PersistedInstance] { a.sorted { Journal.Image.key($0) < Journal.Image.key($1) } }
        #expect(sorted(loaded.instances) == sorted(live.instances))
        #expect(loaded.router.tracked == live.router.tracked)
        #expect(loaded.router.silences == live.router.silences)
        let wholeSize = Journal.frame(Journal.Record(state: live))?.count ?? 0
        #expect(largest < wholeSize / 2, "a step's record (at most \(largest) bytes) costs what changed, not the whole state (\(wholeSize))")
    }
}

import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar

/// A journal state with `n` firing instances of rule `a`, and nothing else.
func journalState(_ n: Int) -> Journal.State {
    Journal.State(instances: (0..<n).map { PersistedInstance(rule: "a", signature: "s", labels: [Label("i", "\($0)")], state: "firing",
                                                               activeAt: Int64($0), value: 1, falseSince: nil, isString: false) },
                  router: Router.Persisted(tracked: [:], silences: []), acked: [])
}

struct JournalTests {
    func dir() -> URL { FileManager.default.temporaryDirectory.appendingPathComponent("vigil-journal-\(UUID().uuidString)") }

    @Test func theLastValidRecordIsRestored() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        for n in 1...5 { j.append(journalState(n), added: [], owed: { [] }) }
        j.close()
        #expect(Journal(directory: d, log: MemoryLog()).load().state?.instances.count == 5)
    }

    @Test func aTornTailIsCutOffWithAWarning() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        j.append(journalState(1), added: [], owed: { [] })
        j.append(journalState(2), added: [], owed: { [] })
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
        j.append(journalState(1), added: [], owed: { [] })
        j.append(journalState(2), added: [], owed: { [] })
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
        for n in 1...20 { j.append(journalState(n), added: [], owed: { [] }) }
        j.compact(journalState(7), owed: [])
        j.close()
        let size = try Data(contentsOf: d.appendingPathComponent("journal.bin")).count
        #expect(size == (Journal.frame(Journal.Record(state: journalState(7)))?.count ?? 0))
        #expect(Journal(directory: d, log: MemoryLog()).load().state?.instances.count == 7)
    }

    func owed(_ id: UInt64) -> Outbox.Entry { Outbox.Entry(id: id, channel: "hook", notification: note("hook", alert: "a\(id)")) }

    @Test func stepsAddOwedNotificationsAndDoneRecordsFinishThem() throws {
        let d = dir()
        defer { try? FileManager.default.removeItem(at: d) }
        let j = Journal(directory: d, log: MemoryLog())
        j.append(journalState(1), added: [owed(1), owed(2)], owed: { [] })
        j.done(1)
        j.append(journalState(2), added: [owed(3)], owed: { [] })
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
        j.append(journalState(1), added: [owed(1), owed(2)], owed: { [] })
        j.done(1)
        j.compact(journalState(3), owed: [owed(2)])
        j.done(2)
        j.append(journalState(4), added: [owed(5)], owed: { [] })
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
        let first = Journal.State(instances: (0..<100).map { inst($0, 1) }, router: Router.Persisted(tracked: [:], silences: []), acked: ["x"])
        j.append(first, added: [], owed: { [] })
        let whole = try Data(contentsOf: d.appendingPathComponent("journal.bin")).count
        // One instance changes, one goes, the acks change: the record holds only that.
        var instances = first.instances.filter { $0.labels != [Label("i", "7")] }
        instances[0] = inst(0, 99)
        let second = Journal.State(instances: instances, router: first.router, acked: ["y"])
        j.append(second, added: [], owed: { [] })
        let afterDelta = try Data(contentsOf: d.appendingPathComponent("journal.bin")).count
        #expect(afterDelta - whole < whole / 20, "a one-instance delta took \(afterDelta - whole) bytes")
        j.append(second, added: [], owed: { [] })
        #expect(try Data(contentsOf: d.appendingPathComponent("journal.bin")).count == afterDelta)
        j.close()
        let loaded = try #require(Journal(directory: d, log: MemoryLog()).load().state)
        func sorted(_ a: [PersistedInstance]) -> [PersistedInstance] { a.sorted { Journal.Image.key($0) < Journal.Image.key($1) } }
        #expect(sorted(loaded.instances) == sorted(second.instances))
        #expect(loaded.instances.count == 99)
        #expect(loaded.acked == ["y"])
    }
}

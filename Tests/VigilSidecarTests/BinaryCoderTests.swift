import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilSidecar
import VigilTestSupport

/// The journal's binary form: what it decodes is what was encoded, older and newer shapes of a
/// type read each other as JSON would, and bytes from anywhere else throw instead of trapping.
struct BinaryCoderTests {
    /// JSON with sorted keys: one canonical text per value, to compare values that are not Equatable.
    func canonical<T: Encodable>(_ v: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = .sortedKeys
        return String(decoding: try e.encode(v), as: UTF8.self)
    }

    func record() -> Journal.Record {
        let n = note("hook", alert: "a1", labels: [Label("venue", "kalshi"), Label("market", "ünïcode \"quoted\"")])
        var tracked = Router.Tracked(info: n.alerts[0], firing: true, isEvent: false, firedAt: Instant(nanoseconds: -5))
        tracked.notified = ["hook", "slack"]
        tracked.nextRepeat = Instant(nanoseconds: Int64.max)
        tracked.ackBy = "ops"
        tracked.stableAt = Instant(nanoseconds: Int64.min)
        var state = journalState(3)
        state.router = Router.Persisted(tracked: [n.alerts[0].fingerprint: tracked, "": tracked], silences: [])
        var delta = Journal.Delta()
        delta.removed = ["x", ""]
        delta.upserted = journalState(2).instances
        return Journal.Record(state: state, delta: delta, added: [Outbox.Entry(id: UInt64.max, channel: "hook", notification: n)], done: [0, 1, UInt64.max])
    }

    @Test func aRecordRoundTripsAsJSONWould() throws {
        let r = record()
        let bytes = try BinaryCoder.encode(r)
        #expect(try canonical(BinaryCoder.decode(Journal.Record.self, from: bytes)) == canonical(r))
        #expect(bytes.first == BinaryCoder.Tag.object.rawValue) // not `{`: the journal tells the forms apart by it
        #expect(bytes.count < (try JSONEncoder().encode(r)).count)
    }

    @Test func scalarsKeepTheirExactValues() throws {
        struct S: Codable, Equatable {
            var i: [Int64] = [0, -1, 1, .min, .max, 1 << 35]
            var u: [UInt64] = [0, .max, 1 << 63]
            var d: [Double] = [0, -0.0, .infinity, -.infinity, 1e-310, .pi, .greatestFiniteMagnitude]
            var s: [String] = ["", "é", "\u{0}", String(repeating: "x", count: 300)]
            var o: [Int?] = [nil, 1, nil]
            var b: [Bool] = [true, false]
            var m: [Int: String] = [3: "three", -1: "minus"]
            var nested: [[String: [Int32]]] = [["a": [1, 2]], [:]]
        }
        let s = S()
        #expect(try BinaryCoder.decode(S.self, from: BinaryCoder.encode(s)) == s)
        let nan = try BinaryCoder.decode([Double].self, from: BinaryCoder.encode([Double.nan]))
        #expect(nan.count == 1 && nan[0].isNaN)
    }

    /// A field added later reads as absent from an older record; one removed is skipped.
    @Test func shapesEvolveAsInJSON() throws {
        struct Old: Codable { var a = 7; var gone = "x"; var kept: String? = "k" }
        struct New: Codable, Equatable { var a: Int; var kept: String?; var added: [Int]? }
        #expect(try BinaryCoder.decode(New.self, from: BinaryCoder.encode(Old())) == New(a: 7, kept: "k", added: nil))
        #expect(throws: DecodingError.self) { try BinaryCoder.decode([String: Int].self, from: BinaryCoder.encode(["a": "not a number"])) }
        #expect(throws: DecodingError.self) { try BinaryCoder.decode(UInt8.self, from: BinaryCoder.encode(256)) }
    }

    /// Every prefix of a record, and every single-byte change to it, decodes or throws.
    @Test func damagedBytesThrowInsteadOfTrapping() throws {
        let bytes = try BinaryCoder.encode(record())
        for n in 0..<bytes.count {
            #expect(throws: (any Error).self) { try BinaryCoder.decode(Journal.Record.self, from: Array(bytes.prefix(n))) }
        }
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            var b = bytes
            b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            _ = try? BinaryCoder.decode(Journal.Record.self, from: b)
        }
    }

    /// Hand-written `encode(to:)`s: nested containers written in turn decode; a write to one
    /// already closed (its sibling opened since) throws instead of landing in the sibling.
    @Test func containersNestOrThrow() throws {
        enum K: CodingKey { case a, b, c }
        struct InTurn: Encodable {
            func encode(to encoder: Encoder) throws {
                var top = encoder.container(keyedBy: K.self)
                var a = top.nestedUnkeyedContainer(forKey: .a)
                try a.encode(1)
                try a.encode(2)
                var b = top.nestedContainer(keyedBy: K.self, forKey: .b)
                try b.encode("x", forKey: .c)
                try top.encode(true, forKey: .c)
            }
        }
        struct Read: Decodable, Equatable {
            let a: [Int]
            let b: [String: String]
            let c: Bool
        }
        #expect(try BinaryCoder.decode(Read.self, from: BinaryCoder.encode(InTurn())) == Read(a: [1, 2], b: ["c": "x"], c: true))
        struct Stale: Encodable {
            func encode(to encoder: Encoder) throws {
                var top = encoder.container(keyedBy: K.self)
                var a = top.nestedUnkeyedContainer(forKey: .a)
                try a.encode(1)
                var b = top.nestedUnkeyedContainer(forKey: .b)
                try b.encode(2)
                try a.encode(3) // a is closed: b was opened after it
            }
        }
        #expect(throws: EncodingError.self) { try BinaryCoder.encode(Stale()) }
    }

    /// A recursive type follows the data: nesting past the limit throws, not a stack overflow.
    @Test func deepNestingIsRefused() throws {
        indirect enum Tree: Codable { case leaf, node([Tree]) }
        var t = Tree.leaf
        for _ in 0..<2000 { t = .node([t]) }
        let bytes = try BinaryCoder.encode(t)
        #expect(throws: DecodingError.self) { try BinaryCoder.decode(Tree.self, from: bytes) }
        var shallow = Tree.leaf
        for _ in 0..<20 { shallow = .node([shallow]) }
        _ = try BinaryCoder.decode(Tree.self, from: BinaryCoder.encode(shallow))
    }

    /// A journal written before the binary form (JSON records) loads, and later records append to it.
    @Test func aJSONJournalStillLoads() throws {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-journal-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: d) }
        try FileManager.default.createDirectory(at: d, withIntermediateDirectories: true)
        let payload = try JSONEncoder().encode(Journal.Record(state: journalState(4)))
        var frame = Data()
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { frame.append(contentsOf: $0) }
        withUnsafeBytes(of: CRC32.checksum(payload).littleEndian) { frame.append(contentsOf: $0) }
        try (frame + payload).write(to: d.appendingPathComponent("journal.bin"))
        let j = Journal(directory: d, log: MemoryLog())
        #expect(j.load().state?.instances.count == 4)
        j.appendWhole(journalState(6), added: [])
        j.close()
        #expect(Journal(directory: d, log: MemoryLog()).load().state?.instances.count == 6)
    }
}

import Foundation
import Testing
import VigilFuzz

/// Every committed fuzz input, seeds (`Fuzz/corpus/HARNESS`) and past findings
/// (`Fuzz/crashes/HARNESS`), replayed through its harness: a finding fixed once stays fixed.
struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz")

    static func inputs(_ harness: Harness, _ kind: String) -> [URL] {
        let dir = root.appendingPathComponent(kind).appendingPathComponent(harness.rawValue)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        return names.filter { !$0.hasPrefix(".") }.sorted().map { dir.appendingPathComponent($0) }
    }

    @Test(arguments: Harness.allCases)
    func theCorpusAndEveryPastFindingReplay(_ harness: Harness) async throws {
        let seeds = Self.inputs(harness, "corpus")
        #expect(seeds.count >= 3, "the \(harness.rawValue) corpus has seeds")
        for (i, url) in (seeds + Self.inputs(harness, "crashes")).enumerated() {
            if i % 16 == 0 { await Task.yield() }
            harness.run(Array(try Data(contentsOf: url)))
        }
    }

    @Test func theDictionariesExist() {
        for h in Harness.allCases {
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent("dict/\(h.rawValue).dict").path))
        }
    }
}

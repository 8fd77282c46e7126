import Foundation
import Testing
@testable import VigilRules

/// Formatter round trips over the shipped rules and generated files, and a mutation fuzz of the
/// parser and checker. Everything is seeded, so a failure reproduces.
struct PropertyTests {
    /// `dump(parse(fmt(x))) == dump(parse(x))` and `fmt(fmt(x)) == fmt(x)`.
    func assertRoundTrip(_ text: String, kind: SourceKind = .rules, _ label: String) {
        let original = Parser.parse(SourceFile(path: label, text: text, kind: kind))
        guard original.1.isEmpty else {
            Issue.record("\(label) does not parse cleanly: \(original.1.map(\.message))")
            return
        }
        let once = Formatter.format(original.0)
        let reparsed = Parser.parse(SourceFile(path: label, text: once, kind: kind))
        #expect(reparsed.1.isEmpty, "\(label): formatted text has errors: \(reparsed.1.map(\.message))\n\(once)")
        #expect(ASTDump.dump(reparsed.0) == ASTDump.dump(original.0), "\(label): formatting changed the meaning\n\(once)")
        let twice = Formatter.format(reparsed.0)
        #expect(twice == once, "\(label): fmt is not idempotent\n--- once\n\(once)\n--- twice\n\(twice)")
        // Comments survive.
        #expect(once.components(separatedBy: "#").count == text.components(separatedBy: "#").count, "\(label): a comment was lost")
    }

    @Test func shippedRulesRoundTrip() throws {
        for file in try Fixtures.shippedRules() {
            assertRoundTrip(String(decoding: file.bytes, as: UTF8.self), file.path)
        }
        let config = try Fixtures.shippedConfig()
        assertRoundTrip(String(decoding: config.bytes, as: UTF8.self), kind: .config, config.path)
    }

    /// The shipped files are already in canonical form (`vigil fmt --check rules/` passes).
    @Test func shippedRulesAreFormatted() throws {
        for file in try Fixtures.shippedRules() + [Fixtures.shippedConfig()] {
            #expect(Formatter.format(Parser.parse(file).0) == String(decoding: file.bytes, as: UTF8.self), "\(file.path)")
        }
    }

    @Test func twoHundredGeneratedFilesRoundTrip() {
        for seed in 0..<200 {
            let text = SyntheticRules.file(alerts: 1 + seed % 6, seed: UInt64(seed), messy: true)
            assertRoundTrip(text, "generated-\(seed).rules")
        }
    }

    @Test func generatedFilesLintWithoutErrors() {
        for seed in 0..<50 {
            let r = lint(SyntheticRules.file(alerts: 5, seed: UInt64(seed), messy: true))
            #expect(r.errorCount == 0, "seed \(seed): \(r.diagnostics.filter { $0.severity == .error }.map(DiagnosticRenderer.text))")
        }
    }

    /// 10,000 byte- and token-level mutations of the shipped rules: parsing and checking never crash
    /// or hang, every diagnostic lies inside the file, and whatever still parses cleanly round-trips.
    @Test func tenThousandMutationsNeverCrash() async throws {
        let sources = try Fixtures.shippedRules().map(\.bytes)
        var rng = SplitMix64(seed: 0xF00D)
        let alphabet = Array("{}()\"'#\n;,.=<>!~-+*/%_0123456789 abcdeforuxyz".utf8) + [0x00, 0xC3, 0xA9, 0xFF, 0xE2, 0x80]
        var parsedClean = 0
        for iteration in 0..<10_000 {
            if iteration % 200 == 0 { await Task.yield() } // long and CPU-bound: let other tests' tasks run
            var bytes = sources[iteration % sources.count]
            if iteration % 2 == 0 {
                for _ in 0...(rng.next() % 4) { mutateBytes(&bytes, alphabet: alphabet, rng: &rng) }
            } else {
                bytes = mutateTokens(bytes, rng: &rng)
            }
            let file = SourceFile(path: "m.rules", bytes: bytes)
            let result = Linter.lint(ruleFiles: [file])
            for d in result.diagnostics {
                #expect(d.range.start >= 0 && d.range.end <= bytes.count, "diagnostic outside the file at iteration \(iteration)")
                _ = DiagnosticRenderer.text(d)
            }
            if !result.diagnostics.contains(where: { $0.severity == .error }) {
                parsedClean += 1
                let once = Formatter.format(result.files[0])
                let again = Parser.parse(SourceFile(path: "m.rules", text: once))
                #expect(again.1.isEmpty && Formatter.format(again.0) == once && ASTDump.dump(again.0) == ASTDump.dump(result.files[0]),
                        "iteration \(iteration): a mutated file that parses must round-trip\n\(String(decoding: bytes, as: UTF8.self))")
            }
        }
        #expect(parsedClean > 100, "mutations should leave some files valid, to exercise the round trip")
    }

    /// 3,000 mutations of the example config (channels, probes, watch, system): no crash, every
    /// diagnostic inside the file, clean ones round-trip, and the surroundings load from them.
    @Test func threeThousandConfigMutationsNeverCrash() async throws {
        let source = try Fixtures.shippedConfig().bytes
        var rng = SplitMix64(seed: 0xC0FF)
        let alphabet = Array("{}\"#\n:./[]-_0123456789 abcdeiklmnoprstuvwx".utf8) + [0x00, 0xC3, 0xFF]
        var parsedClean = 0
        for iteration in 0..<3_000 {
            if iteration % 200 == 0 { await Task.yield() } // long and CPU-bound: let other tests' tasks run
            var bytes = source
            if iteration % 2 == 0 {
                for _ in 0...(rng.next() % 4) { mutateBytes(&bytes, alphabet: alphabet, rng: &rng) }
            } else {
                bytes = mutateTokens(bytes, rng: &rng)
            }
            let file = SourceFile(path: "m.conf", bytes: bytes, kind: .config)
            let result = Linter.lint(ruleFiles: [], config: file)
            for d in result.diagnostics {
                #expect(d.range.start >= 0 && d.range.end <= bytes.count, "diagnostic outside the file at iteration \(iteration)")
                _ = DiagnosticRenderer.text(d)
            }
            _ = Surroundings.load(result.config)
            if !result.diagnostics.contains(where: { $0.severity == .error }), let parsed = result.config {
                parsedClean += 1
                let once = Formatter.format(parsed)
                let again = Parser.parse(SourceFile(path: "m.conf", text: once, kind: .config))
                #expect(again.1.isEmpty && Formatter.format(again.0) == once && ASTDump.dump(again.0) == ASTDump.dump(parsed),
                        "iteration \(iteration): a mutated config that parses must round-trip\n\(String(decoding: bytes, as: UTF8.self))")
                #expect(Surroundings.load(again.0) == Surroundings.load(parsed))
            }
        }
        #expect(parsedClean > 100, "mutations should leave some configs valid, to exercise the round trip")
    }

    private func mutateBytes(_ b: inout [UInt8], alphabet: [UInt8], rng: inout SplitMix64) {
        guard !b.isEmpty else { return }
        let at = Int(rng.next() % UInt64(b.count))
        switch rng.next() % 4 {
        case 0: b[at] = alphabet[Int(rng.next() % UInt64(alphabet.count))]
        case 1: b.remove(at: at)
        case 2: b.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
        default:
            let len = min(b.count - at, 1 + Int(rng.next() % 40))
            let chunk = Array(b[at..<(at + len)])
            b.insert(contentsOf: chunk, at: Int(rng.next() % UInt64(b.count)))
        }
    }

    /// Deletes, duplicates or swaps whole tokens, rejoining the pieces with their original spacing.
    private func mutateTokens(_ bytes: [UInt8], rng: inout SplitMix64) -> [UInt8] {
        var lexer = Lexer(bytes: bytes)
        let tokens = lexer.tokenize().filter { $0.kind != .eof }
        guard tokens.count > 2 else { return bytes }
        var pieces: [[UInt8]] = []
        var last = 0
        for t in tokens {
            pieces.append(Array(bytes[last..<t.range.end]))
            last = t.range.end
        }
        pieces.append(Array(bytes[last...]))
        for _ in 0...(rng.next() % 3) {
            let i = Int(rng.next() % UInt64(pieces.count - 1)), j = Int(rng.next() % UInt64(pieces.count - 1))
            switch rng.next() % 3 {
            case 0: pieces.remove(at: i)
            case 1: pieces.insert(pieces[i], at: j)
            default: pieces.swapAt(i, j)
            }
        }
        return pieces.flatMap { $0 }
    }
}

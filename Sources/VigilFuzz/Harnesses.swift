import Foundation
import VigilAlerting
import VigilCLI
import VigilEngine
import VigilRules
import VigilSidecar

extension Core {
    /// Steps deadline by deadline up to `t`, at most `limit` of them (an input may schedule
    /// many), as a sidecar with nothing to read does; what they decide is dropped.
    func stepDeadlines(through t: Instant, atMost limit: Int) {
        var steps = 0
        while steps < limit, let d = nextDeadline, d <= t {
            _ = step([], at: d)
            steps += 1
        }
    }
}

/// Each non-empty line of `data` after its first byte (which picks a harness's mode), at most
/// 512, with its offset.
func forEachLine(_ data: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Int) -> Void) {
    var lineStart = 1
    var lines = 0
    for i in 1...data.count where i == data.count || data[i] == UInt8(ascii: "\n") {
        defer { lineStart = i + 1 }
        guard i > lineStart, lines < 512 else { continue }
        lines += 1
        body(UnsafeRawBufferPointer(rebasing: data[lineStart..<i]), lineStart)
    }
}

/// Bytes → `HTTPServer.parse` (pipelined requests too) → `API.handle` on a running sidecar.
enum HTTPHarness {
    final class Box: @unchecked Sendable { // built once, then used from the fuzzer's one thread
        let api: API
        let sidecar: Sidecar
        var runs = 0

        init() {
            _ = Fixture.check
            var options = Sidecar.Options()
            options.source = .listen(FileManager.default.temporaryDirectory.appendingPathComponent("vigil-fuzz-\(getpid()).sock").path)
            sidecar = Sidecar(rules: Fixture.lint, config: Fixture.config, options: options, log: NullLog(), console: { _ in })
            try? sidecar.start()
            api = API(sidecar: sidecar, token: nil)
        }
    }

    static let box = Box()

    static func run(_ data: UnsafeRawBufferPointer) {
        var limits = HTTPServer.Limits()
        limits.bodyBytes = 64 * 1024
        var buffer = Array(data)
        var requests = 0
        while requests < 8, case .request(let request, let consumed, _) = HTTPServer.parse(buffer, limits: limits) {
            precondition(consumed > 0 && consumed <= buffer.count, "parse consumed \(consumed) of \(buffer.count) bytes")
            let response = box.api.handle(request)
            precondition((200..<600).contains(response.status), "status \(response.status)")
            buffer.removeFirst(consumed)
            requests += 1
        }
        // Silences the inputs added would pile up over millions of runs: clear them now and then.
        box.runs += 1
        if box.runs % 256 == 0, let now = box.sidecar.alerts() {
            for s in now.silences { _ = box.sidecar.run(.removeSilence(id: s.id)) }
        }
    }
}

/// Lines (split on newlines) through the core: the decoder, the engine and the router. A line
/// `@N` moves the driver's clock N tenths of a second (at most 10⁶) and advances to it. The
/// first byte picks the clock: odd is run's (the driver's clock; no stamp may move it), even is
/// the stream's (replay). A fresh engine per input, so a finding reproduces from its bytes alone.
enum StreamHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        _ = Fixture.check
        guard let first = data.first else { return }
        let live = first & 1 == 1
        let start = Instant(nanoseconds: 1_700_000_000_000_000_000)
        var config = live ? EngineConfig.live(config: nil) : EngineConfig()
        config.seriesCap = 64
        config.seriesTotalCap = 256
        let core = Core(rules: Fixture.lint, config: Fixture.config, engine: config, start: start)
        let engine = core.engine
        var clock = start
        var lastNow = engine.now
        func route(through t: Instant, _ inputs: [Core.Input] = []) {
            core.stepDeadlines(through: t, atMost: 10_000)
            _ = core.step(inputs, at: t)
            precondition(engine.now >= lastNow, "the engine's clock went back")
            lastNow = engine.now
        }
        forEachLine(data) { line, offset in
            if line[0] == UInt8(ascii: "@") {
                var tenths: Int64 = 0
                for b in line.dropFirst().prefix(7) where b >= 48 && b <= 57 { tenths = tenths * 10 + Int64(b - 48) }
                clock = clock + tenths * 100_000_000
                route(through: clock)
                return
            }
            var batch = LineBatch()
            batch.append(line, offset: Int64(offset))
            route(through: clock, [.lines(batch)])
            if live { precondition(engine.now <= clock, "a stream timestamp moved run's clock past the wall clock") }
        }
        if live { precondition(engine.now == max(clock, start), "run's clock is the driver's") }
        _ = engine.instances()
    }
}

/// Lines (split on newlines) through `LineDecoder.decodeGeneral` and then `decode` on the same
/// symbols and decoder: the first call fills the series cache that the second's fast path reads,
/// so a line the fast path takes must decode to what the general path decided. The first byte
/// picks the clock rule (odd: run's, with a 5 s skew allowance; even: the stream's).
enum DecodeHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        guard let first = data.first else { return }
        let symbols = Symbols(seriesCap: 64, seriesTotalCap: 256)
        var decoder = LineDecoder(maxLine: 4096)
        if first & 1 == 1 { decoder.maxClockSkew = 5_000_000_000 }
        let arrival = Instant(nanoseconds: 1_736_949_600_000_000_000)
        var general: [Sample] = [], fast: [Sample] = []
        forEachLine(data) { line, _ in
            for _ in 0..<2 { // twice: the second time every spelling the first accepted is cached
                general.removeAll(keepingCapacity: true)
                fast.removeAll(keepingCapacity: true)
                var cappedGeneral = 0, cappedFast = 0
                let a = decoder.decodeGeneral(line, arrival: arrival, symbols: symbols, into: &general, capped: &cappedGeneral)
                let b = decoder.decode(line, arrival: arrival, symbols: symbols, into: &fast, capped: &cappedFast)
                precondition(a == b, "general path: \(a.map(\.rawValue) ?? "ok"), fast: \(b.map(\.rawValue) ?? "ok")")
                precondition(general == fast, "general path: \(general), fast: \(fast)")
                precondition(cappedGeneral == cappedFast, "capped: \(cappedGeneral) vs \(cappedFast)")
            }
        }
    }
}

/// A rule file (first byte even) or a config (odd) through the parser and checker; what lints
/// clean is formatted (which must keep its meaning and lint clean again) and compiled, and the
/// engine and router run a few deadlines over no data.
enum RulesHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        _ = Fixture.check
        guard let first = data.first else { return }
        let isConfig = first & 1 == 1
        let file = SourceFile(path: isConfig ? "fuzz.conf" : "fuzz.rules", bytes: Array(data.dropFirst()), kind: isConfig ? .config : .rules)
        let lint = isConfig ? Linter.lint(ruleFiles: [SourceFile(path: "fuzz.rules", text: Fixture.rules)], config: file)
                            : Linter.lint(ruleFiles: [file])
        for d in lint.diagnostics {
            precondition(d.range.start >= 0 && d.range.end <= d.file.bytes.count, "a diagnostic outside its file")
            _ = DiagnosticRenderer.text(d)
        }
        guard lint.errorCount == 0 else { return }
        let (parsed, errors) = Parser.parse(file)
        guard errors.isEmpty else { return }
        let formatted = Formatter.format(parsed)
        let (again, againErrors) = Parser.parse(SourceFile(path: file.path, text: formatted, kind: file.kind))
        precondition(againErrors.isEmpty, "formatted text does not parse: \(againErrors.map(\.message))\n\(formatted)")
        precondition(ASTDump.dump(again) == ASTDump.dump(parsed), "formatting changed the meaning\n\(formatted)")
        guard let config = isConfig ? try? AlertingConfig.load(lint.config, environment: ["X": "http://127.0.0.1:1/x"]) : Fixture.config else { return }
        _ = EngineConfig.live(config: lint.config)
        _ = Surroundings.load(lint.config)
        let start = Instant(nanoseconds: 1_700_000_000_000_000_000)
        Core(rules: lint, config: config, engine: EngineConfig(config: lint.config), start: start)
            .stepDeadlines(through: start + 86_400_000_000_000, atMost: 200)
    }
}

/// A `.test` file through its parser; its cases (up to 100,000 values in all) run against the
/// fixture rules.
enum TestFileHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        _ = Fixture.check
        guard case .success(let file) = RuleTestFile.parse(String(decoding: data, as: UTF8.self)) else { return }
        let values = file.cases.reduce(0) { $0 + $1.series.reduce(0) { $0 + $1.values.count } }
        guard values <= 100_000 else { return }
        for c in file.cases.prefix(8) {
            _ = RuleTestRunner.run(c, rules: Fixture.lint, routing: Fixture.config, staleAfter: nil, path: "fuzz.test")
        }
    }
}

enum ScrapeHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        _ = Fixture.check
        guard let first = data.first else { return }
        let format: ExpositionParser.Format = first & 1 == 1 ? .openMetrics : .prometheus
        let body = UnsafeRawBufferPointer(rebasing: data.dropFirst())
        var config = EngineConfig()
        config.seriesCap = 64
        config.seriesTotalCap = 256
        let start = Instant(nanoseconds: 1_700_000_000_000_000_000)
        let core = Core(rules: Fixture.lint, config: Fixture.config, engine: config, start: start)
        let symbols = core.engine.symbols
        let before = (symbols.seriesCount, symbols.metricCount)
        var parser = ExpositionParser()
        var out: [Sample] = []
        switch parser.parse(body, format: format, time: start, symbols: symbols, into: &out) {
        case .failure(let f):
            precondition(out.isEmpty, "a refused scrape produced samples")
            precondition((symbols.seriesCount, symbols.metricCount) == before, "a refused scrape left names or series behind")
            precondition(f.line >= 1, "a failure names no line")
        case .success(let outcome):
            precondition(outcome.samples == out.count, "the outcome miscounts the samples")
            precondition(out.allSatisfy { $0.value.isFinite && $0.time == start }, "a sample is not finite or not of the scrape's instant")
            precondition(symbols.seriesCount <= 256, "the series cap did not hold")
            _ = core.step([.samples(out, fromStream: false)], at: start)
            // The same body again is the same outcome (the parser keeps no state between scrapes).
            var again: [Sample] = []
            guard case .success(let second) = parser.parse(body, format: format, time: start + 1_000_000_000, symbols: symbols, into: &again) else {
                preconditionFailure("a body accepted once was refused the second time")
            }
            precondition(second.samples == outcome.samples, "the second parse of a body gave other samples")
            _ = core.step([.samples(again, fromStream: false)], at: start + 1_000_000_000)
        }
    }
}

enum SilencesHarness {
    static func run(_ data: UnsafeRawBufferPointer) {
        _ = Fixture.check
        guard let list = SilenceMirror.parse(Array(data)) else { return }
        precondition(list.allSatisfy { $0.id.hasPrefix("am:") && !$0.matchers.isEmpty }, "a mirrored silence without its am: id or matchers")
        let start = Instant(nanoseconds: 1_700_000_000_000_000_000)
        let core = Core(rules: Fixture.lint, config: Fixture.config, engine: EngineConfig(), start: start)
        let line = "{\"timestamp_ns\":\(start.nanoseconds),\"metric\":\"lat\",\"labels\":{\"venue\":\"kalshi\"},\"value\":3000}"
        _ = core.step([.lines(LineBatch([line]))], at: start)
        _ = core.step([], at: start + 3_000_000_000) // `high` fires, grouped after 1 s
        let out = core.step([.command(.syncSilences(list))], at: start + 4_000_000_000)
        precondition(out.replies.count == 1, "the sync gave no answer")
        precondition(core.router.silenceCount <= Core.maxSilences, "the silence limit did not hold")
        core.stepDeadlines(through: start + 120_000_000_000, atMost: 10_000)
        // The same list again changes nothing (or only what ended meanwhile).
        _ = core.step([.command(.syncSilences(list))], at: start + 120_000_000_000)
        _ = core.step([.command(.syncSilences([]))], at: start + 130_000_000_000)
        precondition(core.router.activeSilences.allSatisfy { !$0.id.hasPrefix("am:") }, "a silence the cluster no longer lists is still held")
    }
}

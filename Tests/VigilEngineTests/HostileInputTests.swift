import Foundation
import Testing
@testable import VigilEngine
@testable import VigilRules

/// An engine as `run` drives it: the caller's clock is the clock (`maxClockSkew` set), lines
/// arrive at `now` whatever they are stamped.
private final class LiveRig {
    let engine: Engine
    var now: Instant

    init(_ rules: String, start: Instant = Instant(nanoseconds: 1_800_000_000 * second), tune: (inout EngineConfig) -> Void = { _ in }) {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: rules)])
        precondition(lint.errorCount == 0, "\(lint.diagnostics.map(DiagnosticRenderer.text))")
        var config = EngineConfig.live(config: nil)
        tune(&config)
        now = start
        engine = Engine(rules: lint, config: config, start: start)
    }

    /// Moves the wall clock by `seconds` and runs what came due.
    func wait(_ seconds: Double) {
        now = now + Int64((seconds * 1e9).rounded())
        engine.advance(through: now)
    }

    /// A line arriving now, stamped `ahead` seconds from now (nil: no stamp).
    @discardableResult
    func send(_ json: String, stampedAhead ahead: Double? = nil) -> RejectReason? {
        engine.advance(before: now)
        var line = json
        if let ahead { line = "{\"timestamp_ns\":\(now.nanoseconds + Int64(ahead * 1e9))," + json.dropFirst() }
        let r = engine.ingest(line, arrival: now)
        engine.advance(through: now)
        return r
    }

    /// Transitions since the last look, as `alert{labels} state`.
    func take() -> [String] {
        defer { engine.transitions.removeAll() }
        return engine.transitions.map { t in "\(t.alert){\(t.labels.map { "\($0.name)=\($0.value)" }.joined(separator: ","))} \(t.state.rawValue)" }
    }
}

struct HostileTimeTests {
    @Test func timestampsAtTheEndOfInt64AreRejectedNotFatal() {
        // Each of these overflowed `lastTime + staleAfter` and trapped.
        let rig = Rig("metric x\nalert a { when x > 1; severity info; notify slack }")
        for line in [#"{"timestamp_ns":9223372036854775807,"metric":"x","value":5}"#,
                     #"{"timestamp_ns":9223372036854775000,"metric":"x","value":5}"#,
                     #"{"ts":"2262-04-11T23:45:00Z","metric":"x","value":5}"#,
                     #"{"timestamp":"2200-01-01T00:00:00.000000001Z","metric":"x","value":5}"#,
                     #"{"timestamp_ns":-1,"metric":"x","value":5}"#,
                     #"{"ts":"1969-12-31T23:59:59Z","metric":"x","value":5}"#] {
            #expect(rig.engine.ingest(line, arrival: Instant(nanoseconds: 0)) == .badTimestamp, "\(line)")
        }
        #expect(rig.engine.rejected[.badTimestamp] == 6)
        // The last accepted instant still leaves room for every deadline after it.
        #expect(rig.engine.ingest(#"{"ts":"2200-01-01T00:00:00Z","metric":"x","value":5}"#, arrival: Instant(nanoseconds: 0)) == nil)
        #expect(rig.engine.nextDeadline.map { $0 > Instant.latestAccepted } == true)
        rig.engine.advance(through: Instant(nanoseconds: .max))
        #expect(rig.log.map { $0.split(separator: " ").dropFirst().joined(separator: " ") } == ["a{} firing 5.0", "a{} resolved 5.0"])
    }

    @Test func instantArithmeticSaturatesInsteadOfTrapping() {
        #expect(Instant(nanoseconds: .max) + 1 == Instant(nanoseconds: .max))
        #expect(Instant(nanoseconds: .min) + -1 == Instant(nanoseconds: .min))
        #expect(Instant(nanoseconds: .max) - Instant(nanoseconds: -5) == .max)
        #expect(Instant(nanoseconds: .min) - Instant(nanoseconds: 5) == .min)
        #expect(Int64.max.multipliedSaturated(by: 2) == .max)
        #expect(Int64.max.multipliedSaturated(by: -2) == .min)
    }

    @Test func inRunAFutureStampedLineNeitherResolvesNorBlindsAnything() {
        let rig = LiveRig("metric x labels k\nalert a { when x > 1; severity warning; notify slack }")
        rig.send(#"{"metric":"x","labels":{"k":"a"},"value":5}"#)
        #expect(rig.take() == ["a{k=a} firing"])
        // One line for another series, ten minutes (an hour, a day, 2030) ahead.
        for ahead in [600.0, 3600, 86_400, 130_000_000] {
            #expect(rig.send(#"{"metric":"x","labels":{"k":"b"},"value":0}"#, stampedAhead: ahead) == .futureTimestamp)
        }
        #expect(rig.engine.now == rig.now, "no stream timestamp moves the clock")
        rig.wait(1)
        #expect(rig.take() == [], "a is still high: it must not resolve")
        // A new series over its threshold still fires, at once.
        #expect(rig.send(#"{"metric":"x","labels":{"k":"c"},"value":5}"#) == nil)
        #expect(rig.take() == ["a{k=c} firing"])
        #expect(rig.engine.rejected[.futureTimestamp] == 4)
    }

    @Test func aLineStampedThreeMinutesAheadDoesNotShortenAFor() {
        let rig = LiveRig("metric x\nalert a { when x > 1 for 2min; severity warning; notify slack }")
        rig.send(#"{"metric":"x","value":5}"#)
        #expect(rig.take() == ["a{} pending"])
        #expect(rig.send(#"{"metric":"x","value":5}"#, stampedAhead: 180) == .futureTimestamp)
        rig.wait(2)
        #expect(rig.take() == [], "2 s of real time is not 2 minutes")
        rig.wait(118)
        #expect(rig.take() == ["a{} firing"])
    }

    @Test func aLineAheadByLessThanTheSkewArrivesNow() {
        let rig = LiveRig("metric x\nalert a { when x > 1 for 10s; severity warning; notify slack }")
        #expect(EngineConfig.live(config: nil).maxClockSkew == 5 * second)
        #expect(rig.send(#"{"metric":"x","value":5}"#, stampedAhead: 4.9) == nil)
        #expect(rig.engine.now == rig.now)
        #expect(rig.take() == ["a{} pending"])
        rig.wait(9.9)
        #expect(rig.take() == [])
        rig.wait(0.1)
        #expect(rig.take() == ["a{} firing"])
    }

    @Test func theConfigSetsTheSkew() {
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: "max_clock_skew 500ms\nmax_series_total 2000\n", kind: .config))
        let c = EngineConfig.live(config: file)
        #expect(c.maxClockSkew == 500_000_000)
        #expect(c.seriesTotalCap == 2000)
        #expect(EngineConfig(config: file).maxClockSkew == nil, "replay and test keep the stream's clock")
    }

    @Test func aSampleOlderThanItsSeriesLastIsDroppedAsOutOfOrder() {
        let rig = Rig("metric x\nalert a { when x > 1; severity info; notify slack }")
        rig.metric(10, "x", 0)
        rig.metric(5, "x", 9) // older: dropped, so the alert does not fire on it
        rig.metric(10, "x", 0) // same instant: taken
        #expect(rig.engine.rejected[.outOfOrder] == 1)
        #expect(rig.log == [])
        #expect(rig.engine.samplesApplied == 2)
    }

    @Test func replayKeepsTheStreamsClock() {
        let rig = Rig("metric x\nalert a { when x > 1 for 2min; severity warning; notify slack }")
        rig.metric(0, "x", 5)
        rig.metric(180, "x", 5) // three minutes later by the stream: the for has passed
        #expect(rig.log == ["0s a{} pending 5.0", "120s a{} firing 5.0"])
    }
}

struct CardinalityTests {
    private static let rules = "metric x labels k\nalert a { when x > 1; severity info; notify slack }"

    private static func engine(cap: Int = 100, total: Int = 1_000) -> Engine {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: rules)])
        var config = EngineConfig()
        config.seriesCap = cap
        config.seriesTotalCap = total
        return Engine(rules: lint, config: config, start: Instant(nanoseconds: 0))
    }

    private static func sizes(_ s: Symbols) -> [Int] { [s.names.count, s.strings.count, s.labelSets.count, s.seriesCount] }

    @Test func aRejectedLineInternsNothing() {
        let e = Self.engine()
        let before = Self.sizes(e.symbols)
        for line in [#"{"metric":"fresh_a","labels":{"new_name":"new_value"},"value":"NaN"}"#,
                     #"{"metric":"fresh_b","labels":{"n1":"v1","n1":"v2"},"value":1}"#,
                     #"{"metric":"fresh_c","labels":{"n2":"v2"},"value":1,"timestamp_ns":-5}"#,
                     #"{"metrics":{"fresh_d":1,"fresh_e":"x"},"labels":{"n3":"v3"}}"#,
                     #"{"service":"fresh_f","status":"sideways","details":{"c":true}}"#] {
            #expect(e.ingest(line, arrival: Instant(nanoseconds: 0)) != nil, "\(line)")
        }
        #expect(Self.sizes(e.symbols) == before)
    }

    @Test func uniqueLabelValuesPastThePerMetricCapInternNothing() {
        let e = Self.engine(cap: 100)
        for i in 0..<100 { e.ingest(#"{"metric":"x","labels":{"k":"v\#(i)"},"value":0}"#, arrival: Instant(nanoseconds: 0)) }
        let full = Self.sizes(e.symbols)
        for i in 100..<5_000 {
            #expect(e.ingest(#"{"metric":"x","labels":{"k":"v\#(i)"},"value":0}"#, arrival: Instant(nanoseconds: 0)) == .seriesCap)
        }
        #expect(Self.sizes(e.symbols) == full)
        #expect(e.rejected[.seriesCap] == 4_900)
        // The series it has still evaluate.
        #expect(e.ingest(#"{"metric":"x","labels":{"k":"v7"},"value":5}"#, arrival: Instant(nanoseconds: 1)) == nil)
        #expect(e.transitions.map(\.state) == [.firing])
    }

    @Test func uniqueLabelNamesAndMetricNamesStopAtTheGlobalCap() {
        let e = Self.engine(cap: 10_000, total: 1_000)
        for i in 0..<3_000 { e.ingest(#"{"metric":"m\#(i)","labels":{"l\#(i)":"v"},"value":0}"#, arrival: Instant(nanoseconds: 0)) }
        #expect(e.symbols.seriesCount == 1_000)
        let full = Self.sizes(e.symbols)
        for i in 3_000..<6_000 { e.ingest(#"{"metric":"m\#(i)","labels":{"l\#(i)":"v\#(i)"},"value":0}"#, arrival: Instant(nanoseconds: 0)) }
        for i in 6_000..<9_000 { e.ingest(#"{"metric":"x","labels":{"l\#(i)":"v"},"value":0}"#, arrival: Instant(nanoseconds: 0)) }
        #expect(Self.sizes(e.symbols) == full)
        #expect(e.rejected[.seriesCap] == 8_000)
    }

    @Test func aCappedFieldOfAGoodLineLeavesNoName() {
        let e = Self.engine(cap: 10_000, total: 2)
        #expect(e.ingest(#"{"metrics":{"x":1,"y":2},"labels":{}}"#, arrival: Instant(nanoseconds: 0)) == nil)
        let full = Self.sizes(e.symbols)
        // x exists; z is new and over the cap: the line counts, z leaves nothing.
        #expect(e.ingest(#"{"metrics":{"x":1,"z":2},"labels":{}}"#, arrival: Instant(nanoseconds: 1)) == nil)
        #expect(e.ingest(#"{"service":"svc","status":"healthy","details":{"fresh_check":true}}"#, arrival: Instant(nanoseconds: 2)) == .seriesCap)
        #expect(Self.sizes(e.symbols) == full)
        #expect(e.symbols.metricID("z") == nil)
    }

    @Test func truncatedInternersFindWhatTheyKept() {
        var interner = ByteInterner(capacity: 4)
        let kept = (0..<50).map { interner.intern("kept\($0)") }
        let mark = interner.count
        for i in 0..<500 { _ = interner.intern("gone\(i)") } // grows the table past its first size
        interner.truncate(to: mark)
        #expect(interner.count == 50)
        #expect((0..<50).map { interner.lookup("kept\($0)") } == kept)
        #expect((0..<500).allSatisfy { interner.lookup("gone\($0)") == nil })
        #expect(interner.intern("gone3") == 50)
        #expect(interner.string(50) == "gone3")
    }
}

struct SeriesCacheTests {
    private static func bytes<R>(_ a: String, _ b: String, _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> R) -> R {
        var a = a, b = b
        return a.withUTF8 { x in b.withUTF8 { y in body(UnsafeRawBufferPointer(x), UnsafeRawBufferPointer(y)) } }
    }

    @Test func spellingsAreFoundAfterTheTableGrowsAndApartWhereTheMetricEnds() {
        var cache = SeriesCache(capacity: 4)
        for i in 0..<3000 {
            #expect(Self.bytes("metric_\(i % 50)", "{\"market\":\"mk\(i)\",\"venue\":\"kalshi\"}") { cache.insert(metric: $0, labels: $1, series: SeriesID(i)) })
        }
        #expect(cache.count == 3000)
        #expect((0..<3000).allSatisfy { i in Self.bytes("metric_\(i % 50)", "{\"market\":\"mk\(i)\",\"venue\":\"kalshi\"}") { cache.lookup(metric: $0, labels: $1) } == SeriesID(i) })
        // The same bytes split elsewhere, one byte more or less, and a first insert kept.
        #expect(Self.bytes("metric_1{", "\"market\":\"mk1\",\"venue\":\"kalshi\"}") { cache.lookup(metric: $0, labels: $1) } == nil)
        #expect(Self.bytes("metric_1", "{\"market\":\"mk1\",\"venue\":\"kalshi\"} ") { cache.lookup(metric: $0, labels: $1) } == nil)
        #expect(Self.bytes("metric_1", "{\"market\":\"mk1\",\"venue\":\"kalsh\"}") { cache.lookup(metric: $0, labels: $1) } == nil)
        #expect(Self.bytes("m", "") { cache.insert(metric: $0, labels: $1, series: 7) })
        #expect(Self.bytes("m", "") { cache.insert(metric: $0, labels: $1, series: 8) })
        #expect(Self.bytes("m", "") { cache.lookup(metric: $0, labels: $1) } == 7)
        #expect(cache.count == 3001)
    }

    /// Lookups guess the entry that followed the last one the time before: in the order the
    /// spellings came (every guess right), in another order (every guess wrong), with repeats
    /// and unknown spellings between them, each lookup still gives its own series or nil.
    @Test func theGuessedNextSpellingNeverAnswersForAnother() {
        var cache = SeriesCache(capacity: 4)
        let labels = (0..<200).map { "{\"market\":\"mk\($0)\"}" }
        for (i, l) in labels.enumerated() { #expect(Self.bytes("m", l) { cache.insert(metric: $0, labels: $1, series: SeriesID(i)) }) }
        var rng = SystemRandomNumberGeneratorSeeded(seed: 21)
        let inOrder = Array(0..<200) + Array(0..<200)
        let shuffled = (0..<600).map { _ in Int(rng.next() % 200) }
        let repeats = (0..<200).flatMap { [$0, $0, ($0 + 7) % 200] }
        for k in inOrder + shuffled + repeats + inOrder {
            #expect(Self.bytes("m", labels[k]) { cache.lookup(metric: $0, labels: $1) } == SeriesID(k))
            // The spelling the guess would name after this one, off by a byte, is not it.
            #expect(Self.bytes("m", labels[(k + 1) % 200] + " ") { cache.lookup(metric: $0, labels: $1) } == nil)
            #expect(Self.bytes("n", labels[(k + 1) % 200]) { cache.lookup(metric: $0, labels: $1) } == nil)
        }
        #expect(cache.count == 200)
    }
}

struct FutureLinesLeaveNoTraceTests {
    @Test func aFutureLineForANewSeriesInternsNothing() {
        let lint = Linter.lint(ruleFiles: [SourceFile(path: "t.rules", text: "metric x labels k\nalert a { when x > 1; severity info; notify slack }")])
        let e = Engine(rules: lint, config: .live(config: nil), start: Instant(nanoseconds: 1_000 * second))
        let before = [e.symbols.names.count, e.symbols.strings.count, e.symbols.labelSets.count, e.symbols.seriesCount]
        for i in 0..<100 {
            #expect(e.ingest(#"{"timestamp_ns":\#(2_000 * second),"metric":"x\#(i)","labels":{"k":"v\#(i)"},"value":5}"#, arrival: Instant(nanoseconds: 1_000 * second)) == .futureTimestamp)
        }
        #expect([e.symbols.names.count, e.symbols.strings.count, e.symbols.labelSets.count, e.symbols.seriesCount] == before)
    }
}

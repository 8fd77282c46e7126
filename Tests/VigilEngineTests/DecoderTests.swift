import Foundation
import Testing
@testable import VigilEngine

/// Decodes lines and renders what came out as `name{labels}=value@time`, or the reject reason.
struct Harness {
    let symbols = Symbols(seriesCap: 100)
    var decoder = LineDecoder(maxLine: 1 << 20)
    let arrival = Instant(nanoseconds: 1_000)

    mutating func decode(_ line: String) -> [String] {
        var out: [Sample] = []
        var capped = 0
        if let reason = decoder.decode(line, arrival: arrival, symbols: symbols, into: &out, capped: &capped) {
            return ["reject:\(reason.rawValue)"]
        }
        return out.map { s in
            let metric = symbols.seriesMetric[Int(s.series)]
            let labels = symbols.labels(symbols.seriesLabels[Int(s.series)]).map { "\($0.name)=\($0.value)" }.joined(separator: ",")
            let value = symbols.metricKind[Int(metric)] == .string ? symbols.string(Int32(s.value)) : "\(s.value)"
            return "\(symbols.metricName(metric)){\(labels)}=\(value)@\(s.time.nanoseconds)"
        } + (capped > 0 ? ["capped:\(capped)"] : [])
    }
}

struct DecoderTests {
    /// The fast path takes a line the second time its spelling is seen (the first fills the
    /// series cache): both times must decode the same, for every shape it takes or declines.
    @Test(arguments: [
        (#"{"ts":"2025-01-15T14:23:45.5Z","metric":"m","labels":{"venue":"kalshi"},"value":12.25}"#, "m{venue=kalshi}=12.25@1736951025500000000"),
        (#" { "value" : -0.5 , "labels" : { "a" : "}" } , "metric" : "m" , "timestamp_ns" : 1736949600000000000 } "#, "m{a=}}=-0.5@1736949600000000000"),
        (#"{"metric":"m","value":3,"labels":{"a":"b\"c"}}"#, #"m{a=b"c}=3.0@1000"#),
        (#"{"metric":"m","value":3,"labels":{"a":"é"}}"#, "m{a=é}=3.0@1000"),
        (#"{"metric":"m","value":1e3}"#, "m{}=1000.0@1000"),
        (#"{"metric":"m","value":true,"ts":"2025-01-15T14:23:45+01:00"}"#, "m{}=1.0@1736947425000000000"),
        (#"{"metric":"m","value":1234567890123456789}"#, "m{}=1.2345678901234568e+18@1000"),
        (#"{"metric":"m","value":01}"#, "reject:not_json"),
        (#"{"metric":"m","value":1,"value":2}"#, "reject:bad_value"),
        (#"{"metric":"m","value":1,"labels":{"a":{"b":"c"}}}"#, "m{a.b=c}=1.0@1000"),
        (#"{"metric":"m","value":1,"ts":"2025-02-30T00:00:00Z"}"#, "reject:bad_timestamp"),
        (#"{"metric":"m","value":1,"labels":{"a":"b"}} x"#, "reject:not_json"),
        (#"{"metric":"m","value":1,"ts":"2025-01-15T14:23:45Z","timestamp":"2025-01-15T14:23:46Z"}"#, "m{}=1.0@1736951025000000000"),
        (#"{"ts":"2025-01-15T14:23:45.123456+02:00","metric":"m","value":1}"#, "m{}=1.0@1736943825123456000"),
        (#"{"ts":"2025-01-15T14:23:45.123456789-00:30","metric":"m","value":1}"#, "m{}=1.0@1736952825123456789"),
        (#"{"ts":"2025-01-15T14:23:45Z ","metric":"m","value":1}"#, "reject:bad_timestamp"),
        (#"{"ts":"2025-01-15T14:23:45.1234567891Z","metric":"m","value":1}"#, "reject:bad_timestamp"),
        (#"{"ts":"2025-01-15T14:23:45+02:00x","metric":"m","value":1}"#, "reject:bad_timestamp"),
        (#"{"ts":"2025-01-15T14:23:45.Z","metric":"m","value":1}"#, "reject:bad_timestamp"),
    ])
    func fastPathDecodesAsTheGeneralPath(line: String, expected: String) {
        var h = Harness()
        let first = h.decode(line)
        #expect(first == [expected])
        #expect(h.decode(line) == first)
    }

    /// The fast path hashes a labels object from the words it loads to find its end; that
    /// must equal the series cache's hash of the same bytes (computed by the general path when
    /// it cached the spelling) wherever the closing brace falls in a word, and with the line
    /// ending within the last word. Otherwise every line misses and takes the general path.
    @Test func theFastPathHitsForEveryLabelsLength() {
        var h = Harness()
        for n in 0...24 {
            for last in [false, true] {
                let value = String(repeating: "v", count: n)
                let line = last ? #"{"metric":"m","value":2,"labels":{"k":"\#(value)"}}"# : #"{"metric":"m","labels":{"k":"\#(value)"},"value":2}"#
                #expect(h.decode(line) == ["m{k=\(value)}=2.0@1000"])
                let hit = line.utf8.withContiguousStorageIfAvailable { h.decoder.knownMetricLine(UnsafeRawBufferPointer($0), arrival: h.arrival) } ?? nil
                #expect(hit != nil, "\(line)")
            }
        }
    }

    /// Every length of a value's integer and fraction parts, signed or not, last in the line or
    /// not: the fast path gives the number the general path gives, and takes every line of at
    /// most 15 digits (more go to the general path, which rounds them).
    @Test func theFastPathReadsEveryValueLengthAsTheGeneralPath() {
        var h = Harness()
        var rng = SystemRandomNumberGeneratorSeeded(seed: 5)
        func digits(_ n: Int, leading: Bool) -> String {
            String((0..<n).map { k in Character(String(k == 0 && leading ? 1 + rng.next() % 9 : rng.next() % 10)) })
        }
        var hits = 0
        for whole in 0...17 {
            for fraction in [-1, 0, 1, 2, 5, 7, 8, 9, 12] {
                for (sign, last) in [("", false), ("-", true), ("", true), ("-", false)] {
                    let w = whole == 0 ? "0" : digits(whole, leading: true)
                    let number = sign + w + (fraction < 0 ? "" : "." + digits(fraction, leading: false))
                    let line = last ? #"{"metric":"m","labels":{"k":"v"},"value":\#(number)}"# : #"{"metric":"m","value":\#(number),"labels":{"k":"v"}}"#
                    let first = h.decode(line) // the general path: the spelling is new to the cache
                    let valid = fraction != 0, short = whole + max(fraction, 0) <= 15 // exact: both paths, and Double(String)
                    if !valid {
                        #expect(first == ["reject:not_json"], "\(line)")
                    } else if short {
                        #expect(first == ["m{k=v}=\(Double(number)!)@1000"], "\(line)")
                    } else {
                        #expect(first.count == 1 && first[0].hasPrefix("m{k=v}="), "\(line)")
                    }
                    let hit = line.utf8.withContiguousStorageIfAvailable { h.decoder.knownMetricLine(UnsafeRawBufferPointer($0), arrival: h.arrival) } ?? nil
                    #expect(hit?.value == (valid && short ? Double(number)! : nil), "\(line)")
                    if hit != nil { hits += 1 }
                    #expect(h.decode(line) == first, "\(line) again")
                }
            }
        }
        #expect(hits > 300)
    }

    /// A stream's stamps share their minute: the remembered one must not leak into the next.
    @Test func rememberedMinuteChangesWithTheStamp() {
        var h = Harness()
        let line = { (ts: String) in #"{"ts":"\#(ts)","metric":"m","value":1}"# }
        #expect(h.decode(line("2025-01-15T14:23:59.999Z")) == ["m{}=1.0@1736951039999000000"])
        #expect(h.decode(line("2025-01-15T14:24:00Z")) == ["m{}=1.0@1736951040000000000"])
        #expect(h.decode(line("2025-01-15T14:24:01-00:30")) == ["m{}=1.0@1736952841000000000"])
        #expect(h.decode(line("2025-01-15T14:24:61Z")) == ["reject:bad_timestamp"])
        #expect(h.decode(line("2025-01-15T14:24:60Z")) == ["m{}=1.0@1736951099000000000"])
    }

    @Test func metricLine() {
        var h = Harness()
        #expect(h.decode(#"{"ts":"2025-01-15T14:23:45.123456Z","metric":"feed_latency_p95","labels":{"venue":"kalshi"},"value":1234}"#)
                == ["feed_latency_p95{venue=kalshi}=1234.0@1736951025123456000"])
        // Keys in any order, `timestamp` and `timestamp_ns`, no timestamp (arrival time).
        #expect(h.decode(#"{"value":-1.5e2,"labels":{"venue":"poly"},"metric":"feed_latency_p95","timestamp":"2025-01-15T14:23:45Z"}"#)
                == ["feed_latency_p95{venue=poly}=-150.0@1736951025000000000"])
        #expect(h.decode(#"{"timestamp_ns":1736951025123456789,"metric":"x","value":0.7}"#) == ["x{}=0.7@1736951025123456789"])
        #expect(h.decode(#"{"metric":"x","value":1}"#) == ["x{}=1.0@1000"])
    }

    @Test func metricsBatch() {
        var h = Harness()
        #expect(h.decode(#"{"ts":"2025-01-15T14:23:45Z","metrics":{"daily_pnl":1600,"position_utilization":0.85},"labels":{}}"#)
                == ["daily_pnl{}=1600.0@1736951025000000000", "position_utilization{}=0.85@1736951025000000000"])
    }

    @Test func healthWithDetails() {
        var h = Harness()
        #expect(h.decode(#"{"ts":"2025-01-15T14:23:45Z","service":"kalshi_adapter","status":"down","details":{"websocket_connected":false,"recent_data":true,"note":"x"},"dependencies":["redis"]}"#)
                == ["service_status{service=kalshi_adapter}=down@1736951025000000000",
                    "health_check{check=websocket_connected,service=kalshi_adapter}=0.0@1736951025000000000",
                    "health_check{check=recent_data,service=kalshi_adapter}=1.0@1736951025000000000"])
        #expect(h.decode(#"{"service":"x","status":"sleepy"}"#) == ["reject:bad_value"])
    }

    @Test func eventsTurnFieldsIntoSeriesAndLabels() {
        var h = Harness()
        #expect(h.decode(#"{"ts":"2025-01-15T14:23:45Z","service":"risk_manager","event":"daily_turnover_check","used":18500,"limit":25000}"#)
                == ["daily_turnover_check{service=risk_manager}=1.0@1736951025000000000",
                    "daily_turnover_check.used{service=risk_manager}=18500.0@1736951025000000000",
                    "daily_turnover_check.limit{service=risk_manager}=25000.0@1736951025000000000"])
        #expect(h.decode(#"{"service":"order_router","event":"order_filled","venue":"kalshi","fill_qty":200,"message":"m","trace_id":"t","success":true,"data":{"edge_cents":320,"pair":{"id":"p1"}}}"#)
                == ["order_filled{pair.id=p1,service=order_router,venue=kalshi}=1.0@1000",
                    "order_filled.fill_qty{pair.id=p1,service=order_router,venue=kalshi}=200.0@1000",
                    "order_filled.success{pair.id=p1,service=order_router,venue=kalshi}=1.0@1000",
                    "order_filled.edge_cents{pair.id=p1,service=order_router,venue=kalshi}=320.0@1000"])
    }

    @Test func seedStructuredLogLineIsTheLogEvent() {
        var h = Harness()
        let line = #"{"timestamp":"2025-01-15T14:23:45.123456Z","level":"INFO","service":"order_router","trace_id":"abc123def456","message":"Paired order executed successfully","data":{"pair_id":"fed_rate_mar_25","edge_cents":320,"quantity":500},"tags":["arbitrage","execution"]}"#
        #expect(h.decode(line) == ["log{level=INFO,pair_id=fed_rate_mar_25,service=order_router}=1.0@1736951025123456000",
                                   "log.edge_cents{level=INFO,pair_id=fed_rate_mar_25,service=order_router}=320.0@1736951025123456000",
                                   "log.quantity{level=INFO,pair_id=fed_rate_mar_25,service=order_router}=500.0@1736951025123456000"])
    }

    @Test func escapedStringsDecode() {
        var h = Harness()
        #expect(h.decode(#"{"metric":"x","labels":{"venue":"kal\"shi\u00e9\ud83d\ude00\n"},"value":1}"#) == ["x{venue=kal\"shié😀\n}=1.0@1000"])
    }

    @Test(arguments: [
        ("not json", "not_json"), ("", "not_json"), ("{", "not_json"), (#"{"metric":"x","value":1"#, "not_json"),
        (#"{"metric":"x","value":NaN}"#, "not_json"), (#"{"metric":"x","value":1e999}"#, "bad_value"),
        (#"{"metric":"x","value":"12"}"#, "bad_value"), (#"{"metric":5,"value":1}"#, "unknown_shape"),
        (#"{"metric":"x"}"#, "unknown_shape"), (#"{"hello":"world"}"#, "unknown_shape"), ("[1,2]", "not_json"),
        (#"{"metric":"x","value":1,"value":2}"#, "bad_value"), (#"{"metric":"x","labels":{"a":1},"value":1}"#, "bad_value"),
        (#"{"metric":"x","labels":{"a":"1","a":"2"},"value":1}"#, "bad_value"),
        (#"{"ts":"yesterday","metric":"x","value":1}"#, "bad_timestamp"), (#"{"ts":"2025-02-30T00:00:00Z","metric":"x","value":1}"#, "bad_timestamp"),
        (#"{"timestamp_ns":1.5,"metric":"x","value":1}"#, "bad_timestamp"), (#"{"metric":"x","value":01}"#, "not_json"),
        (#"{"metric":"x","value":1} trailing"#, "not_json"), (#"{"metric":"x\u0001","value":1}"#, "bad_value"), (#"{"metric":"1x","value":1}"#, "bad_value"),
        (#"{"metric":"x","labels":{"a b":"1"},"value":1}"#, "bad_value"), (#"{"metric":"x","labels":"venue","value":1}"#, "bad_value"),
        (#"{"metric":"x","labels":{"v":"1"}},"value":1}"#, "not_json"), (#"{"metric":"x","labels":{"v":"1\"},"value":1}"#, "not_json"),
        (#"{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}},"metric":"x","value":1}"#, "not_json"),
        (#"{"metrics":{"a":1,"b":"x"}}"#, "bad_value"), (#"{"metric":"","value":1}"#, "bad_value"),
        (#"{"metric":"x","value":1,"s":"\ud800"}"#, "not_json"),
    ])
    func hostileLinesAreRejectedWithTheirReason(_ line: String, _ reason: String) {
        var h = Harness()
        #expect(h.decode(line) == ["reject:\(reason)"])
    }

    @Test func invalidUTF8AndHugeLinesAreRejectedAndGoodLinesAroundThemApply() {
        var h = Harness()
        var bad: [UInt8] = Array(#"{"metric":"x","labels":{"v":""#.utf8) + [0xC3, 0x28] + Array(#""},"value":1}"#.utf8)
        var out: [Sample] = []
        var capped = 0
        let r1 = bad.withUnsafeMutableBytes { h.decoder.decode(UnsafeRawBufferPointer($0), arrival: h.arrival, symbols: h.symbols, into: &out, capped: &capped) }
        #expect(r1 == .notJSON)
        let huge = #"{"metric":"x","labels":{"v":""# + String(repeating: "a", count: 10_000_000) + #""},"value":1}"#
        #expect(h.decode(huge) == ["reject:too_long"])
        #expect(h.decode(#"{"metric":"x","value":2}"#) == ["x{}=2.0@1000"])
        bad = []
    }

    @Test func kindsAreFixedByFirstUse() {
        var h = Harness()
        #expect(h.decode(#"{"event":"spec_changed","service":"s"}"#) == ["spec_changed{service=s}=1.0@1000"])
        #expect(h.decode(#"{"metric":"spec_changed","value":3}"#) == ["reject:bad_value"])
    }

    @Test func seriesOverTheCapAreDroppedAndCounted() {
        var h = Harness()
        for i in 0..<100 { _ = h.decode(#"{"metric":"x","labels":{"i":"\#(i)"},"value":1}"#) }
        #expect(h.decode(#"{"metric":"x","labels":{"i":"new"},"value":1}"#) == ["capped:1"])
        #expect(h.decode(#"{"metric":"x","labels":{"i":"7"},"value":5}"#) == ["x{i=7}=5.0@1000"])
    }

    /// Random byte corruption of valid lines never crashes, and every line is either decoded or rejected.
    @Test func fuzzedLinesNeverCrash() async {
        var h = Harness()
        var rng = SystemRandomNumberGeneratorSeeded(seed: 7)
        let seeds = [#"{"ts":"2025-01-15T14:23:45.123Z","metric":"m","labels":{"venue":"k"},"value":12.5}"#,
                     #"{"service":"a","event":"e","x":1,"data":{"y":"z"}}"#,
                     #"{"service":"a","status":"down","details":{"c":true}}"#]
        for n in 0..<20_000 {
            if n % 1_000 == 0 { await Task.yield() } // long and CPU-bound: let other tests' tasks run
            var bytes = Array(seeds[n % seeds.count].utf8)
            for _ in 0...(rng.next() % 3) {
                let at = Int(rng.next() % UInt64(bytes.count))
                switch rng.next() % 3 {
                case 0: bytes[at] = UInt8(truncatingIfNeeded: rng.next())
                case 1: bytes.remove(at: at)
                default:
                    let alphabet = Array("{}[]\",:\\0e-".utf8)
                    bytes.insert(alphabet[Int(rng.next() % UInt64(alphabet.count))], at: at)
                }
                if bytes.isEmpty { bytes = [0x7B] }
            }
            var out: [Sample] = []
            var capped = 0
            _ = bytes.withUnsafeBytes { h.decoder.decode($0, arrival: h.arrival, symbols: h.symbols, into: &out, capped: &capped) }
        }
    }
}

/// SplitMix64 under another name, local to the tests.
struct SystemRandomNumberGeneratorSeeded {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

struct TimeTests {
    @Test func rfc3339RoundTripsAndRejects() {
        #expect(Instant.parseRFC3339("1970-01-01T00:00:00Z")?.nanoseconds == 0)
        #expect(Instant.parseRFC3339("2025-01-15T14:23:45.123456789Z")?.nanoseconds == 1_736_951_025_123_456_789)
        #expect(Instant.parseRFC3339("2025-01-15T16:23:45+02:00")?.nanoseconds == 1_736_951_025_000_000_000)
        #expect(Instant.parseRFC3339("2024-02-29T00:00:00Z") != nil)
        #expect(Instant.parseRFC3339("2023-02-29T00:00:00Z") == nil)
        #expect(Instant.parseRFC3339("2025-01-15T14:23:45.1234567891Z") == nil)
        #expect(Instant.parseRFC3339("2025-01-15T14:23:45") == nil)
        #expect(Instant.parseRFC3339("9025-01-15T14:23:45Z") == nil) // beyond Int64 nanoseconds: rejected, not a trap
        #expect(Instant(nanoseconds: 1_736_951_025_123_456_000).rfc3339 == "2025-01-15T14:23:45.123456Z")
        #expect(Instant(nanoseconds: -1).rfc3339 == "1969-12-31T23:59:59.999999999Z")
        #expect(formatDuration(150_000_000_000) == "2m30s")
        #expect(formatDuration(250_000_000) == "250ms")
        #expect(formatDuration(1) == "1ns")
        #expect(formatDuration(1_500) == "1.5µs")
    }

    /// A fraction of every length (none, 1 to 9 digits, and too many), each way a stamp can
    /// end, alone and at the head of a line as the fast path reads it.
    @Test func fractionsOfEveryLengthAreTheirDigits() {
        var rng = SystemRandomNumberGeneratorSeeded(seed: 3)
        let second: Int64 = 1_736_951_025_000_000_000
        for count in 0...11 {
            for _ in 0..<20 {
                let digits = String((0..<count).map { _ in Character(String(rng.next() % 10)) })
                let ns = count >= 1 && count <= 9 ? Int64(digits.padding(toLength: 9, withPad: "0", startingAt: 0))! : nil
                for (local, zone) in [("14:23", "Z"), ("16:23", "+02:00"), ("13:53", "-00:30")] {
                    let stamp = "2025-01-15T\(local):45.\(digits)\(zone)"
                    #expect(Instant.parseRFC3339(stamp)?.nanoseconds == ns.map { second + $0 }, "\(stamp)")
                    var memo = RFC3339Memo()
                    var line = Array((stamp + "\",\"metric\":\"x\"}").utf8)
                    let got = line.withUnsafeMutableBytes { Instant.parseRFC3339(prefixOf: UnsafeRawBufferPointer($0), memo: &memo) }
                    #expect(got?.0.nanoseconds == ns.map { second + $0 }, "\(stamp) in a line")
                    #expect(got.map { $0.end } == (ns == nil ? nil : stamp.utf8.count), "\(stamp) in a line")
                }
            }
        }
    }

    /// One memo across stamps that share their minute, their second, neither, or break in
    /// either (a bad second after a good one of the same minute, a leap second, another zone):
    /// each reads as it does alone.
    @Test func theStampMemoNeverLeaksOneStampIntoTheNext() {
        var rng = SystemRandomNumberGeneratorSeeded(seed: 11)
        var memo = RFC3339Memo()
        let minutes = ["2025-01-15T14:23", "2025-01-15T14:24", "2024-02-29T23:59", "2025-02-29T00:00"]
        let seconds = [":00", ":07", ":59", ":60", ":61", ":7x", "x07"]
        let tails = ["Z", ".5Z", ".000100Z", "+02:00", ".25-00:30", "", ".Z", "z"]
        var checked = 0
        for _ in 0..<2000 {
            let stamp = minutes[Int(rng.next() % 4)] + seconds[Int(rng.next() % 7)] + tails[Int(rng.next() % 8)]
            let alone = Instant.parseRFC3339(stamp)
            var line = Array((stamp + "\",\"value\":1}").utf8)
            let got = line.withUnsafeMutableBytes { Instant.parseRFC3339(prefixOf: UnsafeRawBufferPointer($0), memo: &memo) }
            #expect(got?.0 == alone, "\(stamp)")
            #expect(got.map { $0.end } == alone.map { _ in stamp.utf8.count }, "\(stamp)")
            if alone != nil { checked += 1 }
        }
        #expect(checked > 500)
    }
}

import Foundation
import VigilAlerting
import VigilCLI
import VigilEngine
import VigilRules
import VigilSidecar

/// The coverage-guided fuzz harnesses, one per parser that reads bytes from outside. Each takes
/// one input and must return: a trap, a hang or an invariant broken (a `precondition` here) is
/// a finding. `vigil-fuzz HARNESS` runs one under libFuzzer; `swift test` replays the corpus
/// and every past finding (`Fuzz/`) through the same functions.
public enum Harness: String, CaseIterable, Sendable {
    /// HTTP request parsing, then API routing and bodies on a live sidecar.
    case http
    /// Stream lines through the decoder, `Engine.ingest` and `advance`, and the router, with
    /// times and values from the input, in run's clock (skew) or the stream's.
    case stream
    /// Stream lines through the decoder's general path, then through `decode` (its fast path
    /// first) on the same symbols: both must give the same reason and the same samples.
    case decode
    /// A rule or config file through the parser, checker, formatter and compiler.
    case rules
    /// A `.test` file through its parser, then its cases against the fixture rules.
    case testfile
    /// A scrape's body through the exposition parser in either format (the first byte picks),
    /// its invariants checked, then its samples through the core as one instant.
    case scrape
    /// Alertmanager's silence list (what `silences_from` and cluster mode read every 2 s)
    /// through the mirror's parser, then into a core with an alert firing: silences and the
    /// acks among them, reconciled, then the core's deadlines run.
    case silences
    /// A `--state-dir` journal: framing, CRCs, binary and JSON records, replay; and the bytes
    /// as one unframed record, which must survive being written again.
    case journal

    /// Runs one input.
    public func run(_ data: UnsafeRawBufferPointer) {
        switch self {
        case .http: HTTPHarness.run(data)
        case .stream: StreamHarness.run(data)
        case .decode: DecodeHarness.run(data)
        case .rules: RulesHarness.run(data)
        case .testfile: TestFileHarness.run(data)
        case .scrape: ScrapeHarness.run(data)
        case .silences: SilencesHarness.run(data)
        case .journal:
            let bytes = Data(data)
            let read = JournalFormat.read(bytes)
            precondition(read.validBytes <= bytes.count && read.undecodable <= read.records, "journal read: \(read)")
            JournalFormat.roundTrip(bytes)
        }
    }

    public func run(_ data: [UInt8]) { data.withUnsafeBytes { run($0) } }
}

/// Rules and config every harness runs against: windows, `for`, events, strings, escalation,
/// repeat, grouping, inhibition, time-based conditions. The time-based alerts do not repeat: in
/// the stream's clock an input can jump 200 years, and hourly repeats of an alert that holds
/// through that gap are 1.7 million real notifications (what a replay of it should print).
enum Fixture {
    static let rules = """
    metric lat unit ms labels venue
    metric fill unit ratio
    event spec_changed
    const limit = 100
    alert high { when lat > 2000ms for 2s; severity warning; notify slack; escalate after 5s to pager; repeat every 7s; group by venue wait 1s }
    alert p95 { when p95(lat over 10s) > 1500ms; severity info; notify email }
    alert fills { when fill < 0.7 over 30s; severity warning; notify slack; resolve after 3s }
    alert down { when service_status == 'down' for > 1s; severity critical; notify pager, slack; escalate immediate }
    alert check { when health_check == 0; severity warning; notify slack }
    alert changed { when spec_changed; severity info; notify slack }
    alert used { when daily_turnover_check.used > daily_turnover_check.limit * 0.9; severity warning; notify slack }
    alert stale { when time_since_last_update > 5s; severity critical; notify pager; repeat never }
    alert missing { when absent(lat) or age(fill) > 20s; severity info; notify email }
    alert rate_up { when rate(lat over 5s) > limit or changes(fill over 5s) > 3; severity info; notify slack }
    inhibit stale when down
    """

    static let lint: LintResult = Linter.lint(ruleFiles: [SourceFile(path: "fuzz.rules", text: rules)])
    static let config = AlertingConfig.defaults

    static let check: Void = {
        precondition(lint.errorCount == 0, "the fuzz fixture rules do not lint: \(lint.diagnostics.map(DiagnosticRenderer.text))")
    }()
}

/// A log that keeps nothing (a harness runs millions of inputs).
struct NullLog: LogSink {
    func write(_ record: LogRecord) {}
}

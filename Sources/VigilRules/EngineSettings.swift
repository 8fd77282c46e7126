/// The engine's settings in a config file (SPEC §2, §4): `stale_after`, `max_series` and
/// `max_line`, read from a linted file; nil where the file does not set one (or sets it to
/// something lint rejects). `EngineConfig` applies them; lint reads `staleAfter` too.
public struct EngineSettings: Sendable, Equatable {
    public var staleAfter: Int64?
    public var maxSeries: Int?
    public var maxSeriesTotal: Int?
    public var maxLine: Int?
    public var maxClockSkew: Int64?

    /// `stale_after` when the config leaves it out: 5 minutes.
    public static let defaultStaleAfter: Int64 = 300_000_000_000
    /// `max_series_total` when the config leaves it out: series of all metrics together.
    public static let defaultMaxSeriesTotal = 100_000
    /// `max_clock_skew` when the config leaves it out: 5 s. The trader runs on the same host, so
    /// its clock is vigil's; a line from further ahead is a bug or an attack, not skew.
    public static let defaultMaxClockSkew: Int64 = 5_000_000_000

    public init(config: RuleFile?) {
        for case .setting(let s) in config?.statements ?? [] {
            guard case .number(let n)? = s.value else { continue }
            switch s.key.name {
            case "stale_after":
                if let ns = n.quantity.nanoseconds, ns > 0 { staleAfter = ns }
            case "max_series":
                if n.quantity.unit == nil, n.quantity.value >= 1, n.quantity.value < Double(Int32.max) { maxSeries = Int(n.quantity.value) }
            case "max_series_total":
                if n.quantity.unit == nil, n.quantity.value >= 1, n.quantity.value < Double(Int32.max) { maxSeriesTotal = Int(n.quantity.value) }
            case "max_clock_skew":
                if let ns = n.quantity.nanoseconds, ns >= 0 { maxClockSkew = ns }
            case "max_line":
                let bytes = n.quantity.value(in: .bytes)
                if n.quantity.unit == nil || n.quantity.unit?.dimension == .bytes, bytes >= 1, bytes < Double(Int32.max) { maxLine = Int(bytes) }
            default:
                break
            }
        }
    }
}

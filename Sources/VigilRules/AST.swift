/// A name as written, with where it is.
public struct Identifier: Sendable, Hashable {
    public let name: String
    public let range: SourceRange

    public init(_ name: String, _ range: SourceRange) {
        self.name = name
        self.range = range
    }
}

/// A string literal: its decoded value and its spelling (quotes and escapes), which `fmt` keeps.
public struct StringLiteral: Sendable, Hashable {
    public let value: String
    public let spelling: String
    public let range: SourceRange
}

/// A number literal with its unit and spelling (`50_000`, `1h30m`), which `fmt` keeps.
public struct NumberLiteral: Sendable, Hashable {
    public let quantity: Quantity
    public let spelling: String
    public let range: SourceRange
}

/// A duration literal (`2min`, `1h30m`).
public struct DurationLiteral: Sendable, Hashable {
    public let nanoseconds: Int64
    public let spelling: String
    public let range: SourceRange

    public var seconds: Double { Double(nanoseconds) / 1e9 }
}

/// A parsed rule, config or seed-JSON file.
public struct RuleFile: Sendable {
    public let source: SourceFile
    public var statements: [Statement]
    public var comments: [Comment]
}

/// A top-level statement.
public enum Statement: Sendable {
    case const(ConstDecl)
    case metric(MetricDecl)
    case alert(AlertRule)
    case inhibit(InhibitRule)
    case block(BlockDecl)
    case setting(Setting)

    public var range: SourceRange {
        switch self {
        case .const(let d): d.range
        case .metric(let d): d.range
        case .alert(let d): d.range
        case .inhibit(let d): d.range
        case .block(let d): d.range
        case .setting(let d): d.range
        }
    }
}

/// `const NAME = NUMBER[UNIT]`
public struct ConstDecl: Sendable {
    public let name: Identifier
    public let value: NumberLiteral
    public let range: SourceRange
}

/// `metric NAME [unit U] [labels A, B]` or `event NAME [labels A, B]`.
public struct MetricDecl: Sendable {
    public enum Kind: String, Sendable { case metric, event }
    public let kind: Kind
    /// `NAME` or `EVENT.field`.
    public let name: Identifier
    public let unit: Identifier?
    public let labels: [Identifier]?
    public let range: SourceRange
}

/// `inhibit TARGET when SOURCE [on LABEL, ...]`: mute TARGET while SOURCE fires.
public struct InhibitRule: Sendable {
    public let target: Identifier
    public let source: Identifier
    public let on: [Identifier]
    public let range: SourceRange
}

/// A config block: `channel NAME { … }`, `probe NAME { … }`, `watch NAME { … }` or
/// `system { … }` (SPEC §2 and §7), each a list of settings.
public struct BlockDecl: Sendable {
    public enum Kind: String, Sendable, CaseIterable { case channel, probe, watch, system, scrape, tail, heartbeat }
    public let kind: Kind
    /// Absent only for `system`.
    public let name: Identifier?
    public let settings: [Setting]
    public let range: SourceRange
    /// Where the closing brace is, so comments inside the block stay inside.
    public let bodyEnd: Int
    /// Keys of settings that failed to parse (already reported; the checker does not pile on).
    public var brokenSettings: Set<String> = []

    public func setting(_ key: String) -> Setting? { settings.first { $0.key.name == key } }
}

/// `key value` at the top level of a config or inside a block, or a bare `key` for a flag
/// (`critical`), whose value is nil.
public struct Setting: Sendable {
    public let key: Identifier
    public let value: SettingValue?
    /// Values after the first, comma-separated (`url "a", "b"`); lint says which keys take them.
    public var more: [SettingValue] = []
    public let range: SourceRange

    /// Every value, in order.
    public var values: [SettingValue] { (value.map { [$0] } ?? []) + more }

    /// Where a value error points: the value, or the key of a bare flag.
    public var valueRange: SourceRange { value?.range ?? key.range }
}

/// The value of a setting.
public enum SettingValue: Sendable {
    case string(StringLiteral)
    case secret(Identifier)          // env:NAME or file:PATH, spelled as written
    case word(Identifier)
    case number(NumberLiteral)

    public var range: SourceRange {
        switch self {
        case .string(let s): s.range
        case .secret(let i), .word(let i): i.range
        case .number(let n): n.range
        }
    }
}

/// `alert NAME { clauses }`
public struct AlertRule: Sendable {
    public let name: Identifier
    public let clauses: [AlertClause]
    public let range: SourceRange
    /// Offset of the closing brace (`range.end` for rules from JSON).
    public let bodyEnd: Int
    /// Keywords of clauses that failed to parse (already reported; the checker does not pile on).
    public var brokenClauses: Set<String> = []

    public var condition: Condition? { clauses.lazy.compactMap { if case .when(let c) = $0.body { c } else { nil } }.first }
    public var severity: Severity? { clauses.lazy.compactMap { if case .severity(let s, _) = $0.body { s } else { nil } }.first }
    public var channels: [Identifier] {
        clauses.flatMap { clause -> [Identifier] in
            if case .notify(let c) = clause.body { return c }
            return []
        }
    }
    public var escalation: [EscalationStep] { clauses.compactMap { if case .escalate(let s) = $0.body { s } else { nil } } }
    public var labels: [(Identifier, StringLiteral)] { clauses.compactMap { if case .label(let k, let v) = $0.body { (k, v) } else { nil } } }

    public func template(_ kind: AlertClause.TextKind) -> StringLiteral? {
        clauses.lazy.compactMap { if case .text(kind, let s) = $0.body { s } else { nil } }.first
    }
}

public enum Severity: String, Sendable, CaseIterable, Codable {
    case critical, warning, info
}

/// One clause of an alert block, with the keyword's range for diagnostics.
public struct AlertClause: Sendable {
    public enum TextKind: String, Sendable, CaseIterable { case summary, description, runbook }

    public enum Body: Sendable {
        case when(Condition)
        case severity(Severity, SourceRange)
        case notify([Identifier])
        case escalate(EscalationStep)
        case repeatEvery(DurationLiteral?)   // nil: never
        case resolveAfter(DurationLiteral)
        case group(GroupClause)
        case label(Identifier, StringLiteral)
        case text(TextKind, StringLiteral)
    }

    public let keyword: Identifier
    public let body: Body
    public let range: SourceRange

    /// The keyword that starts this clause.
    public var name: String { keyword.name }

    /// Clauses that may appear more than once.
    public var isRepeatable: Bool {
        switch body {
        case .notify, .escalate, .label: true
        default: false
        }
    }

    /// Canonical order, used by `fmt` and the structural dump.
    public var order: Int {
        switch body {
        case .when: 0
        case .severity: 1
        case .notify: 2
        case .escalate: 3
        case .repeatEvery: 4
        case .resolveAfter: 5
        case .group: 6
        case .label: 7
        case .text(let k, _): 8 + (AlertClause.TextKind.allCases.firstIndex(of: k) ?? 0)
        }
    }
}

/// One escalation step.
public struct EscalationStep: Sendable {
    public enum Kind: Sendable {
        case immediate
        case none
        /// After a delay, to the listed channels (empty: the config's `escalation_target`).
        case after(DurationLiteral, to: [Identifier], bare: Bool)
    }
    public let kind: Kind
    public let range: SourceRange

    /// Delay from firing; `immediate` is zero, `none` has none.
    public var delay: Int64? {
        switch kind {
        case .immediate: 0
        case .none: nil
        case .after(let d, _, _): d.nanoseconds
        }
    }
}

/// `group by L, ... [wait D]`
public struct GroupClause: Sendable {
    public let by: [Identifier]
    public let wait: DurationLiteral?
}

/// `expr [over W] [for [>|>=] D]`
public struct Condition: Sendable {
    public let expr: Expr
    public let over: DurationLiteral?
    public let hold: Hold?
    public let range: SourceRange

    /// The `for` clause.
    public struct Hold: Sendable {
        public enum Comparison: String, Sendable { case none = "", greater = ">", greaterEqual = ">=" }
        public let comparison: Comparison
        public let duration: DurationLiteral
        public let range: SourceRange
    }
}

public enum UnaryOperator: String, Sendable {
    case negate = "-"
    case not = "not"
}

public enum BinaryOperator: String, Sendable {
    case or, and
    case greater = ">", greaterEqual = ">=", less = "<", lessEqual = "<=", equal = "==", notEqual = "!="
    case add = "+", subtract = "-", multiply = "*", divide = "/"

    /// Binding strength: or 1, and 2, (not 3), comparison 4, additive 5, multiplicative 6.
    public var precedence: Int {
        switch self {
        case .or: 1
        case .and: 2
        case .greater, .greaterEqual, .less, .lessEqual, .equal, .notEqual: 4
        case .add, .subtract: 5
        case .multiply, .divide: 6
        }
    }

    public var isComparison: Bool { precedence == 4 }
}

public enum MatchOperator: String, Sendable, Codable {
    case equal = "=", notEqual = "!=", regexMatch = "=~", regexNoMatch = "!~"
}

/// `label OP "value"` inside a selector's braces.
public struct Matcher: Sendable {
    public let label: Identifier
    public let op: MatchOperator
    public let value: StringLiteral
    public let range: SourceRange
}

/// `name[.field]{matchers}`
public struct Selector: Sendable {
    public let name: Identifier
    public let field: Identifier?
    public let matchers: [Matcher]
    public let range: SourceRange

    /// `name` or `name.field`, the series name the stream produces.
    public var qualifiedName: String { field.map { "\(name.name).\($0.name)" } ?? name.name }
}

/// `f(arg [over W], ...)`
public struct Call: Sendable {
    public struct Argument: Sendable {
        public let expr: Expr
        public let over: DurationLiteral?

        public init(expr: Expr, over: DurationLiteral?) {
            self.expr = expr
            self.over = over
        }
    }
    public let function: Identifier
    public let arguments: [Argument]
    public let range: SourceRange

    public init(function: Identifier, arguments: [Argument], range: SourceRange) {
        self.function = function
        self.arguments = arguments
        self.range = range
    }
}

/// A condition expression.
public indirect enum Expr: Sendable {
    case number(NumberLiteral)
    case string(StringLiteral)
    case bool(Bool, SourceRange)
    case selector(Selector)
    case call(Call)
    case unary(UnaryOperator, Expr, SourceRange)
    case binary(BinaryOperator, Expr, Expr, SourceRange)

    public var range: SourceRange {
        switch self {
        case .number(let n): n.range
        case .string(let s): s.range
        case .bool(_, let r): r
        case .selector(let s): s.range
        case .call(let c): c.range
        case .unary(_, _, let r), .binary(_, _, _, let r): r
        }
    }

    /// Precedence for printing: primaries 8, unary minus 7, not 3.
    var precedence: Int {
        switch self {
        case .binary(let op, _, _, _): op.precedence
        case .unary(.not, _, _): 3
        case .unary(.negate, _, _): 7
        default: 8
        }
    }
}

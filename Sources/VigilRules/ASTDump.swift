/// A position-free, order-canonical S-expression of a parsed file: two files that dump the same
/// mean the same. The formatter's round-trip tests compare dumps (`dump(parse(fmt(x))) == dump(parse(x))`).
public enum ASTDump {
    public static func dump(_ file: RuleFile) -> String {
        file.statements.map(statement).joined(separator: "\n")
    }

    static func statement(_ s: Statement) -> String {
        switch s {
        case .const(let c): return "(const \(c.name.name) \(quantity(c.value.quantity)))"
        case .metric(let m):
            return "(\(m.kind.rawValue) \(m.name.name)" + (m.unit.map { " unit=\($0.name)" } ?? "")
                + (m.labels.map { " labels=[\($0.map(\.name).joined(separator: ","))]" } ?? "") + ")"
        case .inhibit(let i): return "(inhibit \(i.target.name) \(i.source.name) on=[\(i.on.map(\.name).joined(separator: ","))])"
        case .setting(let s): return "(set \(s.key.name)" + s.values.map { " " + value($0) }.joined() + ")"
        case .block(let b):
            return "(\(b.kind.rawValue)" + (b.name.map { " " + $0.name } ?? "")
                + b.settings.map { " (\($0.key.name)" + $0.values.map { " " + value($0) }.joined() + ")" }.joined() + ")"
        case .alert(let a):
            let clauses = a.clauses.enumerated().sorted { ($0.element.order, $0.offset) < ($1.element.order, $1.offset) }
            return "(alert \(a.name.name)" + clauses.map { " " + clause($0.element.body) }.joined() + ")"
        }
    }

    static func value(_ v: SettingValue) -> String {
        switch v {
        case .string(let s): jsonString(s.value)
        case .secret(let i): "secret:\(i.name)"
        case .word(let i): i.name
        case .number(let n): quantity(n.quantity)
        }
    }

    static func quantity(_ q: Quantity) -> String { "\(q.value)" + (q.unit.map { $0.name } ?? "") }

    static func clause(_ b: AlertClause.Body) -> String {
        switch b {
        case .when(let c):
            return "(when \(expr(c.expr))" + (c.over.map { " over=\($0.nanoseconds)" } ?? "")
                + (c.hold.map { " for=\($0.comparison.rawValue)\($0.duration.nanoseconds)" } ?? "") + ")"
        case .severity(let s, _): return "(severity \(s.rawValue))"
        case .notify(let l): return "(notify \(l.map(\.name).joined(separator: ",")))"
        case .escalate(let s):
            switch s.kind {
            case .immediate: return "(escalate immediate)"
            case .none: return "(escalate none)"
            case .after(let d, let to, _): return "(escalate \(d.nanoseconds) to=[\(to.map(\.name).joined(separator: ","))])"
            }
        case .repeatEvery(let d): return "(repeat \(d.map { "\($0.nanoseconds)" } ?? "never"))"
        case .resolveAfter(let d): return "(resolve \(d.nanoseconds))"
        case .group(let g): return "(group by=[\(g.by.map(\.name).joined(separator: ","))] wait=\(g.wait.map { "\($0.nanoseconds)" } ?? "-"))"
        case .label(let k, let v): return "(label \(k.name) \(jsonString(v.value)))"
        case .text(let k, let s): return "(\(k.rawValue) \(jsonString(s.value)))"
        }
    }

    public static func expr(_ e: Expr) -> String {
        switch e {
        case .number(let n): return quantity(n.quantity)
        case .string(let s): return jsonString(s.value)
        case .bool(let b, _): return b ? "true" : "false"
        case .selector(let s):
            return s.qualifiedName + (s.matchers.isEmpty ? "" : "{" + s.matchers.map { "\($0.label.name)\($0.op.rawValue)\(jsonString($0.value.value))" }.joined(separator: ",") + "}")
        case .call(let c):
            return "(\(c.function.name)" + c.arguments.map { " " + expr($0.expr) + ($0.over.map { " over=\($0.nanoseconds)" } ?? "") }.joined() + ")"
        case .unary(let op, let x, _): return "(\(op.rawValue) \(expr(x)))"
        case .binary(let op, let l, let r, _): return "(\(op.rawValue) \(expr(l)) \(expr(r)))"
        }
    }
}

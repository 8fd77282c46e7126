/// Prints a parsed file in canonical form: alert clauses in a fixed order and aligned, one space
/// around operators, minimal parentheses, blank lines kept (collapsed to one) and around alert
/// blocks, comments kept beside what they annotate. Literals keep their spelling (`50_000`,
/// `'down'`, `1h30m`). `format(parse(format(x))) == format(x)`, and the tree is unchanged.
public enum Formatter {
    public static func format(_ file: RuleFile) -> String {
        var p = Printer(source: file.source, comments: file.comments)
        p.file(file.statements)
        return alignTrailingComments(p.out)
    }

    /// Trailing comments are printed after a marker; consecutive lines that carry one, at the same
    /// indentation, get their comments aligned one column past the longest code (as gofmt does).
    static func alignTrailingComments(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        var i = 0
        while i < lines.count {
            guard lines[i].contains(Printer.marker) else { i += 1; continue }
            let indent = lines[i].prefix { $0 == " " }.count
            var j = i
            while j < lines.count, lines[j].contains(Printer.marker), lines[j].prefix(while: { $0 == " " }).count == indent { j += 1 }
            let parts = lines[i..<j].map { line -> (String, String) in
                let pieces = line.split(separator: Printer.marker, maxSplits: 1, omittingEmptySubsequences: false)
                return (String(pieces[0]), pieces.count > 1 ? String(pieces[1]) : "")
            }
            let column = (parts.map(\.0.count).max() ?? 0) + 2
            for (k, (code, comment)) in parts.enumerated() {
                lines[i + k] = code + String(repeating: " ", count: column - code.count) + comment
            }
            i = j
        }
        return lines.joined(separator: "\n")
    }

    /// A condition alone, as `fmt` prints it.
    public static func format(_ condition: Condition) -> String { Printer.condition(condition) }

    /// An expression alone, with minimal parentheses.
    public static func format(_ expr: Expr) -> String { Printer.expr(expr) }
}

private struct Printer {
    /// Precedes a trailing comment until `alignTrailingComments` places it.
    static let marker: Character = "\u{1}"

    let source: SourceFile
    let comments: [Comment]
    var out = ""

    init(source: SourceFile, comments: [Comment]) {
        self.source = source
        self.comments = comments.sorted { $0.range.start < $1.range.start }
    }

    /// Comments around a list of items in a region: leading ones before each item, a trailing one on
    /// an item's last line, one on the region's opening line, and the rest at the end.
    struct Attached {
        var leading: [[Comment]]
        var trailing: [Comment?]
        var header: Comment?
        var tail: [Comment]
    }

    func line(_ offset: Int) -> Int { source.position(of: offset).line }

    func attach(items: [SourceRange], region: Range<Int>, openLine: Int?) -> Attached {
        var a = Attached(leading: Array(repeating: [], count: items.count), trailing: Array(repeating: nil, count: items.count), header: nil, tail: [])
        var k = 0
        for c in comments where region.contains(c.range.start) {
            // Skip comments inside an item: they belong to that item's own block.
            if items.contains(where: { $0.start < c.range.start && c.range.start < $0.end }) { continue }
            while k < items.count, items[k].end <= c.range.start,
                  !(line(items[k].end) == line(c.range.start) && (k + 1 == items.count || c.range.start < items[k + 1].start)) {
                k += 1
            }
            if k < items.count, items[k].end <= c.range.start, a.trailing[k] == nil {
                a.trailing[k] = c
                k += 1
            } else if k < items.count, items[k].end <= c.range.start {
                a.leading[min(k + 1, items.count - 1)].append(c)
            } else if let openLine, k == 0, line(c.range.start) == openLine, a.header == nil {
                a.header = c
            } else if k < items.count {
                a.leading[k].append(c)
            } else {
                a.tail.append(c)
            }
        }
        return a
    }

    mutating func emitComments(_ list: [Comment], indent: String, first: inout Bool, forceBlank: inout Bool) {
        for c in list {
            if !first, forceBlank || source.hasBlankLine(before: c.range.start) { out += "\n" }
            out += indent + c.text + "\n"
            first = false
            forceBlank = false
        }
    }

    // MARK: Top level

    mutating func file(_ statements: [Statement]) {
        let a = attach(items: statements.map(\.range), region: 0..<(source.bytes.count + 1), openLine: nil)
        var first = true
        var previousWasBlock = false
        let blockWidths = blockRuns(statements, leading: a.leading)
        for (i, s) in statements.enumerated() {
            let isBlock: Bool = if case .alert = s { true } else { false }
            var forceBlank = isBlock || previousWasBlock
            emitComments(a.leading[i], indent: "", first: &first, forceBlank: &forceBlank)
            if !first, forceBlank || source.hasBlankLine(before: s.range.start) { out += "\n" }
            first = false
            let trailing = a.trailing[i].map { String(Printer.marker) + $0.text } ?? ""
            switch s {
            case .alert(let rule): alert(rule, trailing: trailing)
            case .block(let b): block(b, widths: blockWidths[i], trailing: trailing)
            default: out += Printer.simple(s) + trailing + "\n"
            }
            previousWasBlock = isBlock
        }
        var forceBlank = false
        emitComments(a.tail, indent: "", first: &first, forceBlank: &forceBlank)
    }

    /// Column widths shared by consecutive one-line blocks of one kind (as in the examples of
    /// SPEC §2 and §7): the name, and the first setting (`type T`, `tcp "host:port"`).
    func blockRuns(_ statements: [Statement], leading: [[Comment]]) -> [Int: (Int, Int)] {
        var result: [Int: (Int, Int)] = [:]
        var run: [Int] = []
        var runKind: BlockDecl.Kind?
        func flush() {
            guard !run.isEmpty else { return }
            var nameWidth = 0, firstWidth = 0
            for i in run {
                guard case .block(let b) = statements[i] else { continue }
                nameWidth = max(nameWidth, b.name?.name.count ?? 0)
                if let t = b.settings.first { firstWidth = max(firstWidth, Printer.setting(t).count) }
            }
            for i in run { result[i] = (nameWidth, firstWidth) }
            run = []
        }
        for (i, s) in statements.enumerated() {
            guard case .block(let b) = s, !hasInnerComments(b.range, b.bodyEnd) else { flush(); continue }
            if !run.isEmpty, b.kind != runKind || !leading[i].isEmpty || source.hasBlankLine(before: s.range.start) { flush() }
            runKind = b.kind
            run.append(i)
        }
        flush()
        return result
    }

    func hasInnerComments(_ range: SourceRange, _ bodyEnd: Int) -> Bool {
        comments.contains { range.start < $0.range.start && $0.range.start < bodyEnd }
    }

    static func simple(_ s: Statement) -> String {
        switch s {
        case .const(let c):
            return "const \(c.name.name) = \(c.value.spelling)"
        case .metric(let m):
            var t = "\(m.kind.rawValue) \(m.name.name)"
            if let u = m.unit { t += " unit \(u.name)" }
            if let l = m.labels { t += " labels " + l.map(\.name).joined(separator: ", ") }
            return t
        case .inhibit(let i):
            var t = "inhibit \(i.target.name) when \(i.source.name)"
            if !i.on.isEmpty { t += " on " + i.on.map(\.name).joined(separator: ", ") }
            return t
        case .setting(let s):
            return setting(s)
        case .alert, .block:
            return ""
        }
    }

    static func setting(_ s: Setting) -> String {
        s.value == nil ? s.key.name : s.key.name + " " + s.values.map(value).joined(separator: ", ")
    }

    static func value(_ v: SettingValue) -> String {
        switch v {
        case .string(let s): s.spelling
        case .secret(let i), .word(let i): i.name
        case .number(let n): n.spelling
        }
    }

    mutating func block(_ b: BlockDecl, widths: (Int, Int)?, trailing: String) {
        let head = b.kind.rawValue + (b.name.map { " " + $0.name } ?? "")
        if let (nameWidth, firstWidth) = widths {
            // `KIND NAME { FIRST  key value … }` with NAME and the first setting padded to the run's widths.
            var t = head + String(repeating: " ", count: nameWidth - (b.name?.name.count ?? 0)) + " {"
            for (i, s) in b.settings.enumerated() {
                let text = Printer.setting(s)
                let pad = i == 0 && b.settings.count > 1 ? firstWidth - text.count : 0
                t += " " + text + String(repeating: " ", count: pad)
            }
            out += t + " }" + trailing + "\n"
            return
        }
        let a = attach(items: b.settings.map(\.range), region: b.range.start..<b.bodyEnd, openLine: line(b.range.start))
        out += head + " {" + (a.header.map { String(Printer.marker) + $0.text } ?? "") + "\n"
        let width = (b.settings.filter { $0.value != nil }.map { $0.key.name.count }.max() ?? 0) + 1
        var first = true
        for (i, s) in b.settings.enumerated() {
            var forceBlank = false
            emitComments(a.leading[i], indent: "  ", first: &first, forceBlank: &forceBlank)
            first = false
            let text = s.value.map { s.key.name.padding(width) + Printer.value($0) } ?? s.key.name
            out += "  " + text + (a.trailing[i].map { String(Printer.marker) + $0.text } ?? "") + "\n"
        }
        var forceBlank = false
        emitComments(a.tail, indent: "  ", first: &first, forceBlank: &forceBlank)
        out += "}" + trailing + "\n"
    }

    // MARK: Alerts

    mutating func alert(_ rule: AlertRule, trailing: String) {
        let a = attach(items: rule.clauses.map(\.range), region: rule.range.start..<rule.bodyEnd, openLine: line(rule.range.start))
        out += "alert \(rule.name.name) {" + (a.header.map { String(Printer.marker) + $0.text } ?? "") + "\n"
        let order = rule.clauses.indices.sorted { (rule.clauses[$0].order, $0) < (rule.clauses[$1].order, $1) }
        var first = true
        for i in order {
            let clause = rule.clauses[i]
            var forceBlank = false
            emitComments(a.leading[i], indent: "  ", first: &first, forceBlank: &forceBlank)
            first = false
            out += "  " + clause.keyword.name.padding(10) + Printer.clauseBody(clause.body)
                + (a.trailing[i].map { String(Printer.marker) + $0.text } ?? "") + "\n"
        }
        var forceBlank = false
        emitComments(a.tail, indent: "  ", first: &first, forceBlank: &forceBlank)
        out += "}" + trailing + "\n"
    }

    static func clauseBody(_ body: AlertClause.Body) -> String {
        switch body {
        case .when(let c): condition(c)
        case .severity(let s, _): s.rawValue
        case .notify(let list): list.map(\.name).joined(separator: ", ")
        case .escalate(let step): escalation(step)
        case .repeatEvery(let d): d.map { "every \($0.spelling)" } ?? "never"
        case .resolveAfter(let d): "after \(d.spelling)"
        case .group(let g):
            ([g.by.isEmpty ? nil : "by " + g.by.map(\.name).joined(separator: ", "),
              g.wait.map { "wait \($0.spelling)" }].compactMap { $0 }).joined(separator: " ")
        case .label(let k, let v): "\(k.name) = \(v.spelling)"
        case .text(_, let s): s.spelling
        }
    }

    static func escalation(_ step: EscalationStep) -> String {
        switch step.kind {
        case .immediate: return "immediate"
        case .none: return "none"
        case .after(let d, let to, let bare):
            return (bare ? "" : "after ") + d.spelling + (to.isEmpty ? "" : " to " + to.map(\.name).joined(separator: ", "))
        }
    }

    // MARK: Conditions

    static func condition(_ c: Condition) -> String {
        var t = expr(c.expr)
        if let over = c.over { t += " over \(over.spelling)" }
        if let hold = c.hold {
            t += " for " + (hold.comparison == .none ? "" : hold.comparison.rawValue + " ") + hold.duration.spelling
        }
        return t
    }

    static func expr(_ e: Expr) -> String {
        switch e {
        case .number(let n): return n.spelling
        case .string(let s): return s.spelling
        case .bool(let b, _): return b ? "true" : "false"
        case .selector(let s):
            var t = s.qualifiedName
            if !s.matchers.isEmpty {
                t += "{" + s.matchers.map { "\($0.label.name)\($0.op.rawValue)\($0.value.spelling)" }.joined(separator: ", ") + "}"
            }
            return t
        case .call(let c):
            return c.function.name + "(" + c.arguments.map { a in
                expr(a.expr) + (a.over.map { " over \($0.spelling)" } ?? "")
            }.joined(separator: ", ") + ")"
        case .unary(let op, let x, _):
            let inner = wrap(x, if: x.precedence < e.precedence)
            return op == .not ? "not " + inner : "-" + inner
        case .binary(let op, let l, let r, _):
            // Comparisons do not chain, so an operand at their own level needs parentheses on both sides;
            // other operators are left-associative, so only the right operand does.
            let p = op.precedence
            let left = wrap(l, if: l.precedence < p || (op.isComparison && l.precedence == p))
            let right = wrap(r, if: r.precedence <= p)
            return "\(left) \(op.rawValue) \(right)"
        }
    }

    private static func wrap(_ e: Expr, if needed: Bool) -> String { needed ? "(" + expr(e) + ")" : expr(e) }
}

private extension String {
    /// Left-justified to `width` characters, with at least one space after.
    func padding(_ width: Int) -> String {
        self + String(repeating: " ", count: Swift.max(1, width - count))
    }
}

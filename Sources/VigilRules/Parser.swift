/// A syntax error: what was expected, what was found, and where.
struct ParseError: Error {
    let message: String
    let range: SourceRange
    var notes: [Diagnostic.Note] = []
    var fixIt: String? = nil
    var code = "syntax"
    /// Set when the lexer already reported the offending token, so one mistake is one diagnostic.
    var silent = false
}

/// Recursive-descent parser for rule and config files.
///
/// Recovery: an error abandons the clause (or statement) it is in, is reported once, and parsing
/// resumes at the next line, so one run reports every broken clause in a file. Every loop either
/// consumes a token or exits, so no input can make it spin.
public struct Parser {
    static let ruleKeywords: Set<String> = ["const", "metric", "event", "alert", "inhibit"]
    static let configKeywords = Set(BlockDecl.Kind.allCases.map(\.rawValue))
    /// Settings that are bare words, with no value.
    static let flagKeys: Set<String> = ["critical"]
    static let clauseKeywords = ["when", "severity", "notify", "escalate", "repeat", "resolve", "group", "label",
                                 "summary", "description", "runbook"]
    static let reserved: Set<String> = ["and", "or", "not", "over", "for", "true", "false"]

    private let tokens: [Token]
    private var pos = 0
    private let kind: SourceKind
    private var sink: DiagnosticSink

    init(tokens: [Token], file: SourceFile, kind: SourceKind) {
        self.tokens = tokens
        self.kind = kind
        self.sink = DiagnosticSink(file: file)
    }

    /// Parses a rule or config file (seed JSON goes through `SeedJSON`).
    public static func parse(_ file: SourceFile) -> (RuleFile, [Diagnostic]) {
        if file.kind == .seedJSON { return SeedJSON.load(file) }
        var lexer = Lexer(bytes: file.bytes)
        let tokens = lexer.tokenize()
        var parser = Parser(tokens: tokens, file: file, kind: file.kind)
        parser.reportLexerProblems(lexer.problems)
        let statements = parser.parseFile()
        return (RuleFile(source: file, statements: statements, comments: lexer.comments), parser.sink.diagnostics)
    }

    /// Parses a whole buffer as one fragment (a condition or an escalation in a JSON string).
    static func parseFragment<T>(_ bytes: [UInt8], offsetMap: [Int], file: SourceFile,
                                 _ body: (inout Parser) throws(ParseError) -> T) -> (T?, [Diagnostic]) {
        var lexer = Lexer(bytes: bytes, offsetMap: offsetMap)
        let tokens = lexer.tokenize()
        var parser = Parser(tokens: tokens, file: file, kind: .rules)
        parser.reportLexerProblems(lexer.problems)
        if !parser.sink.diagnostics.isEmpty { return (nil, parser.sink.diagnostics) }
        do throws(ParseError) {
            let value = try body(&parser)
            if !parser.at(.eof) { throw parser.expected("end of text") }
            return (value, parser.sink.diagnostics)
        } catch {
            parser.report(error)
            return (nil, parser.sink.diagnostics)
        }
    }

    private mutating func reportLexerProblems(_ problems: [(String, SourceRange)]) {
        for (message, range) in problems { sink.error("syntax", message, range) }
    }

    // MARK: - Token helpers

    private var current: Token { tokens[pos] }
    private func at(_ k: TokenKind) -> Bool { current.kind == k }
    private func atWord(_ w: String) -> Bool { current.kind == .identifier && current.text == w }
    private func peekKind(_ k: Int) -> TokenKind { tokens[min(pos + k, tokens.count - 1)].kind }

    @discardableResult
    private mutating func advance() -> Token {
        let t = tokens[pos]
        if pos < tokens.count - 1 { pos += 1 }
        return t
    }

    private var previousEnd: Int { pos > 0 ? tokens[pos - 1].range.end : 0 }

    private func describe(_ t: Token) -> String {
        switch t.kind {
        case .newline: "end of line"
        case .eof: "end of file"
        case .string: "string \(t.text)"
        case .invalid: "`\(t.text)`"
        default: "`\(t.text)`"
        }
    }

    func expected(_ what: String, fixIt: String? = nil) -> ParseError {
        var e = ParseError(message: "expected \(what), found \(describe(current))", range: current.range, fixIt: fixIt)
        e.silent = current.kind == .invalid
        return e
    }

    private mutating func expect(_ k: TokenKind, _ what: String) throws(ParseError) -> Token {
        guard at(k) else { throw expected(what) }
        return advance()
    }

    private mutating func expectWord(_ w: String) throws(ParseError) {
        guard atWord(w) else { throw expected("`\(w)`") }
        advance()
    }

    private mutating func identifier(_ what: String) throws(ParseError) -> Identifier {
        guard at(.identifier) else { throw expected(what) }
        let t = advance()
        return Identifier(t.text, t.range)
    }

    /// `NAME` or `NAME.field`.
    private mutating func dottedName(_ what: String) throws(ParseError) -> Identifier {
        let first = try identifier(what)
        guard at(.dot) else { return first }
        advance()
        let field = try identifier("a field name after `.`")
        return Identifier("\(first.name).\(field.name)", first.range.union(field.range))
    }

    /// `a, b, c` (at least one).
    private mutating func identifierList(_ what: String) throws(ParseError) -> [Identifier] {
        var list = [try identifier(what)]
        while at(.comma) {
            advance()
            list.append(try identifier(what))
        }
        return list
    }

    private mutating func stringLiteral(_ what: String) throws(ParseError) -> StringLiteral {
        guard at(.string) else { throw expected(what) }
        let t = advance()
        return StringLiteral(value: t.value, spelling: t.text, range: t.range)
    }

    private mutating func numberLiteral() throws(ParseError) -> NumberLiteral {
        guard at(.number) else { throw expected("a number") }
        let t = advance()
        switch Quantity.parse(t.text) {
        case .success(let q):
            if q.unit == nil, at(.identifier), Unit.spellings[current.text.lowercased()] != nil, current.range.start > t.range.end {
                throw ParseError(message: "a unit goes right after its number, without a space",
                                 range: t.range.union(current.range), fixIt: t.text + current.text)
            }
            return NumberLiteral(quantity: q, spelling: t.text, range: t.range)
        case .failure(let e):
            var err = ParseError(message: e.message, range: t.range)
            if let s = e.suggestion { err.notes = [.init("did you mean `\(s)`?")] }
            throw err
        }
    }

    mutating func duration(_ what: String = "a duration like `30s`") throws(ParseError) -> DurationLiteral {
        guard at(.number) else { throw expected(what) }
        let t = current
        let n = try numberLiteral()
        if n.quantity.isTooLongADuration {
            throw ParseError(message: "a duration cannot be longer than \(Quantity.longestDurationText), found `\(t.text)`", range: t.range)
        }
        guard let ns = n.quantity.nanoseconds else {
            let fix = n.quantity.unit == nil ? "\(t.text)s" : nil
            throw ParseError(message: "expected \(what), found `\(t.text)` (\(n.quantity.unit.map { "a quantity in \($0)" } ?? "a number without a unit"))",
                             range: t.range, fixIt: fix)
        }
        guard ns >= 0 else { throw ParseError(message: "a duration cannot be negative", range: t.range) }
        return DurationLiteral(nanoseconds: ns, spelling: t.text, range: t.range)
    }

    private func atLineEnd() -> Bool {
        at(.newline) || at(.semicolon) || at(.eof) || at(.rbrace)
    }

    mutating func report(_ e: ParseError) {
        if e.silent { return }
        sink.append(Diagnostic(.error, e.code, e.message, file: sink.file, range: e.range, notes: e.notes, fixIt: e.fixIt))
    }

    /// Skips the rest of a broken clause: to the end of its line or `;`, or to the `}` that closes
    /// the block (a `}` with more of the line after it, like a matcher's, is part of the clause).
    private mutating func recoverClause() {
        while !(at(.newline) || at(.semicolon) || at(.eof)) {
            if at(.rbrace) {
                let next = peekKind(1)
                if next == .newline || next == .eof || next == .semicolon || next == .rbrace { return }
            }
            advance()
        }
    }

    private mutating func skipSeparators() {
        while at(.newline) || at(.semicolon) { advance() }
    }

    /// Whether the current token starts a top-level statement on its own line.
    private func atStatementStart() -> Bool {
        guard at(.identifier), pos == 0 || tokens[pos - 1].kind == .newline else { return false }
        return Parser.ruleKeywords.contains(current.text) || Parser.configKeywords.contains(current.text)
    }

    // MARK: - Files and statements

    private mutating func parseFile() -> [Statement] {
        var statements: [Statement] = []
        while true {
            skipSeparators()
            if at(.eof) { break }
            let before = pos
            do throws(ParseError) {
                if let s = try statement() { statements.append(s) }
                if !(at(.newline) || at(.semicolon) || at(.eof) || atStatementStart()) {
                    throw expected("end of line after the statement")
                }
            } catch {
                report(error)
                recoverStatement()
            }
            if pos == before { advance() }
        }
        return statements
    }

    /// Skips the rest of a broken statement: to the end of its line, and through a block it opened,
    /// stopping early at a line that starts another statement (the block's `}` may be missing).
    private mutating func recoverStatement() {
        var depth = 0
        while !at(.eof) {
            if at(.lbrace) { depth += 1 }
            if at(.rbrace) {
                depth -= 1
                if depth <= 0 { advance(); return }
            }
            if at(.newline), depth <= 0 { return }
            advance()
            if depth > 0, atStatementStart() { return }
        }
    }

    private mutating func statement() throws(ParseError) -> Statement? {
        guard at(.identifier) else { throw expected(kind == .config ? "a block (`channel`, `probe`, `watch`, `system`, `scrape`, `tail`, `heartbeat`) or a setting" : "`const`, `metric`, `event`, `alert` or `inhibit`") }
        let word = current.text
        if kind == .config {
            if Parser.ruleKeywords.contains(word), word != "metric" || peekKind(1) == .identifier {
                throw ParseError(message: "`\(word)` belongs in a rule file, not in the config file", range: current.range,
                                 notes: [.init("pass rule files as paths (`vigil lint rules/`) and the config with `--config`")])
            }
            if let blockKind = BlockDecl.Kind(rawValue: word) { return .block(try block(blockKind)) }
            return .setting(try setting())
        }
        switch word {
        case "const": return .const(try constDecl())
        case "metric", "event": return .metric(try metricDecl())
        case "alert": return .alert(try alert())
        case "inhibit": return .inhibit(try inhibit())
        case "channel", "probe", "watch", "system", "scrape", "tail", "heartbeat":
            throw ParseError(message: "`\(word)` belongs in the config file, not in a rule file", range: current.range,
                             notes: [.init("declare \(word == "system" ? "it" : word + "s") in vigil.conf and pass it with `--config`")])
        default:
            let err = expected("`const`, `metric`, `event`, `alert` or `inhibit`",
                               fixIt: closest(word, in: Array(Parser.ruleKeywords)))
            throw err
        }
    }

    private mutating func constDecl() throws(ParseError) -> ConstDecl {
        let start = advance().range.start
        let name = try identifier("a const name")
        _ = try expect(.assign, "`=`")
        let negative = at(.minus)
        if negative { advance() }
        var value = try numberLiteral()
        if negative {
            value = NumberLiteral(quantity: Quantity(value: -value.quantity.value, unit: value.quantity.unit),
                                  spelling: "-" + value.spelling, range: SourceRange(value.range.start - 1, value.range.end))
        }
        return ConstDecl(name: name, value: value, range: SourceRange(start, previousEnd))
    }

    private mutating func metricDecl() throws(ParseError) -> MetricDecl {
        let keyword = advance()
        let kind: MetricDecl.Kind = keyword.text == "event" ? .event : .metric
        let name = try dottedName(kind == .event ? "an event name" : "a metric name")
        var unit: Identifier?
        var labels: [Identifier]?
        while at(.identifier) {
            let word = current
            if word.text == "unit", kind == .metric, unit == nil {
                advance()
                unit = try identifier("a unit name (ms, s, percent, ratio, cents, dollars, bytes, mb, …)")
            } else if word.text == "labels", labels == nil {
                advance()
                labels = try identifierList("a label name")
            } else {
                throw expected(kind == .metric ? "`unit`, `labels` or end of line" : "`labels` or end of line")
            }
        }
        return MetricDecl(kind: kind, name: name, unit: unit, labels: labels, range: SourceRange(keyword.range.start, previousEnd))
    }

    private mutating func inhibit() throws(ParseError) -> InhibitRule {
        let start = advance().range.start
        let target = try identifier("the name of the alert to mute")
        try expectWord("when")
        let source = try identifier("the name of the alert that mutes it")
        var on: [Identifier] = []
        if atWord("on") {
            advance()
            on = try identifierList("a label name")
        }
        return InhibitRule(target: target, source: source, on: on, range: SourceRange(start, previousEnd))
    }

    // MARK: - Config

    /// `KIND NAME { settings }`, or `system { settings }`.
    private mutating func block(_ blockKind: BlockDecl.Kind) throws(ParseError) -> BlockDecl {
        let start = advance().range.start
        let name = blockKind == .system || blockKind == .heartbeat ? nil : try identifier("a \(blockKind.rawValue) name")
        let open = try expect(.lbrace, "`{`")
        var settings: [Setting] = []
        var broken: Set<String> = []
        let what = name.map { "\(blockKind.rawValue) `\($0.name)`" } ?? "the \(blockKind.rawValue) block"
        let end = braced(open, what) { (p: inout Parser) throws(ParseError) in
            settings.append(try p.setting())
        } failed: { first in
            if first.kind == .identifier { broken.insert(first.text) }
        }
        switch end {
        case .unclosed(let error):
            throw error
        case .closed(let close):
            return BlockDecl(kind: blockKind, name: name, settings: settings, range: SourceRange(start, close.range.end),
                             bodyEnd: close.range.start, brokenSettings: broken)
        }
    }

    private enum BlockEnd {
        case closed(Token)
        /// End of file or the next statement came first: the error says so.
        case unclosed(ParseError)
    }

    /// The entries of a `{ … }` block whose brace `open` is consumed, up to its `}`. An entry
    /// that fails is reported (`failed` gets its first token) and skipped to the next one, so
    /// one mistake does not hide the rest of the block.
    private mutating func braced(_ open: Token, _ what: String, entry: (inout Parser) throws(ParseError) -> Void,
                                 failed: (Token) -> Void) -> BlockEnd {
        while true {
            skipSeparators()
            if at(.rbrace) { return .closed(advance()) }
            if at(.eof) || atStatementStart() {
                return .unclosed(ParseError(message: "expected `}` to close \(what), found \(describe(current))",
                                            range: current.range, notes: [.init("the block opens here", at: SourceLocation(sink.file, open.range))]))
            }
            let before = pos
            do throws(ParseError) {
                try entry(&self)
            } catch {
                report(error)
                failed(tokens[before])
                recoverClause()
            }
            if pos == before { advance() }
        }
    }

    private mutating func setting() throws(ParseError) -> Setting {
        let key = try identifier("a setting name")
        if Parser.flagKeys.contains(key.name) { return Setting(key: key, value: nil, range: key.range) }
        let value = try settingValue(key)
        var more: [SettingValue] = []
        while at(.comma), more.count < 64 {
            advance()
            more.append(try settingValue(key))
        }
        return Setting(key: key, value: value, more: more, range: key.range.union((more.last ?? value).range))
    }

    private mutating func settingValue(_ key: Identifier) throws(ParseError) -> SettingValue {
        switch current.kind {
        case .string: return .string(try stringLiteral("a value"))
        case .secretRef:
            let t = advance()
            return .secret(Identifier(t.text, t.range))
        case .identifier:
            let t = advance()
            return .word(Identifier(t.text, t.range))
        case .number: return .number(try numberLiteral())
        default: throw expected("a value for `\(key.name)`")
        }
    }

    // MARK: - Alerts

    private mutating func alert() throws(ParseError) -> AlertRule {
        let start = advance().range.start
        let name = try identifier("an alert name")
        let open = try expect(.lbrace, "`{` to open the alert block")
        var clauses: [AlertClause] = []
        var broken: Set<String> = []
        let end = braced(open, "alert `\(name.name)`") { (p: inout Parser) throws(ParseError) in
            clauses.append(try p.clause())
            if !(p.atLineEnd() || (p.at(.identifier) && Parser.clauseKeywords.contains(p.current.text))) {
                throw p.expected("end of clause")
            }
        } failed: { first in
            broken.insert(first.text)
            if let meant = closest(first.text, in: Parser.clauseKeywords) { broken.insert(meant) }
        }
        switch end {
        case .unclosed(let error):
            // Report it, keep what was parsed, resume at this statement.
            report(error)
            return AlertRule(name: name, clauses: clauses, range: SourceRange(start, previousEnd), bodyEnd: previousEnd, brokenClauses: broken)
        case .closed(let close):
            return AlertRule(name: name, clauses: clauses, range: SourceRange(start, close.range.end), bodyEnd: close.range.start,
                             brokenClauses: broken)
        }
    }

    private mutating func clause() throws(ParseError) -> AlertClause {
        guard at(.identifier) else { throw expected("a clause (`when`, `severity`, `notify`, …) or `}`") }
        let kw = advance()
        let keyword = Identifier(kw.text, kw.range)
        let body: AlertClause.Body
        switch kw.text {
        case "when":
            body = .when(try condition())
        case "severity":
            let t = current
            guard t.kind == .identifier, let s = Severity(rawValue: t.text) else {
                throw expected("`critical`, `warning` or `info`",
                               fixIt: t.kind == .identifier ? closest(t.text, in: Severity.allCases.map(\.rawValue)) : nil)
            }
            advance()
            body = .severity(s, t.range)
        case "notify":
            body = .notify(try identifierList("a channel name"))
        case "escalate":
            body = .escalate(try escalationStep())
        case "repeat":
            if atWord("never") {
                advance()
                body = .repeatEvery(nil)
            } else {
                guard atWord("every") else { throw expected("`every` or `never`") }
                advance()
                let every = try duration()
                guard every.nanoseconds > 0 else {
                    throw ParseError(message: "`repeat every` needs a duration longer than 0 (or `repeat never`)", range: every.range)
                }
                body = .repeatEvery(every)
            }
        case "resolve":
            try expectWord("after")
            body = .resolveAfter(try duration())
        case "group":
            var by: [Identifier] = []
            var wait: DurationLiteral?
            if atWord("by") {
                advance()
                by = try identifierList("a label name")
            }
            if atWord("wait") {
                advance()
                wait = try duration()
            }
            if by.isEmpty, wait == nil { throw expected("`by` or `wait`") }
            body = .group(GroupClause(by: by, wait: wait))
        case "label":
            let name = try identifier("a label name")
            _ = try expect(.assign, "`=`")
            body = .label(name, try stringLiteral("a quoted label value"))
        case "summary", "description", "runbook":
            body = .text(AlertClause.TextKind(rawValue: kw.text) ?? .summary, try stringLiteral("a quoted string"))
        default:
            var err = ParseError(message: "unknown clause `\(kw.text)` in alert block", range: kw.range,
                                 fixIt: closest(kw.text, in: Parser.clauseKeywords))
            err.notes = [.init("clauses are: \(Parser.clauseKeywords.joined(separator: ", "))")]
            throw err
        }
        return AlertClause(keyword: keyword, body: body, range: SourceRange(kw.range.start, previousEnd))
    }

    /// `immediate` | `none` | `after D [to C, ...]` | `D [to C, ...]`
    mutating func escalationStep() throws(ParseError) -> EscalationStep {
        let start = current.range.start
        if atWord("immediate") {
            advance()
            return EscalationStep(kind: .immediate, range: SourceRange(start, previousEnd))
        }
        if atWord("none") {
            advance()
            return EscalationStep(kind: .none, range: SourceRange(start, previousEnd))
        }
        let bare = !atWord("after")
        if !bare { advance() }
        guard at(.number) else {
            throw expected(bare ? "`immediate`, `none`, `after DURATION` or a duration" : "a duration like `15min`")
        }
        let delay = try duration()
        var to: [Identifier] = []
        if atWord("to") {
            advance()
            to = try identifierList("a channel name")
        }
        return EscalationStep(kind: .after(delay, to: to, bare: bare), range: SourceRange(start, previousEnd))
    }

    // MARK: - Conditions

    /// `expr [over W] [for [>|>=] D]`
    mutating func condition() throws(ParseError) -> Condition {
        let start = current.range.start
        let e = try expr()
        var over: DurationLiteral?
        if atWord("over") {
            advance()
            over = try duration("a window like `1h`")
        }
        var hold: Condition.Hold?
        if atWord("for") {
            let forStart = advance().range.start
            var cmp = Condition.Hold.Comparison.none
            if at(.greater) { advance(); cmp = .greater }
            else if at(.greaterEqual) { advance(); cmp = .greaterEqual }
            let d = try duration()
            hold = Condition.Hold(comparison: cmp, duration: d, range: SourceRange(forStart, previousEnd))
        }
        if !atLineEnd() {
            throw expected(hold == nil ? (over == nil ? "an operator, `over`, `for` or end of line" : "`for` or end of line") : "end of line")
        }
        return Condition(expr: e, over: over, hold: hold, range: SourceRange(start, previousEnd))
    }

    private mutating func expr() throws(ParseError) -> Expr { try binary(level: 1) }

    private func binaryOperator() -> BinaryOperator? {
        switch current.kind {
        case .identifier where current.text == "or": .or
        case .identifier where current.text == "and": .and
        case .greater: .greater
        case .greaterEqual: .greaterEqual
        case .less: .less
        case .lessEqual: .lessEqual
        case .equal: .equal
        case .notEqual: .notEqual
        case .plus: .add
        case .minus: .subtract
        case .star: .multiply
        case .slash: .divide
        default: nil
        }
    }

    /// Precedence climbing over levels 1 (or) … 6 (* /); `not` sits at 3, comparison at 4 and
    /// does not chain (`a < b < c` is an error, as in the grammar).
    private mutating func binary(level: Int) throws(ParseError) -> Expr {
        if level == 3 {
            if atWord("not") {
                let start = advance().range.start
                let operand = try binary(level: 3)
                return .unary(.not, operand, SourceRange(start, operand.range.end))
            }
            return try binary(level: 4)
        }
        if level == 7 { return try unary() }
        var left = try binary(level: level + 1)
        while let op = binaryOperator(), op.precedence == level {
            let opToken = advance()
            let right = try binary(level: level + 1)
            left = .binary(op, left, right, left.range.union(right.range))
            if level == 4, let next = binaryOperator(), next.isComparison {
                throw ParseError(message: "comparisons do not chain; combine them with `and`", range: current.range,
                                 notes: [.init("the first comparison is here", at: SourceLocation(sink.file, opToken.range))])
            }
        }
        return left
    }

    private mutating func unary() throws(ParseError) -> Expr {
        if at(.minus) {
            let start = advance().range.start
            let operand = try unary()
            return .unary(.negate, operand, SourceRange(start, operand.range.end))
        }
        return try primary()
    }

    private mutating func primary() throws(ParseError) -> Expr {
        switch current.kind {
        case .number:
            return .number(try numberLiteral())
        case .string:
            return .string(try stringLiteral("a string"))
        case .lparen:
            advance()
            let inner = try expr()
            _ = try expect(.rparen, "`)`")
            return inner
        case .identifier:
            let word = current.text
            if word == "true" || word == "false" {
                return .bool(word == "true", advance().range)
            }
            if Parser.reserved.contains(word) {
                throw expected("a metric, number, string or `(`")
            }
            if peekKind(1) == .lparen { return .call(try call()) }
            return .selector(try selector())
        default:
            throw expected("a metric, number, string or `(`")
        }
    }

    private mutating func call() throws(ParseError) -> Call {
        let function = try identifier("a function name")
        _ = advance() // (
        var arguments: [Call.Argument] = []
        if !at(.rparen) {
            while true {
                let e = try expr()
                var over: DurationLiteral?
                if atWord("over") {
                    advance()
                    over = try duration("a window like `5m`")
                }
                arguments.append(Call.Argument(expr: e, over: over))
                guard at(.comma) else { break }
                advance()
            }
        }
        let close = try expect(.rparen, arguments.isEmpty ? "an argument or `)`" : "`,` or `)`")
        return Call(function: function, arguments: arguments, range: SourceRange(function.range.start, close.range.end))
    }

    private mutating func selector() throws(ParseError) -> Selector {
        let name = try identifier("a metric name")
        var field: Identifier?
        if at(.dot) {
            advance()
            field = try identifier("a field name after `.`")
        }
        var matchers: [Matcher] = []
        if at(.lbrace) {
            advance()
            if !at(.rbrace) {
                while true {
                    let label = try identifier("a label name")
                    let op: MatchOperator
                    switch current.kind {
                    case .assign: op = .equal
                    case .notEqual: op = .notEqual
                    case .regexMatch: op = .regexMatch
                    case .regexNoMatch: op = .regexNoMatch
                    case .equal:
                        throw ParseError(message: "label matchers use `=`, not `==`", range: current.range, fixIt: "=")
                    default: throw expected("`=`, `!=`, `=~` or `!~`")
                    }
                    advance()
                    let value = try stringLiteral("a quoted label value")
                    matchers.append(Matcher(label: label, op: op, value: value, range: label.range.union(value.range)))
                    guard at(.comma) else { break }
                    advance()
                }
            }
            _ = try expect(.rbrace, "`,` or `}` to close the label matchers")
        }
        return Selector(name: name, field: field, matchers: matchers, range: SourceRange(name.range.start, previousEnd))
    }
}

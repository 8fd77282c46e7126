/// Loads alert rules written in the seed's JSON shape:
///
///     {"high_latency": {"condition": "feed_latency_p95 > 2000ms for > 2min",
///                       "notification": ["slack"], "escalation": "15min",
///                       "severity": "warning", "summary": "…", "labels": {"team": "trading"}}}
///
/// Conditions and escalations are parsed by the rule parser over the decoded string, with every
/// token mapped back to its byte in the JSON file, so diagnostics point inside the string.
public enum SeedJSON {
    static let keys = ["condition", "notification", "escalation", "severity", "summary", "description", "runbook", "labels"]

    public static func load(_ file: SourceFile) -> (RuleFile, [Diagnostic]) {
        var sink = DiagnosticSink(file: file)
        var statements: [Statement] = []
        switch JSONReader.parse(file.bytes) {
        case .failure(let f):
            sink.error("syntax", f.message, f.range)
        case .success(.object(let members, _)):
            for (name, nameRange, value) in members {
                if let rule = alert(name: name, nameRange: nameRange, value, file: file, sink: &sink) {
                    statements.append(.alert(rule))
                }
            }
        case .success(let other):
            sink.error("syntax", "expected an object of alerts (`{\"name\": {\"condition\": …}}`), found \(other.typeName)", other.range)
        }
        return (RuleFile(source: file, statements: statements, comments: []), sink.diagnostics)
    }

    private static func alert(name: String, nameRange: SourceRange, _ node: JSONNode, file: SourceFile,
                              sink: inout DiagnosticSink) -> AlertRule? {
        // The key's range includes its quotes; the name is inside them.
        let nameId = Identifier(name, SourceRange(nameRange.start + 1, nameRange.end - 1))
        guard Template.isIdentifier(name) else {
            sink.error("syntax", "alert name `\(name)` must be an identifier (letters, digits, `_`)", nameId.range)
            return nil
        }
        guard case .object(let members, let range) = node else {
            sink.error("syntax", "alert `\(name)` must be an object with `condition`, `notification` and `escalation`, found \(node.typeName)", node.range)
            return nil
        }
        var clauses: [AlertClause] = []
        var broken: Set<String> = []
        var seen: Set<String> = []
        var escalationSeverity: Severity?
        var severityGiven = false
        for (key, keyRange, value) in members {
            let keyId = Identifier(key, SourceRange(keyRange.start + 1, keyRange.end - 1))
            guard keys.contains(key) else {
                sink.warning("unknown-key", "unknown key `\(key)` in alert `\(name)` is ignored", keyId.range,
                             notes: [.init("keys are: \(keys.joined(separator: ", "))")], fixIt: closest(key, in: keys))
                continue
            }
            guard seen.insert(key).inserted else {
                sink.error("duplicate-clause", "alert `\(name)` already has `\(key)`", keyId.range)
                continue
            }
            let clauseKeyword = Identifier(keyword(for: key), keyId.range)
            func add(_ body: AlertClause.Body) {
                clauses.append(AlertClause(keyword: clauseKeyword, body: body, range: keyRange.union(value.range)))
            }
            switch (key, value) {
            case ("condition", .string(let text, let offsets, _)):
                let (c, d) = Parser.parseFragment(Array(text.utf8), offsetMap: offsets, file: file) { p throws(ParseError) in try p.condition() }
                for x in d { sink.append(x) }
                if let c { add(.when(c)) } else { broken.insert("when") }
            case ("notification", .array(let items, _)):
                var channels: [Identifier] = []
                for item in items {
                    if case .string(let s, let o, _) = item, Template.isIdentifier(s) {
                        channels.append(Identifier(s, SourceRange(o.first ?? item.range.start, o.last ?? item.range.end)))
                    } else {
                        sink.error("bad-value", "a notification entry must be a channel name string", item.range)
                    }
                }
                if channels.isEmpty {
                    sink.error("bad-value", "`notification` needs at least one channel", value.range)
                    broken.insert("notify")
                } else {
                    add(.notify(channels))
                }
            case ("notification", .string(let s, let o, _)) where Template.isIdentifier(s):
                add(.notify([Identifier(s, SourceRange(o.first ?? value.range.start, o.last ?? value.range.end))]))
            case ("escalation", .string(let text, let offsets, _)):
                let (step, d) = Parser.parseFragment(Array(text.utf8), offsetMap: offsets, file: file) { p throws(ParseError) in try p.escalationStep() }
                for x in d { sink.append(x) }
                if let step {
                    add(.escalate(step))
                    switch step.kind {
                    case .immediate: escalationSeverity = .critical
                    case .none: escalationSeverity = .info
                    case .after: escalationSeverity = .warning
                    }
                }
            case ("severity", .string(let s, let o, _)):
                severityGiven = true
                if let sev = Severity(rawValue: s) {
                    add(.severity(sev, SourceRange(o.first ?? value.range.start, o.last ?? value.range.end)))
                } else {
                    sink.error("syntax", "expected `critical`, `warning` or `info`, found \"\(s)\"", value.range,
                               fixIt: closest(s, in: Severity.allCases.map(\.rawValue)))
                    broken.insert("severity")
                }
            case ("summary", .string(let s, _, let r)), ("description", .string(let s, _, let r)), ("runbook", .string(let s, _, let r)):
                let literal = StringLiteral(value: s, spelling: file.text(r), range: r)
                add(.text(AlertClause.TextKind(rawValue: key) ?? .summary, literal))
            case ("labels", .object(let labelMembers, _)):
                for (k, kr, v) in labelMembers {
                    guard Template.isIdentifier(k), case .string(let s, _, let r) = v else {
                        sink.error("bad-value", "labels must map label names to strings", kr.union(v.range))
                        continue
                    }
                    clauses.append(AlertClause(keyword: Identifier("label", kr), body: .label(Identifier(k, SourceRange(kr.start + 1, kr.end - 1)),
                                               StringLiteral(value: s, spelling: file.text(r), range: r)), range: kr.union(r)))
                }
            default:
                let want = ["notification": "an array of channel names", "labels": "an object of strings"][key] ?? "a string"
                sink.error("bad-value", "`\(key)` must be \(want), found \(value.typeName)", value.range)
                broken.insert(clauseKeyword.name)
            }
        }
        if !severityGiven, let s = escalationSeverity {
            // SPEC §5: without severity, immediate is critical, none info, and any delay warning.
            clauses.append(AlertClause(keyword: Identifier("severity", nameId.range), body: .severity(s, nameId.range), range: nameId.range))
        } else if !severityGiven, !seen.contains("escalation") {
            broken.insert("severity") // reported as the missing escalation below
        }
        if !seen.contains("escalation") {
            sink.error("missing-clause", "alert `\(name)` has no `escalation` (\"immediate\", \"none\" or a delay like \"15min\")", nameId.range)
        }
        return AlertRule(name: nameId, clauses: clauses, range: range, bodyEnd: range.end, brokenClauses: broken)
    }

    private static func keyword(for key: String) -> String {
        switch key {
        case "condition": "when"
        case "notification": "notify"
        case "escalation": "escalate"
        default: key
        }
    }
}

import Foundation
import Synchronization
import VigilAlerting
import VigilEngine
import VigilRules
import VigilSidecar

/// `vigil alerts`, `vigil ack`, `vigil silence add|ls|rm`: the operator's side of the API.
enum OperatorCommands {
    static let common = [OptionSpec(name: "--http", valueName: "HOST:PORT"), OptionSpec(name: "--api-token-file", valueName: "FILE")]

    static let alertsUsage = """
    Usage: vigil alerts [--http HOST:PORT] [--api-token-file FILE]

    Lists pending and firing alerts of a running sidecar: state, alert, labels, since, acked.

    """

    static let ackUsage = """
    Usage: vigil ack FINGERPRINT|ALERT{labels} [--for DURATION] [--comment TEXT] [--http HOST:PORT] [--api-token-file FILE]

    Acknowledges a firing alert: its repeats and pending escalation stop until it resolves (or
    the ack expires), and PagerDuty is told. ALERT{labels} acknowledges every firing alert of
    that name whose labels include those given.

    """

    static let silenceUsage = """
    Usage: vigil silence add MATCHERS --for DURATION --comment TEXT [--author NAME]
           vigil silence ls
           vigil silence rm ID
           (each also takes --http HOST:PORT and --api-token-file FILE)

    MATCHERS are label matchers, like 'alertname="stale_data", venue=~"kal.*"'.

    """

    /// The API's answer, or why it could not be had.
    struct Client {
        let base: String
        let token: String?

        init(_ parsed: ParsedArguments) throws(UsageError) {
            base = "http://" + (parsed.value("--http") ?? "127.0.0.1:9177")
            if let file = parsed.value("--api-token-file") {
                guard let text = SecretFile.read(file) else {
                    throw UsageError(message: "cannot read a token from '\(file)'", command: nil)
                }
                token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            } else {
                token = nil
            }
        }

        enum Failure: Error { case unreachable(String), status(Int, String) }

        func call(_ method: String, _ path: String, body: String? = nil) -> Result<String, Failure> {
            var headers: [String] = []
            if let token { headers.append("Authorization: Bearer \(token)") }
            if body != nil { headers.append("Content-Type: application/json") }
            switch HTTPClient.request(method, base + path, headers: headers, body: Array((body ?? "").utf8),
                                      timeout: 5_000_000_000, maxBody: Client.maxAnswer) {
            case .failure(let f):
                if case .cannotConnect = f.result { return .failure(.unreachable("cannot reach vigil at \(base) (is `vigil run` running?)")) }
                return .failure(.unreachable("vigil at \(base): \(f.result)"))
            case .success(let a):
                let text = String(decoding: a.body, as: UTF8.self)
                return (200..<300).contains(a.status) ? .success(text) : .failure(.status(a.status, text))
            }
        }

        /// The most of an API answer read (every alert and silence of a large incident fits).
        static let maxAnswer = 64 << 20
    }

    /// Prints a failure in one line; exit 1.
    static func fail(_ f: Client.Failure, _ terminal: Terminal) -> ExitCode {
        switch f {
        case .unreachable(let why): terminal.err("error: \(why)\n")
        case .status(let code, let body):
            let message = ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any])?["error"] as? String ?? body
            terminal.err("error: vigil answered \(code): \(message)\n")
        }
        return .failure
    }

    static func alerts(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: common, command: "alerts", maxPositionals: 0)
        switch try Client(parsed).call("GET", "/api/v1/alerts") {
        case .failure(let f): return fail(f, terminal)
        case .success(let body):
            let list = ((try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]]) ?? []
            if list.isEmpty {
                terminal.out("no pending or firing alerts\n")
                return .success
            }
            var rows = [["STATE", "ALERT", "LABELS", "SINCE", "ACKED", "FINGERPRINT"]]
            for a in list {
                let labels = ((a["labels"] as? [String: String]) ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                rows.append([a["state"] as? String ?? "?", a["alert"] as? String ?? "?", labels.isEmpty ? "-" : labels,
                             a["activeAt"] as? String ?? "?", (a["acked"] as? Bool) == true ? "yes" : "no", a["fingerprint"] as? String ?? "?"])
            }
            let widths = (0..<rows[0].count).map { c in rows.map { $0[c].count }.max() ?? 0 }
            for row in rows {
                terminal.out(row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }
                    .joined(separator: "  ").trimmingCharacters(in: .whitespaces) + "\n")
            }
            return .success
        }
    }

    static func ack(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        let parsed = try scanArguments(args, options: common + [OptionSpec(name: "--for", valueName: "DURATION"), OptionSpec(name: "--comment", valueName: "TEXT")],
                                       command: "ack", maxPositionals: 1)
        guard let target = parsed.positionals.first else { throw UsageError(message: "ack needs a fingerprint or ALERT{labels}", command: "ack") }
        var body: [String] = []
        if let d = parsed.value("--for") {
            if case .failure(let e) = Quantity.positiveDuration(d, field: "--for", example: "30m") { throw UsageError(message: e.message, command: "ack") }
            body.append("\"for\":\(jsonString(d))")
        }
        if let c = parsed.value("--comment") { body.append("\"comment\":\(jsonString(c))") }
        let client = try Client(parsed)
        var fingerprints: [String] = []
        if target.count == 16, target.allSatisfy(\.isHexDigit) {
            fingerprints = [target]
        } else {
            let name: String, labels: [Label]
            do throws(RuleTestFile.ParseError) {
                let (n, l, rest) = try RuleTestFile.selector(target, 0)
                guard rest.trimmingCharacters(in: .whitespaces).isEmpty else { throw RuleTestFile.ParseError(line: 0, message: "") }
                (name, labels) = (n, l)
            } catch {
                throw UsageError(message: "'\(target)' is neither a fingerprint nor ALERT{labels}", command: "ack")
            }
            switch client.call("GET", "/api/v1/alerts") {
            case .failure(let f): return fail(f, terminal)
            case .success(let text):
                let list = ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]]) ?? []
                fingerprints = list.filter { a in
                    let l = (a["labels"] as? [String: String]) ?? [:]
                    return a["alert"] as? String == name && a["state"] as? String == "firing" && labels.allSatisfy { l[$0.name] == $0.value }
                }.compactMap { $0["fingerprint"] as? String }
            }
            guard !fingerprints.isEmpty else {
                terminal.err("error: no firing alert matches \(target)\n")
                return .failure
            }
        }
        for fp in fingerprints {
            if case .failure(let f) = client.call("POST", "/api/v1/alerts/\(fp)/ack", body: "{" + body.joined(separator: ",") + "}") { return fail(f, terminal) }
            terminal.out("acknowledged \(fp)\n")
        }
        return .success
    }

    static func silence(_ args: [String], _ terminal: Terminal) throws(UsageError) -> ExitCode {
        guard let sub = args.first else { throw UsageError(message: "silence needs add, ls or rm", command: "silence") }
        let rest = Array(args.dropFirst())
        switch sub {
        case "add":
            let parsed = try scanArguments(rest, options: common + [OptionSpec(name: "--for", valueName: "DURATION"), OptionSpec(name: "--comment", valueName: "TEXT"),
                                                                   OptionSpec(name: "--author", valueName: "NAME")], command: "silence", maxPositionals: 1)
            guard let matchers = parsed.positionals.first else { throw UsageError(message: "silence add needs MATCHERS, like 'alertname=\"stale_data\"'", command: "silence") }
            if case .failure(let e) = LabelMatcher.parseList(matchers) { throw UsageError(message: e.message, command: "silence") }
            guard let d = parsed.value("--for") else { throw UsageError(message: "silence add needs --for DURATION, like 2h", command: "silence") }
            if case .failure(let e) = Quantity.positiveDuration(d, field: "--for", example: "2h") { throw UsageError(message: e.message, command: "silence") }
            guard let comment = parsed.value("--comment") else { throw UsageError(message: "silence add needs --comment TEXT (say why)", command: "silence") }
            let author = parsed.value("--author") ?? ProcessInfo.processInfo.environment["USER"] ?? "cli"
            let body = "{\"matchers\":\(jsonString(matchers)),\"for\":\(jsonString(d)),\"comment\":\(jsonString(comment)),\"createdBy\":\(jsonString(author))}"
            switch try Client(parsed).call("POST", "/api/v1/silences", body: body) {
            case .failure(let f): return fail(f, terminal)
            case .success(let text):
                let id = ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any])?["id"] as? String ?? "?"
                terminal.out("silence \(id) added\n")
                return .success
            }
        case "ls":
            let parsed = try scanArguments(rest, options: common, command: "silence", maxPositionals: 0)
            switch try Client(parsed).call("GET", "/api/v1/silences") {
            case .failure(let f): return fail(f, terminal)
            case .success(let text):
                let list = ((try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [[String: Any]]) ?? []
                if list.isEmpty { terminal.out("no active silences\n") }
                for s in list {
                    terminal.out("\(s["id"] as? String ?? "?")  \(s["matchers"] as? String ?? "?")  until \(s["endsAt"] as? String ?? "?")  by \(s["createdBy"] as? String ?? "?"): \(s["comment"] as? String ?? "")\n")
                }
                return .success
            }
        case "rm":
            let parsed = try scanArguments(rest, options: common, command: "silence", maxPositionals: 1)
            guard let id = parsed.positionals.first else { throw UsageError(message: "silence rm needs an ID (see 'vigil silence ls')", command: "silence") }
            switch try Client(parsed).call("DELETE", "/api/v1/silences/\(id)") {
            case .failure(let f): return fail(f, terminal)
            case .success:
                terminal.out("silence \(id) removed\n")
                return .success
            }
        default:
            throw UsageError(message: "unknown silence command '\(sub)'; expected add, ls or rm", command: "silence")
        }
    }
}

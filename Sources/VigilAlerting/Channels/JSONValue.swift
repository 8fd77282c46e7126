import Foundation
import VigilEngine
import VigilRules

/// A JSON value with ordered object keys, so payloads serialize the same every time (golden files).
public indirect enum JSONValue: Equatable, Sendable {
    case object([(String, JSONValue)])
    case array([JSONValue])
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public static func == (a: JSONValue, b: JSONValue) -> Bool { a.serialized() == b.serialized() }

    /// Compact JSON.
    public func serialized() -> String {
        switch self {
        case .object(let members): "{" + members.map { jsonString($0.0) + ":" + $0.1.serialized() }.joined(separator: ",") + "}"
        case .array(let items): "[" + items.map { $0.serialized() }.joined(separator: ",") + "]"
        case .string(let s): jsonString(s)
        case .number(let n): n.isFinite ? formatNumber(n) : "null"
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }

    /// Labels as a JSON object.
    static func labels(_ labels: [Label]) -> JSONValue { .object(labels.map { ($0.name, .string($0.value)) }) }
}

/// Cuts `text` to at most `limit` characters, marking the cut.
func truncate(_ text: String, _ limit: Int) -> String {
    text.count <= limit ? text : String(text.prefix(limit - 1)) + "…"
}

extension String {
    public func trimmingSuffix(_ s: String) -> String { hasSuffix(s) ? String(dropLast(s.count)) : self }
}

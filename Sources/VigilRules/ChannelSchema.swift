/// What lint knows of a channel type: the settings its block takes and those it needs. The
/// integrations themselves (request, response, pacing) are VigilAlerting's `ChannelType.all`;
/// a test keeps the two lists naming the same types.
public struct ChannelSchema: Sendable {
    public let type: String
    /// Settings besides `type`.
    public let settings: [String]
    public let required: [String]
    /// Settings that take several comma-separated values.
    public var lists: [String] = []

    public static let builtin: [ChannelSchema] = [
        ChannelSchema(type: "slack", settings: ["url", "timeout", "rate"], required: ["url"]),
        ChannelSchema(type: "pagerduty", settings: ["routing_key", "url", "timeout", "source"], required: ["routing_key"]),
        ChannelSchema(type: "smtp", settings: ["smarthost", "from", "to", "hello", "require_tls", "auth_username", "auth_password", "ca_file", "timeout"],
                      required: ["smarthost", "from", "to"], lists: ["to"]),
        ChannelSchema(type: "resend", settings: ["api_key", "from", "to", "url", "timeout"], required: ["api_key", "from", "to"], lists: ["to"]),
        ChannelSchema(type: "webhook", settings: ["url", "timeout", "max_alerts"], required: ["url"]),
        // `url` lists the peers of an Alertmanager cluster; `resend` is how often the state is re-sent.
        ChannelSchema(type: "alertmanager", settings: ["url", "timeout", "resend"], required: ["url"], lists: ["url"]),
        ChannelSchema(type: "console", settings: [], required: []),
    ]

    public static let typeNames = builtin.map(\.type)

    public static func named(_ type: String) -> ChannelSchema? { builtin.first { $0.type == type } }
}

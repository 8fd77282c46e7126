import Foundation
import VigilAlerting
import VigilEngine
import VigilRules

/// The HTTP API of SPEC §6 over a running sidecar. Reads come from the sidecar's snapshot;
/// mutations run on its core thread and need `Authorization: Bearer TOKEN` when a token is set.
public struct API: Sendable {
    public let sidecar: Sidecar
    public let token: String?
    /// Reloads rules and config: (it worked, what to say).
    public let reload: (@Sendable () -> (Bool, String))?

    public init(sidecar: Sidecar, token: String?, reload: (@Sendable () -> (Bool, String))? = nil) {
        self.sidecar = sidecar
        self.token = token
        self.reload = reload
    }

    public func handle(_ r: HTTPRequest) -> HTTPResponse {
        let parts = r.path.split(separator: "/").map(String.init)
        // /api/v1/alerts/{fp}/ack and /api/v1/silences/{id} carry an id: route them first.
        if parts.count == 5, parts[0...2] == ["api", "v1", "alerts"], parts[4] == "ack" {
            guard r.method == "POST" else { return HTTPResponse(status: 405, body: Data("{\"error\":\"method not allowed\"}".utf8), headers: ["Allow": "POST"]) }
            return acknowledge(r, fingerprint: parts[3])
        }
        if parts.count == 4, parts[0...2] == ["api", "v1", "silences"] {
            guard r.method == "DELETE" else { return HTTPResponse(status: 405, body: Data("{\"error\":\"method not allowed\"}".utf8), headers: ["Allow": "DELETE"]) }
            if let denied = authorize(r) { return denied }
            return reply(sidecar.run(.removeSilence(id: parts[3])), created: false)
        }
        if r.method == "GET", let page = Page.asset(r.path) { return page } // the on-call page
        switch (r.method, parts) {
        case ("GET", ["health"]):
            return .json(200, "{\"status\":\"ok\",\"timestamp\":\"\(WallClock().now().rfc3339)\"}")
        case ("GET", ["ready"]):
            guard sidecar.snapshot.connected else {
                return .json(503, "{\"status\":\"not ready\",\"reason\":\"the stream is not connected\"}")
            }
            let down = sidecar.monitor.criticalNotUp
            guard down.isEmpty else {
                return .json(503, "{\"status\":\"not ready\",\"reason\":\(jsonString("critical dependencies are not up: " + down.joined(separator: ", ")))}")
            }
            return .json(200, "{\"status\":\"ready\"}")
        case ("GET", ["health", "detailed"]):
            return .json(200, detailed())
        case ("GET", ["metrics"]):
            return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Data(metrics().utf8))
        case ("GET", ["api", "v1", "alerts"]):
            guard let json = alertsJSON() else { return .error(503, "the core did not answer in time") }
            return .json(200, json)
        case ("GET", ["api", "v1", "rules"]):
            let evaluated = sidecar.lastEvaluations() ?? [:]
            return .json(200, "[" + sidecar.snapshot.rules.map { API.ruleJSON($0, lastEvaluation: evaluated[$0.name]) }.joined(separator: ",") + "]")
        case ("GET", let p) where p.count == 4 && p[0] == "api" && p[1] == "v1" && p[2] == "rules":
            // One rule: where an Alertmanager alert's generatorURL points.
            guard let rule = sidecar.snapshot.rules.first(where: { $0.name == p[3] }) else { return .error(404, "no rule is named \(p[3])") }
            return .json(200, API.ruleJSON(rule, lastEvaluation: sidecar.lastEvaluations()?[rule.name]))
        case ("GET", ["api", "v1", "delivery"]):
            return .json(200, deliveryJSON())
        case ("GET", ["api", "v1", "silences"]):
            guard let now = sidecar.alerts() else { return .error(503, "the core did not answer in time") }
            return .json(200, "[" + now.silences.map(silenceJSON).joined(separator: ",") + "]")
        case ("POST", ["api", "v1", "silences"]):
            if let denied = authorize(r) { return denied }
            guard let body = (try? JSONSerialization.jsonObject(with: r.body)) as? [String: Any], let text = body["matchers"] as? String else {
                return .error(400, "the body must be {\"matchers\": \"name=\\\"value\\\", …\", \"for\": \"2h\", \"comment\": \"…\"}")
            }
            guard case .success(let matchers) = LabelMatcher.parseList(text) else {
                if case .failure(let e) = LabelMatcher.parseList(text) { return .error(400, e.message) }
                return .error(400, "invalid matchers")
            }
            guard let forText = body["for"] as? String else { return .error(400, "`for` must be a duration like 2h") }
            let ns: Int64
            switch Quantity.positiveDuration(forText, field: "for", example: "2h") {
            case .success(let d): ns = d
            case .failure(let e): return .error(400, e.message)
            }
            guard let comment = body["comment"] as? String, !comment.isEmpty else { return .error(400, "a silence needs a `comment`") }
            let author = (body["createdBy"] as? String) ?? "api"
            return reply(sidecar.run(.addSilence(matchers: matchers, duration: ns, createdBy: author, comment: comment)), created: true)
        case ("POST", ["-", "reload"]):
            if let denied = authorize(r) { return denied }
            guard let reload else { return .error(503, "this sidecar cannot reload") }
            let (ok, message) = reload()
            return ok ? .json(200, "{\"status\":\"reloaded\",\"detail\":\(jsonString(message))}") : .error(400, message)
        case (_, ["health"]), (_, ["ready"]), (_, ["metrics"]), (_, ["api", "v1", "alerts"]), (_, ["api", "v1", "rules"]), (_, ["api", "v1", "silences"]),
             (_, ["api", "v1", "delivery"]):
            return HTTPResponse(status: 405, body: Data("{\"error\":\"method not allowed\"}".utf8), headers: ["Allow": "GET"])
        default:
            return .error(404, "no such endpoint: \(r.method) \(r.path)")
        }
    }

    private func acknowledge(_ r: HTTPRequest, fingerprint fp: String) -> HTTPResponse {
        if let denied = authorize(r) { return denied }
        let body = (try? JSONSerialization.jsonObject(with: r.body.isEmpty ? Data("{}".utf8) : r.body)) as? [String: Any]
        guard let body else { return .error(400, "the body must be a JSON object") }
        var duration: Int64?
        if let text = body["for"] as? String {
            switch Quantity.positiveDuration(text, field: "for", example: "30m") {
            case .success(let ns): duration = ns
            case .failure(let e): return .error(400, e.message)
            }
        }
        let by = (body["by"] as? String).map { String($0.prefix(200)) } ?? "api"
        let comment = (body["comment"] as? String).map { String($0.prefix(2000)) } ?? ""
        return reply(sidecar.run(.ack(fingerprint: fp, for: duration, by: by, comment: comment)), created: false)
    }

    private func authorize(_ r: HTTPRequest) -> HTTPResponse? {
        guard let token else { return nil }
        if r.headers["authorization"] == "Bearer \(token)" { return nil }
        return HTTPResponse(status: 401, body: Data("{\"error\":\"a bearer token is required for this request\"}".utf8), headers: ["WWW-Authenticate": "Bearer"])
    }

    static func ruleJSON(_ r: Sidecar.RuleEntry, lastEvaluation: Instant?) -> String {
        "{\"name\":\(jsonString(r.name)),\"severity\":\"\(r.severity.rawValue)\",\"channels\":[\(r.channels.map(jsonString).joined(separator: ","))],"
            + "\"file\":\(jsonString(r.file)),\"line\":\(r.line),\"lastEvaluation\":\(lastEvaluation.map { "\"\($0.rfc3339)\"" } ?? "null")}"
    }

    private func reply(_ r: Sidecar.Reply?, created: Bool) -> HTTPResponse {
        switch r {
        case .ok(let id)?: return .json(created ? 201 : 200, "{\"status\":\"ok\",\"id\":\(jsonString(id))}")
        case .notFound(let why)?: return .error(404, why)
        case .refused(let why)?: return .error(429, why)
        case .upstream(let why)?: return .error(502, why)
        case nil: return .error(503, "the core did not answer in time")
        }
    }

    /// Pending and firing alerts; a firing one also with what routing knows of it (`Router.Status`):
    /// `summary`, `runbook`, `ack` (`until`, null while it fires; `by`, `comment`), `next` (the
    /// next escalation step's `channels` and `at`), `silencedBy` (silence ids), `inhibitedBy`.
    func alertsJSON() -> String? {
        guard let s = sidecar.alerts() else { return nil }
        let severities = sidecar.snapshot.severities
        func text(_ v: String?) -> String { v.map(jsonString) ?? "null" }
        return "[" + s.alerts.map { a in
            let fp = fingerprint(alert: a.alert, labels: a.labels)
            let labels = a.labels.map { "\(jsonString($0.name)):\(jsonString($0.value))" }.joined(separator: ",")
            var json = "{\"fingerprint\":\"\(fp)\",\"alert\":\(jsonString(a.alert)),\"labels\":{\(labels)},\"state\":\"\(a.state.rawValue)\","
                + "\"severity\":\"\((severities[a.alert] ?? .warning).rawValue)\","
                + "\"activeAt\":\"\(a.activeAt.rfc3339)\",\"value\":\(a.stringValue.map(jsonString) ?? (a.value.isFinite ? formatNumber(a.value) : "null")),\"acked\":\(s.acked.contains(fp))"
            if let st = s.statuses[fp] {
                let ack = st.ackedUntil.map { until in
                    "{\"until\":\(until.nanoseconds == .max ? "null" : "\"\(until.rfc3339)\""),\"by\":\(text(st.ackedBy)),\"comment\":\(text(st.ackComment))}"
                } ?? "null"
                let next = st.nextStep.map { "{\"channels\":[\($0.channels.map(jsonString).joined(separator: ","))],\"at\":\"\($0.at.rfc3339)\"}" } ?? "null"
                json += ",\"summary\":\(jsonString(st.info.summary)),\"runbook\":\(text(st.info.runbook)),\"ack\":\(ack),\"next\":\(next),"
                    + "\"silencedBy\":[\(st.silencedBy.map(jsonString).joined(separator: ","))],\"inhibitedBy\":\(text(st.inhibitedBy))"
            }
            return json + "}"
        }.joined(separator: ",") + "]"
    }

    /// Per channel: its type, counts, outbox depth, last success and last error (in words); and
    /// the last 100 notifications with their delivery status, newest first.
    func deliveryJSON() -> String {
        let delivery = sidecar.delivery
        let stats = delivery.stats
        let health = delivery.health
        let depth = delivery.outbox.depth
        func time(_ d: Date?) -> String { d.map { "\"\(Instant(seconds: $0.timeIntervalSince1970).rfc3339)\"" } ?? "null" }
        let channels = delivery.config.channels.values.sorted { $0.name < $1.name }.map { c in
            let s = stats[c.name] ?? DeliveryStats(), h = health[c.name] ?? ChannelHealth()
            return "{\"name\":\(jsonString(c.name)),\"type\":\"\(c.type.name)\",\"sent\":\(s.sent),\"failed\":\(s.failed),\"retried\":\(s.retried),"
                + "\"relayed\":\(s.relayed),\"outbox\":\(depth[c.name] ?? 0),\"lastSuccess\":\(time(h.lastSuccess)),"
                + "\"lastError\":\(h.lastError.map(jsonString) ?? "null"),\"lastErrorAt\":\(time(h.lastErrorAt))}"
        }
        let recent = delivery.recent.map { r in
            "{\"at\":\"\(r.at.rfc3339)\",\"channel\":\(jsonString(r.channel)),\"kind\":\"\(r.kind.rawValue)\",\"alert\":\(jsonString(r.alert)),"
                + "\"labels\":{\(r.labels.map { "\(jsonString($0.name)):\(jsonString($0.value))" }.joined(separator: ","))},"
                + "\"status\":\"\(r.status)\",\"detail\":\(r.detail.map(jsonString) ?? "null")}"
        }
        return "{\"channels\":[\(channels.joined(separator: ","))],\"recent\":[\(recent.joined(separator: ","))]}"
    }

    private func silenceJSON(_ s: Silence) -> String {
        "{\"id\":\(jsonString(s.id)),\"matchers\":\(jsonString(s.matchers.map(\.description).joined(separator: ", "))),\"startsAt\":\"\(s.startsAt.rfc3339)\","
            + "\"endsAt\":\"\(s.endsAt.rfc3339)\",\"createdBy\":\(jsonString(s.createdBy)),\"comment\":\(jsonString(s.comment))}"
    }

    private func detailed() -> String {
        let s = sidecar.snapshot
        let outbox = sidecar.delivery.outbox.depth.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\($0.value)" }.joined(separator: ",")
        let rejected = s.rejected.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\"\($0.key.rawValue)\":\($0.value)" }.joined(separator: ",")
        let probes = sidecar.monitor.probes
        let healthy = s.connected && !probes.contains { $0.critical && $0.up != true }
        func time(_ d: Date?) -> String { d.map { "\"\(Instant(seconds: $0.timeIntervalSince1970).rfc3339)\"" } ?? "null" }
        func state(_ up: Bool?) -> String { up.map { $0 ? "\"up\"" : "\"down\"" } ?? "\"unknown\"" }
        let dependencies = probes.map { p in
            "{\"name\":\(jsonString(p.name)),\"type\":\"\(p.kind)\",\"target\":\(jsonString(p.target)),\"critical\":\(p.critical),\"status\":\(state(p.up)),"
                + "\"last_check\":\(time(p.lastCheck)),\"last_duration_seconds\":\(p.lastDuration.map(formatNumber) ?? "null"),"
                + "\"last_error\":\(p.lastError.map(jsonString) ?? "null"),\"next_check\":\(time(p.nextCheck))}"
        }
        let processes = sidecar.monitor.watches.map { w in
            "{\"name\":\(jsonString(w.name)),\"pid\":\(w.pid.map { "\($0)" } ?? "null"),\"status\":\(state(w.up)),"
                + "\"last_check\":\(time(w.lastCheck)),\"last_error\":\(w.lastError.map(jsonString) ?? "null")}"
        }
        return "{\"status\":\"\(healthy ? "healthy" : "degraded")\",\"stream\":{\"connected\":\(s.connected),\"last_message_age_seconds\":\(formatNumber(s.secondsSinceLastMessage)),"
            + "\"lines\":\(s.lines),\"samples\":\(s.samples),\"rejected\":{\(rejected)}},\"rules_loaded\":\(s.rules.count),"
            + "\"active_alerts\":\(s.pending + s.firing),\"outbox\":{\(outbox)},"
            + "\"dependencies\":[\(dependencies.joined(separator: ","))],\"processes\":[\(processes.joined(separator: ","))]}"
    }

    /// Prometheus text format (version 0.0.4).
    func metrics() -> String {
        let s = sidecar.snapshot
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(String, Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for (labels, v) in samples { out += "\(name)\(labels) \(formatNumber(v))\n" }
        }
        func label(_ k: String, _ v: String) -> String { "{\(k)=\(jsonString(v))}" }
        family("vigil_stream_lines_total", "counter", "Stream lines read.", [("", Double(s.lines))])
        if !s.tailLines.isEmpty {
            family("vigil_tail_lines_total", "counter", "Lines read from each tail's files, across restarts with --state-dir.",
                   s.tailLines.sorted { $0.key < $1.key }.map { (label("tail", $0.key), Double($0.value)) })
        }
        if !s.scrapes.isEmpty {
            family("vigil_scrapes_total", "counter", "Scrapes of each target, by result (failed: no answer, an HTTP error, a body too large or not parsed).",
                   s.scrapes.sorted { $0.key < $1.key }.flatMap { name, c in
                       [("{scrape=\(jsonString(name)),result=\"ok\"}", Double(c.succeeded)), ("{scrape=\(jsonString(name)),result=\"failed\"}", Double(c.failed))]
                   })
        }
        family("vigil_stream_samples_total", "counter", "Samples applied to series.", [("", Double(s.samples))])
        family("vigil_stream_rejected_total", "counter", "Stream lines or samples dropped, by reason.",
               RejectReason.allCases.map { (label("reason", $0.rawValue), Double(s.rejected[$0] ?? 0)) })
        family("vigil_stream_connected", "gauge", "1 while the stream is connected.", [("", s.connected ? 1 : 0)])
        family("vigil_rule_evaluations_total", "counter", "Rule evaluations.", [("", Double(s.evaluations))])
        out += "# HELP vigil_evaluation_latency_seconds Per-line decode and evaluation time (batch averages).\n# TYPE vigil_evaluation_latency_seconds histogram\n"
        for (i, bound) in Sidecar.Snapshot.latencyBuckets.enumerated() {
            out += "vigil_evaluation_latency_seconds_bucket{le=\"\(bound)\"} \(s.latencyCounts[i])\n"
        }
        out += "vigil_evaluation_latency_seconds_bucket{le=\"+Inf\"} \(s.latencyCount)\n"
        out += "vigil_evaluation_latency_seconds_sum \(s.latencySum)\nvigil_evaluation_latency_seconds_count \(s.latencyCount)\n"
        family("vigil_rules_loaded", "gauge", "Alert rules loaded.", [("", Double(s.rules.count))])
        family("vigil_alerts", "gauge", "Alert instances by state.", [(label("state", "pending"), Double(s.pending)), (label("state", "firing"), Double(s.firing))])
        family("vigil_alert_transitions_total", "counter", "Alert state changes.", ["pending", "firing", "resolved"].map { (label("state", $0), Double(s.transitions[$0] ?? 0)) })
        let stats = sidecar.delivery.stats
        let channels = sidecar.delivery.config.channels.keys.sorted()
        family("vigil_notifications_sent_total", "counter", "Notifications delivered, per channel.", channels.map { (label("channel", $0), Double(stats[$0]?.sent ?? 0)) })
        family("vigil_notifications_failed_total", "counter", "Notifications that finally failed, per channel.", channels.map { (label("channel", $0), Double(stats[$0]?.failed ?? 0)) })
        family("vigil_notifications_retried_total", "counter", "Delivery retries, per channel.", channels.map { (label("channel", $0), Double(stats[$0]?.retried ?? 0)) })
        family("vigil_notifications_relayed_total", "counter", "Cluster mode: notifications handed to the Alertmanager cluster, which delivers them, per channel.",
               channels.map { (label("channel", $0), Double(stats[$0]?.relayed ?? 0)) })
        let depth = sidecar.delivery.outbox.depth
        family("vigil_outbox_depth", "gauge", "Notifications waiting in the outbox, per channel.", channels.map { (label("channel", $0), Double(depth[$0] ?? 0)) })
        family("vigil_config_last_reload_successful", "gauge", "1 if the last configuration load succeeded.", [("", s.lastReloadSuccessful ? 1 : 0)])
        let probes = sidecar.monitor.probes.filter { $0.up != nil }
        if !probes.isEmpty {
            family("vigil_probe_up", "gauge", "1 if the probe's last check succeeded.", probes.map { (label("probe", $0.name), $0.up == true ? 1 : 0) })
            family("vigil_probe_duration_seconds", "gauge", "How long the probe's last check took.", probes.map { (label("probe", $0.name), $0.lastDuration ?? 0) })
        }
        let watches = sidecar.monitor.watches.filter { $0.up != nil }
        if !watches.isEmpty {
            family("vigil_watched_process_up", "gauge", "1 if the watched process was found at the last check.",
                   watches.map { (label("process", $0.name), $0.up == true ? 1 : 0) })
        }
        family("vigil_process_resident_memory_bytes", "gauge", "Resident set size.", [("", Double(ProcFS.residentBytes(getpid()) ?? 0))])
        family("vigil_process_cpu_seconds_total", "counter", "CPU time used.", [("", API.cpuSeconds())])
        // The standard process metrics, under the names every Prometheus client library uses.
        if let p = ProcFS.process(getpid()) {
            family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", [("", Double(p.rssBytes))])
            family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", [("", Double(p.vmsBytes))])
            family("process_open_fds", "gauge", "Number of open file descriptors.", [("", Double(p.openFDs))])
            if let boot = ProcFS.bootTime() {
                family("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.",
                       [("", Double(boot) + Double(p.startTicks) / Double(ProcFS.ticksPerSecond))])
            }
        }
        family("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", [("", API.cpuSeconds())])
        family("vigil_build_info", "gauge", "vigil's version, as a label; always 1.", [("{version=\(API.labelValue(Build.version))}", 1)])
        alertSeries(&out)
        return out
    }

    /// `ALERTS` and `ALERTS_FOR_STATE`, as Prometheus' rule manager exposes them: one series per
    /// pending or firing instance, labelled `alertname`, (for ALERTS) `alertstate`, `severity`
    /// and the instance's own labels; ALERTS_FOR_STATE's value is when it became active.
    private func alertSeries(_ out: inout String) {
        guard let alerts = sidecar.alerts()?.alerts else { return }
        let severity = sidecar.snapshot.severities.mapValues(\.rawValue)
        func labels(_ a: InstanceSnapshot, state: String?) -> String {
            var pairs = [("alertname", a.alert)]
            if let state { pairs.append(("alertstate", state)) }
            if let s = severity[a.alert], !a.labels.contains(where: { $0.name == "severity" }) { pairs.append(("severity", s)) }
            pairs += a.labels.filter { $0.name != "alertname" && $0.name != "alertstate" }.map { ($0.name, $0.value) }
            return "{" + pairs.map { "\($0.0)=\(API.labelValue($0.1))" }.joined(separator: ",") + "}"
        }
        let active = alerts.filter { $0.state == .pending || $0.state == .firing }
        out += "# HELP ALERTS Pending and firing alerts, as Prometheus exposes them.\n# TYPE ALERTS gauge\n"
        for a in active { out += "ALERTS\(labels(a, state: a.state.rawValue)) 1\n" }
        out += "# HELP ALERTS_FOR_STATE When each pending or firing alert became active, in Unix seconds.\n# TYPE ALERTS_FOR_STATE gauge\n"
        for a in active { out += "ALERTS_FOR_STATE\(labels(a, state: nil)) \(formatNumber(Double(a.activeAt.nanoseconds / 1_000_000) / 1000))\n" }
    }

    /// A label value in the text format: quoted, with `\\`, `\"` and line feeds escaped.
    static func labelValue(_ v: String) -> String {
        "\"" + v.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"").replacingOccurrences(of: "\n", with: "\\n") + "\""
    }

    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }
}

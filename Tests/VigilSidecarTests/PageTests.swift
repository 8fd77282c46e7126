import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar

/// The on-call page as served, and the alert fields it reads, on an in-process sidecar.
struct PageTests {
    func get(_ api: API, _ path: String) -> HTTPResponse {
        api.handle(HTTPRequest(method: "GET", path: path, query: [:], headers: [:], body: Data()))
    }

    @Test(.timeLimit(.minutes(1)))
    func theAssetsCarryTheirPolicyAndTheAlertsWhatThePageShows() async throws {
        let v = try VirtualSidecar("""
            metric x labels k
            alert high { when x > 1; severity critical; notify slack; escalate after 15min to pager; summary "{{k}} is {{value}}"; runbook "https://rb.example.com/high" }

            """)
        let api = API(sidecar: v.sidecar, token: nil)
        for (path, type) in [("/", "text/html; charset=utf-8"), ("/ui/app.js", "text/javascript; charset=utf-8"),
                             ("/ui/app.css", "text/css; charset=utf-8"), ("/ui/icon.svg", "image/svg+xml")] {
            let r = get(api, path)
            #expect(r.status == 200 && r.contentType == type, "\(path)")
            #expect(r.headers["Content-Security-Policy"] == "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
            #expect(r.headers["X-Content-Type-Options"] == "nosniff")
        }
        let html = String(decoding: get(api, "/").body, as: UTF8.self)
        #expect(html.contains("<script src=\"/ui/app.js\" defer></script>") && !html.contains("<script>"), "no inline script")
        #expect(!String(decoding: get(api, "/ui/app.js").body, as: UTF8.self).contains("innerHTML"), "the script never parses data as HTML")
        #expect(get(api, "/nope.html").status == 404)

        let t = VirtualSidecar.start.nanoseconds
        v.feed(["{\"timestamp_ns\":\(t),\"metric\":\"x\",\"labels\":{\"k\":\"<b>\"},\"value\":5}"])
        let fp = fingerprint(alert: "high", labels: [Label("k", "<b>")])
        let firing = String(decoding: get(api, "/api/v1/alerts").body, as: UTF8.self)
        #expect(firing == "[{\"fingerprint\":\"\(fp)\",\"alert\":\"high\",\"labels\":{\"k\":\"<b>\"},\"state\":\"firing\",\"severity\":\"critical\","
            + "\"activeAt\":\"2025-01-15T14:00:00Z\",\"value\":5,\"acked\":false,\"summary\":\"<b> is 5\",\"runbook\":\"https://rb.example.com/high\","
            + "\"ack\":null,\"next\":{\"channels\":[\"pager\"],\"at\":\"2025-01-15T14:15:00Z\"},\"silencedBy\":[],\"inhibitedBy\":null}]")
        let acked = api.handle(HTTPRequest(method: "POST", path: "/api/v1/alerts/\(fp)/ack", query: [:], headers: [:],
                                           body: Data("{\"comment\":\"on it\",\"by\":\"ana\",\"for\":\"30m\"}".utf8)))
        #expect(acked.status == 200)
        let after = String(decoding: get(api, "/api/v1/alerts").body, as: UTF8.self)
        #expect(after.contains("\"acked\":true,") && after.contains("\"ack\":{\"until\":\"2025-01-15T14:30:00Z\",\"by\":\"ana\",\"comment\":\"on it\"},\"next\":null,"), "\(after)")
        // What delivery did: the console channel printed the firing (the page's last 100).
        let delivery = String(decoding: get(api, "/api/v1/delivery").body, as: UTF8.self)
        #expect(delivery.contains("{\"name\":\"slack\",\"type\":\"console\",\"sent\":1,\"failed\":0,\"retried\":0,\"relayed\":0,\"outbox\":0,"), "\(delivery)")
        #expect(delivery.hasSuffix("\"recent\":[{\"at\":\"2025-01-15T14:00:00Z\",\"channel\":\"slack\",\"kind\":\"firing\",\"alert\":\"high\",\"labels\":{\"k\":\"<b>\"},\"status\":\"printed\",\"detail\":null}]}"), "\(delivery)")
        let rules = String(decoding: get(api, "/api/v1/rules").body, as: UTF8.self)
        #expect(rules == "[{\"name\":\"high\",\"severity\":\"critical\",\"channels\":[\"slack\"],\"file\":\"t.rules\",\"line\":2,\"lastEvaluation\":\"2025-01-15T14:00:00Z\"}]")
        await v.stop()
    }
}

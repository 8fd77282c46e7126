import Foundation
import Testing
import VigilRules
import VigilSidecar

/// The on-call page in a real browser: `vigil run` with an incident fed to it, then
/// `Tests/browser/page_test.py` (Selenium driving Debian's chromium) acks, silences and
/// expires from the page, checks the API agrees, that a hostile label renders inert, that the
/// console is clean, and saves screenshots at 375 px and 1440 px.
struct PageBrowserTests {
    static let installed: Bool = {
        FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") && FileManager.default.isExecutableFile(atPath: "/usr/bin/chromedriver")
            && pythonImports("selenium")
    }()
    static let skip = "chromium, chromium-driver (Debian) and selenium (PyPI) are not all installed here; .ci/run installs them"

    static let rules = """
        metric lat unit ms
        alert high_latency {
          when lat > 2000ms
          severity critical
          notify slack
          escalate after 10min to pager
          summary "{{venue}} latency is {{value}}"
          runbook "https://runbooks.example.com/high-latency"
        }

        """

    @Test(.enabled(if: BinaryTests.binary != nil, "the vigil binary is not built; run `swift build` first"),
          .enabled(if: installed, "\(skip)"), .timeLimit(.minutes(3)))
    func ackSilenceAndExpireFromTheOnCallPage() async throws {
        let v = try RunningVigil(["--listen", "unix:DIR/s.sock"], rules: PageBrowserTests.rules)
        #expect(await v.waitUntilUp())
        let now = Int64(Date().timeIntervalSince1970 * 1e9)
        let lines = ["kalshi", "<img src=x onerror=alert(1)>"].map { venue in
            "{\"timestamp_ns\":\(now),\"metric\":\"lat\",\"labels\":{\"venue\":\(jsonString(venue))},\"value\":3000}"
        }
        let socket = v.dir.appendingPathComponent("s.sock").path
        #expect(await offPool { unixWrite(socket, lines) })
        #expect(await v.waitForAlerts { $0.components(separatedBy: "\"state\":\"firing\"").count == 3 })
        let shots = v.dir.appendingPathComponent("shots")
        try FileManager.default.createDirectory(at: shots, withIntermediateDirectories: true)
        let script = repo.appendingPathComponent("Tests/browser/page_test.py").path, url = "http://127.0.0.1:\(v.port)", out = shots.path
        let (status, text) = await offPool { runToEnd("/usr/bin/env", ["python3", script, url, out], within: 120) }
        #expect(status == 0, "\(text)")
        #expect(text.contains("page test: ack, silence, expire, XSS inert, no console error"), "\(text)")
        for width in [375, 1440] {
            let size = (try? FileManager.default.attributesOfItem(atPath: shots.appendingPathComponent("page-\(width).png").path)[.size] as? Int) ?? 0
            #expect(size > 10_000, "the \(width) px screenshot")
        }
        // VIGIL_SCREENSHOTS=DIR keeps them (the README's, in docs/, come from this test).
        if let keep = ProcessInfo.processInfo.environment["VIGIL_SCREENSHOTS"] {
            for width in [375, 1440] {
                let to = URL(fileURLWithPath: keep).appendingPathComponent("page-\(width).png")
                try? FileManager.default.removeItem(at: to)
                try FileManager.default.copyItem(at: shots.appendingPathComponent("page-\(width).png"), to: to)
            }
        }
        #expect(await v.terminate() == 0)
    }
}

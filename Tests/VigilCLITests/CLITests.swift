import Foundation
import Testing
@testable import VigilCLI

/// Runs `vigil ARGS` in-process; returns status, stdout, stderr.
func vigil(_ args: String...) -> (status: Int32, out: String, err: String) {
    let t = CapturedTerminal()
    let status = CLI.run(args, terminal: t)
    return (status, t.stdout, t.stderr)
}

let repo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
func path(_ rel: String) -> String { repo.appendingPathComponent(rel).path }

/// A scratch directory removed when the test ends.
final class Scratch {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-test-\(UUID().uuidString)")
    init() { try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(at: url) }
    func write(_ name: String, _ text: String) -> String {
        let p = url.appendingPathComponent(name).path
        _ = FileManager.default.createFile(atPath: p, contents: Data(text.utf8))
        return p
    }
}

struct LintCLITests {
    @Test func shippedRulesLintStrictClean() {
        let r = vigil("lint", path("rules"), "--strict")
        #expect(r.status == 0)
        #expect(r.out == "14 rules in 3 files: 0 errors, 0 warnings\n")
        #expect(vigil("lint", path("rules"), "--config", path("examples/vigil.conf"), "--strict").status == 0)
    }

    @Test func seedTablesLintWithoutErrors() {
        let r = vigil("lint", path("examples/seed-tables.json"))
        #expect(r.status == 0)
        #expect(r.out.hasSuffix("11 rules in 1 file: 0 errors, 13 warnings\n"))
        #expect(vigil("lint", path("examples/seed-tables.json"), "--strict").status == 1)
    }

    @Test func errorsExitOneAndWarningsOnlyUnderStrict() {
        let s = Scratch()
        let broken = s.write("b.rules", "alert a {\n  when up == 0\n  severity loud\n  notify slack\n}\n")
        let warned = s.write("w.rules", "alert a {\n  when mystery > 1\n  severity info\n  notify slack\n}\n")
        let r = vigil("lint", broken)
        #expect(r.status == 1)
        #expect(r.out == """
            \(broken):3:12: error: expected `critical`, `warning` or `info`, found `loud`
              severity loud
                       ^~~~
            1 rule in 1 file: 1 error, 0 warnings

            """)
        #expect(vigil("lint", warned).status == 0)
        #expect(vigil("lint", warned, "--strict").status == 1)
    }

    @Test func jsonAndGithubFormats() throws {
        let s = Scratch()
        let file = s.write("b.rules", "alert a {\n  when up == 0\n  severity info\n  notify pagr\n}\n")
        let json = vigil("lint", file, "--format", "json")
        #expect(json.status == 1)
        let array = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(array.count == 1)
        #expect(array[0]["code"] as? String == "unknown-channel")
        #expect(array[0]["line"] as? Int == 4 && array[0]["column"] as? Int == 10 && array[0]["endColumn"] as? Int == 14)
        let gh = vigil("lint", file, "--format=github")
        #expect(gh.out.hasPrefix("::error file=\(file),line=4,col=10,endLine=4,endColumn=14,title=unknown-channel::unknown channel `pagr`"))
    }

    @Test func configChannelsReplaceTheDefaults() {
        let s = Scratch()
        let conf = s.write("vigil.conf", "channel ops { type console }\n")
        let r = vigil("lint", path("rules"), "--config", conf)
        #expect(r.status == 1)
        #expect(r.out.contains("error: unknown channel `pager`"))
        #expect(r.out.contains("channels are: ops (declared in \(conf))"))
    }

    @Test(arguments: [
        (["lint"], "error: lint needs at least one rule file or directory (see 'vigil help lint')\n"),
        (["lint", "rules", "--frmat", "json"], "error: unknown option '--frmat' for 'vigil lint'; did you mean '--format'? (see 'vigil help lint')\n"),
        (["lint", "rules", "--format"], "error: option '--format' needs a value (FORMAT) (see 'vigil help lint')\n"),
        (["lint", "rules", "--format", "xml"], "error: invalid value 'xml' for '--format': expected text, json, github (see 'vigil help lint')\n"),
        (["lint", "rules", "--strict=yes"], "error: option '--strict' takes no value (see 'vigil help lint')\n"),
        (["lint", "/nonexistent/x.rules"], "error: cannot read '/nonexistent/x.rules': no such file or directory\n"),
        (["lnt"], "error: unknown command 'lnt'; did you mean 'lint'? (see 'vigil --help')\n"),
        (["silence"], "error: silence needs add, ls or rm (see 'vigil help silence')\n"),
        (["silence", "add", "alertname=\"a\"", "--comment", "x"], "error: silence add needs --for DURATION, like 2h (see 'vigil help silence')\n"),
        (["ack"], "error: ack needs a fingerprint or ALERT{labels} (see 'vigil help ack')\n"),
        (["run"], "error: run needs exactly one of --connect unix:PATH, --listen unix:PATH or --stdin (see 'vigil help run')\n"),
        (["run", "--stdin", "--http", "0.0.0.0:9177"], "error: refusing to serve the API on 0.0.0.0 without --api-token-file (mutations would be open to the network) (see 'vigil help run')\n"),
        (["run", "--listen", "/tmp/x.sock"], "error: --listen takes unix:PATH, like unix:/run/trader.sock (see 'vigil help run')\n"),
        (["replay", "x.ndjson"], "error: replay needs --rules PATH (see 'vigil help replay')\n"),
        (["replay", "--rules", "rules"], "error: replay needs at least one recording (see 'vigil help replay')\n"),
        (["replay", "--rules", "rules", "x", "--until", "soon"], "error: invalid value 'soon' for '--until': expected a duration like 5m (see 'vigil help replay')\n"),
        (["test"], "error: test needs at least one .test file or directory (see 'vigil help test')\n"),
        (["version", "extra"], "error: unexpected argument 'extra' (see 'vigil help version')\n"),
        (["demo", "now"], "error: unexpected argument 'now' (see 'vigil help demo')\n"),
        (["help", "lint", "fmt"], "error: unexpected argument 'fmt' (see 'vigil help help')\n"),
    ])
    func usageErrorsExitTwoWithOneLine(_ args: [String], _ message: String) {
        let t = CapturedTerminal()
        let status = CLI.run(args, terminal: t)
        #expect(status == 2)
        #expect(t.stderr == message)
        #expect(t.stdout == "")
    }

    @Test func helpAndVersion() {
        let top = vigil("--help")
        #expect(top.status == 0)
        for command in ["lint", "fmt", "test", "replay", "run", "alerts", "ack", "silence", "demo", "version", "help"] { #expect(top.out.contains("\n  \(command) ")) }
        #expect(vigil("help", "lint").out == LintCommand.usage)
        #expect(vigil("lint", "--help").out == LintCommand.usage)
        #expect(vigil("version").out == "vigil \(CLI.version)\n")
        let none = vigil()
        #expect(none.status == 2 && none.err.contains("Usage: vigil COMMAND"))
    }
}

struct FmtCLITests {
    @Test func checkPassesOnTheShippedFiles() {
        #expect(vigil("fmt", "--check", path("rules")) == (0, "", ""))
        #expect(vigil("fmt", "--check", path("examples/vigil.conf")) == (0, "", ""))
    }

    @Test func checkFlagsAndWriteFixesAMessyFile() throws {
        let s = Scratch()
        let file = s.write("m.rules", "alert a{notify slack;severity info;when up==0}\n")
        #expect(vigil("fmt", "--check", file) == (1, "\(file): not formatted\n", ""))
        #expect(vigil("fmt", file).out == "alert a {\n  when      up == 0\n  severity  info\n  notify    slack\n}\n")
        #expect(vigil("fmt", "-w", file) == (0, "formatted \(file)\n", ""))
        #expect(vigil("fmt", "--check", file).status == 0)
    }

    @Test func refusesBrokenFilesAndJSON() {
        let s = Scratch()
        let broken = s.write("b.rules", "alert a {\n")
        let r = vigil("fmt", broken)
        #expect(r.status == 1 && r.out.isEmpty && r.err.hasSuffix("\(broken): not formatted: fix the errors above first\n"))
        let json = s.write("s.json", "{}")
        #expect(vigil("fmt", json).status == 2)
        #expect(vigil("fmt", "--check", "--write", broken).status == 2)
    }
}

/// The built binary, driven as an operator would; skipped (with the reason) when it is not built.
struct BinaryTests {
    static var binary: URL? {
        let dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [dir, dir.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("vigil")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        let fallback = repo.appendingPathComponent(".build/debug/vigil")
        return FileManager.default.isExecutableFile(atPath: fallback.path) ? fallback : nil
    }

    func run(_ args: [String], cwd: URL = repo) throws -> (Int32, String) {
        let p = Process()
        guard let binary = Self.binary else { throw POSIXError(.ENOENT) }
        p.executableURL = binary
        p.arguments = args
        p.currentDirectoryURL = cwd
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(.enabled(if: binary != nil, "the vigil binary is not built; run `swift build` first"))
    func lintExitCodesFromTheBinary() throws {
        let clean = try run(["lint", "rules/", "--strict"])
        #expect(clean.0 == 0)
        #expect(clean.1 == "14 rules in 3 files: 0 errors, 0 warnings\n")
        #expect(try run(["lint"]).0 == 2)
        #expect(try run(["lint", "Tests/VigilRulesTests/Corpus/broken/04-bad-severity.rules"]).0 == 1)
    }

    /// The README's first command shows the whole lifecycle and exits 0 (at 60× to keep the suite quick).
    @Test(.enabled(if: binary != nil, "the vigil binary is not built; run `swift build` first"), .timeLimit(.minutes(2)))
    func demoShowsTheWholeLifecycle() async throws {
        let started = Date()
        let result = await offPool { [self] in Result { try run(["demo", "--speed", "60"]) } }
        let (status, out) = try result.get()
        #expect(status == 0)
        #expect(Date().timeIntervalSince(started) < 90)
        for expected in ["● high_latency{venue=kalshi} pending", "● high_latency{venue=kalshi} firing", "→ Slack      [FIRING] high_latency",
                         "→ PagerDuty  trigger", "◦ probe redis down: connection refused", "● service_down{service=redis} firing",
                         "→ PagerDuty  trigger dedup_key", "◦ probe redis up", "● service_down{service=redis} resolved",
                         "on-call acknowledges service_down through the API", "→ PagerDuty  acknowledge",
                         "→ PagerDuty  resolve", "● stale_data firing", "● stale_data resolved",
                         "● high_latency_histogram{venue=kalshi} firing", "→ Slack      [FIRING] high_latency_histogram", "the incident is over"] {
            #expect(out.contains(expected), "missing: \(expected)")
        }
    }
}

struct AlertmanagerConfigCLITests {
    /// The generated config for every relayed channel type, checked by Alertmanager's own
    /// `amtool check-config` where it is installed.
    @Test func theGeneratedConfigIsOneAlertmanagerAccepts() throws {
        let s = Scratch()
        let key = s.write("key", "routing-key-from-a-file\n")
        let slack = s.write("slack", "http://127.0.0.1:9/slack\n")
        let conf = s.write("vigil.conf", """
            channel am    { type alertmanager url "http://127.0.0.1:1", "http://127.0.0.1:2", "http://127.0.0.1:3" }
            channel slack { type slack url file:\(slack) }
            channel pager { type pagerduty routing_key file:\(key) }
            channel mail  { type smtp smarthost "127.0.0.1:25" from "v@example.com" to "a@example.com", "b@example.com" auth_username "u" auth_password file:\(key) }
            channel hook  { type webhook url "http://127.0.0.1:9/hook" max_alerts 3 }
            channel log   { type console }
            cluster am

            """)
        let rules = s.write("r.rules", """
            metric x
            alert g { when x > 1; severity warning; notify slack, log; group by venue wait 30s }
            alert p { when x > 5; severity critical; notify pager, mail, hook }

            """)
        let r = vigil("alertmanager-config", "--config", conf, "--rules", rules)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.contains("  group_interval: 40s\n"), "3 peers at the default 15 s peer timeout")
        #expect(r.out.contains("    - matchers: ['alertname=\"g\"', 'vigil_channel=\"slack\"', 'vigil_notice=\"\"']\n      group_by: [alertname, vigil_channel, venue]\n      group_wait: 1s\n      receiver: slack\n"))
        #expect(r.out.contains("    - matchers: ['vigil_channel=\"pager\"', 'vigil_notice!=\"\"']\n      receiver: pager-notice\n"))
        #expect(r.out.contains("api_url_file: \"\(slack)\""))
        #expect(r.out.contains("routing_key_file: \"\(key)\""))
        #expect(r.out.contains("auth_password_file: \"\(key)\""))
        #expect(r.out.contains("max_alerts: 3"))
        #expect(!r.out.contains("routing-key-from-a-file"), "a file: secret is named, not read")
        #expect(!r.out.contains("vigil_channel=\"log\""), "console channels stay local")
        #expect(vigil("alertmanager-config", "--config", conf, "--rules", rules, "--peer-timeout", "5s").out.contains("  group_interval: 20s\n"))
        let amtool = "/usr/bin/amtool"
        guard FileManager.default.isExecutableFile(atPath: amtool) else { return } // the rest needs Alertmanager's amtool (.ci/run installs it)
        let yml = s.write("alertmanager.yml", r.out)
        let (status, text) = runToEnd(amtool, ["check-config", yml], within: 30)
        #expect(status == 0, "\(text)")
        #expect(text.contains(" - 9 receivers"), "\(text)") // vigil-unrouted, and C and C-notice for each of 4 channels
    }

    @Test func misuseIsOneLine() {
        let s = Scratch()
        let plain = s.write("vigil.conf", "channel slack { type slack url \"https://hooks.example.com/x\" }\n")
        let rules = s.write("r.rules", "metric x\nalert a { when x > 1; severity warning; notify slack }\n")
        #expect(vigil("alertmanager-config").status == 2)
        #expect(vigil("alertmanager-config", "--config", plain, "--rules", rules, "--peer-timeout", "0s").status == 2)
        let none = vigil("alertmanager-config", "--config", plain, "--rules", rules)
        #expect(none.status == 1)
        #expect(none.err == "error: \(plain) sets no `cluster`: add `cluster NAME`, NAME a `type alertmanager` channel\n")
    }
}

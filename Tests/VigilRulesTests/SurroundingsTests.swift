import Foundation
import Testing
@testable import VigilRules

/// `probe`, `watch` and `system` blocks (SPEC §7): parsing, formatting, lint and the typed model.
struct SurroundingsTests {
    static let spec = """
        probe redis       { tcp  "127.0.0.1:6379"  every 10s  timeout 5s   critical }
        probe postgres    { tcp  "127.0.0.1:5432"  every 30s  timeout 10s  critical }
        probe kalshi_api  { http "https://api.example/health"  every 5s  timeout 2s  critical  expect 200 }
        watch trader      { pid_file "/run/trader.pid" }        # or: pid 1234, or: command "python3 trader.py"
        system            { every 10s }                         # host CPU, memory, disk, load

        """

    @Test func theSpecExampleParsesAndLintsClean() {
        #expect(dump(Self.spec, kind: .config) == """
            (probe redis (tcp "127.0.0.1:6379") (every 10.0s) (timeout 5.0s) (critical))
            (probe postgres (tcp "127.0.0.1:5432") (every 30.0s) (timeout 10.0s) (critical))
            (probe kalshi_api (http "https://api.example/health") (every 5.0s) (timeout 2.0s) (critical) (expect 200.0))
            (watch trader (pid_file "/run/trader.pid"))
            (system (every 10.0s))
            """)
        let r = Linter.lint(ruleFiles: [], config: SourceFile(path: "vigil.conf", text: Self.spec, kind: .config))
        #expect(codes(r) == [])
    }

    @Test func theSpecExampleLoadsIntoTheModel() {
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: Self.spec + "watch a { pid 1234 }\nwatch b { command \"python3 trader.py\" every 2s }\n", kind: .config))
        let s = Surroundings.load(file)
        let second: Int64 = 1_000_000_000
        #expect(s.probes == [
            .init(name: "redis", target: .tcp(host: "127.0.0.1", port: 6379), interval: 10 * second, timeout: 5 * second, critical: true),
            .init(name: "postgres", target: .tcp(host: "127.0.0.1", port: 5432), interval: 30 * second, timeout: 10 * second, critical: true),
            .init(name: "kalshi_api", target: .http("https://api.example/health"), interval: 5 * second, timeout: 2 * second, critical: true, expect: 200),
        ])
        #expect(s.watches == [
            .init(name: "trader", selector: .pidFile("/run/trader.pid"), interval: 10 * second),
            .init(name: "a", selector: .pid(1234), interval: 10 * second),
            .init(name: "b", selector: .command("python3 trader.py"), interval: 2 * second),
        ])
        #expect(s.system == .init(interval: 10 * second, mounts: ["/"]))
        #expect(Surroundings.load(nil).isEmpty)
    }

    @Test func defaults() {
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: "probe a { tcp \"localhost:1\" }\nprobe b { tcp \"[::1]:2\" every 2s }\nsystem { mounts \"/ /var\" }\n", kind: .config))
        let s = Surroundings.load(file)
        #expect(s.probes.map(\.interval) == [10_000_000_000, 2_000_000_000])
        #expect(s.probes.map(\.timeout) == [5_000_000_000, 2_000_000_000])   // 5 s, or the interval when shorter
        #expect(s.probes.map(\.critical) == [false, false])
        #expect(s.probes.map(\.target) == [.tcp(host: "localhost", port: 1), .tcp(host: "::1", port: 2)])
        #expect(s.system?.mounts == ["/", "/var"])
    }

    @Test func tcpTargets() {
        func parse(_ t: String) -> String {
            switch Surroundings.parseTCP(t) {
            case .success(let target): "\(target)"
            case .failure(let e): "error: \(e.message)"
            }
        }
        #expect(parse("127.0.0.1:6379") == "tcp(host: \"127.0.0.1\", port: 6379)")
        #expect(parse("redis.internal:6379") == "tcp(host: \"redis.internal\", port: 6379)")
        #expect(parse("[::1]:5432") == "tcp(host: \"::1\", port: 5432)")
        #expect(parse("unix:/run/redis.sock") == "unix(\"/run/redis.sock\")")
        #expect(parse("/run/redis.sock") == "unix(\"/run/redis.sock\")")
        #expect(parse("127.0.0.1:0") == "error: the port must be a number from 1 to 65535")
        #expect(parse("127.0.0.1:65536") == "error: the port must be a number from 1 to 65535")
        #expect(parse(":80") == "error: a TCP target needs a host before the port")
        #expect(parse("[::1]5432") == "error: an IPv6 address is written `[::1]:6379`")
        #expect(parse("unix:/" + String(repeating: "a", count: 110)) == "error: a Unix socket path is limited to 107 bytes")
    }

    @Test func displayTargetsHideCredentialsAndQueries() {
        let p = Surroundings.Probe(name: "api", target: .http("https://user:hunter2@api.example/health?token=abc#x"), interval: 1)
        #expect(p.displayTarget == "https://api.example/health")
        #expect(Surroundings.Probe(name: "v6", target: .tcp(host: "::1", port: 1), interval: 1).displayTarget == "[::1]:1")
        #expect(Surroundings.redacted("http://127.0.0.1:8080/a@b") == "http://127.0.0.1:8080/a@b")
    }

    /// An HTTP probe URL may be a secret (it can carry a token): `env:` or `file:`, read at
    /// start, shown only as its source.
    @Test func secretProbeURLs() throws {
        let text = "probe a { http env:A_URL }\nprobe b { http file:/run/secrets/b }\nprobe c { http \"https://c.example/health\" }\n"
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: text, kind: .config))
        #expect(codes(Linter.lint(ruleFiles: [], config: SourceFile(path: "vigil.conf", text: text, kind: .config))) == [])
        let loaded = Surroundings.load(file)
        #expect(loaded.probes.map(\.urlSecret) == ["env:A_URL", "file:/run/secrets/b", nil])
        let env = ["A_URL": "https://a.example/health?token=s3cret"]
        let files = ["/run/secrets/b": "http://b.example/ok\n"]
        let resolved = try loaded.resolvingSecrets(environment: env, readFile: { files[$0] })
        #expect(resolved.probes.map(\.target) == [.http("https://a.example/health?token=s3cret"), .http("http://b.example/ok"), .http("https://c.example/health")])
        #expect(resolved.probes.map(\.displayTarget) == ["env:A_URL", "file:/run/secrets/b", "https://c.example/health"])
        func failure(_ env: [String: String], _ files: [String: String]) -> String {
            do { _ = try loaded.resolvingSecrets(environment: env, readFile: { files[$0] }); return "" } catch { return "\(error)" }
        }
        #expect(failure([:], files) == "probe a: http comes from the environment variable A_URL, which is not set")
        #expect(failure(env, [:]) == "probe b: http comes from the file /run/secrets/b, which cannot be read or is empty")
        #expect(failure(["A_URL": "a.example/health"], files) == "probe a: env:A_URL does not hold a URL starting with http:// or https://")
    }

    @Test func literalCredentialsInAProbeURLWarn() {
        func config(_ url: String) -> [String] {
            codes(Linter.lint(ruleFiles: [], config: SourceFile(path: "vigil.conf", text: "probe a { http \"\(url)\" }\n", kind: .config)))
        }
        #expect(config("https://api.example/health?api_key=abc") == ["W:literal-secret@1:16"])
        #expect(config("https://user:pw@api.example/health") == ["W:literal-secret@1:16"])
        #expect(config("https://api.example/health?market=FED&access_token=x") == ["W:literal-secret@1:16"])
        #expect(config("https://api.example/health?market=FED") == [])
        #expect(config("https://api.example/a@b") == [])
    }

    @Test func blocksFormatInAlignedRuns() {
        let messy = "probe redis {tcp \"127.0.0.1:6379\" every 10s critical}\nprobe kalshi_api {   http \"https://api.example/health\"\n every 5s }\nwatch trader { pid 42 }\nsystem {every 10s}\n"
        #expect(fmt(messy, kind: .config) == """
            probe redis      { tcp "127.0.0.1:6379"              every 10s critical }
            probe kalshi_api { http "https://api.example/health" every 5s }
            watch trader { pid 42 }
            system { every 10s }

            """)
        // Comments inside a block keep it on several lines; a flag stands alone.
        #expect(fmt("probe r { # the cache\n tcp \"127.0.0.1:6379\"\n critical # pages\n}\n", kind: .config) ==
                "probe r {  # the cache\n  tcp \"127.0.0.1:6379\"\n  critical  # pages\n}\n")
        for text in [Self.spec, messy] {
            let formatted = fmt(text, kind: .config)
            #expect(dump(formatted, kind: .config) == dump(text, kind: .config))
            #expect(fmt(formatted, kind: .config) == formatted)
        }
    }

    @Test func lintOfBlocks() {
        func config(_ text: String) -> [String] {
            codes(Linter.lint(ruleFiles: [], config: SourceFile(path: "vigil.conf", text: text, kind: .config)))
        }
        #expect(config("probe a { tcp \"127.0.0.1:1\" every 1s timeout 1s }\n") == ["W:timeout-not-below-interval@1:46"])
        #expect(config("probe a { tcp \"127.0.0.1:1\" timeout 20s }\n") == ["W:timeout-not-below-interval@1:37"]) // the default interval is 10 s
        #expect(config("probe a { tcp \"127.0.0.1:1\" every 0s }\n") == ["E:bad-value@1:35"])
        #expect(config("probe a { tcp \"127.0.0.1:1\" every 5mb }\n") == ["E:bad-value@1:35"])
        #expect(config("probe a { tcp \"127.0.0.1:1\" critical critical }\n") == ["E:duplicate-setting@1:38"])
        #expect(config("probe a { tcp 6379 }\n") == ["E:bad-value@1:15"])
        #expect(config("watch a { pid 12.5 }\n") == ["E:bad-value@1:15"])
        #expect(config("watch a { command \"\" }\n") == ["E:bad-value@1:19"])
        #expect(config("system { every 10s critical }\n") == ["E:unknown-key@1:20"])
        #expect(config("critical\n") == ["E:unknown-key@1:1"])
        // A probe and a watch may share a name: they make different series.
        #expect(config("probe trader { tcp \"127.0.0.1:1\" }\nwatch trader { pid 1 }\n") == [])
    }

    @Test func blocksBelongInTheConfig() {
        #expect(dump("watch trader { pid 1 }\n") == "error: `watch` belongs in the config file, not in a rule file")
        #expect(dump("system { every 1s }\n") == "error: `system` belongs in the config file, not in a rule file")
        #expect(dump("probe a { tcp \"127.0.0.1:1\"\n", kind: .config).hasPrefix("error: expected `}` to close probe `a`"))
        #expect(dump("system { every 1s\n", kind: .config).hasPrefix("error: expected `}` to close the system block"))
        #expect(dump("system trader { every 1s }\n", kind: .config) == "error: expected `{`, found `trader`")
    }

    @Test func theShippedRulesKnowTheSeries() {
        let r = lint("alert a {\n  when process_rss_mb > 1gb or probe_duration_seconds{probe=\"redis\"} > 500ms or disk_usage_percent{mount=\"/\"} > 90%\n  severity warning\n  notify slack\n  summary \"{{process}} {{probe}} {{mount}}\"\n}\n")
        #expect(codes(r) == [])
    }
}

extension SurroundingsTests {
    /// SPEC §4's inputs beside the socket: `scrape` and `tail` load, and a scrape URL from the
    /// environment or a file is read as a probe's is.
    @Test func scrapeAndTailBlocksLoadAndTheirSecretsResolve() throws {
        let text = """
            scrape trader  { url "http://127.0.0.1:8000/metrics" every 1s timeout 500ms }
            scrape venue   { url env:VENUE_METRICS_URL }
            scrape desk    { url file:/run/secrets/desk_url every 30s }
            tail   logs    { path "/var/log/trader/*.log*" }

            """
        let (file, _) = Parser.parse(SourceFile(path: "vigil.conf", text: text, kind: .config))
        let s = Surroundings.load(file)
        #expect(s.scrapes == [
            .init(name: "trader", url: "http://127.0.0.1:8000/metrics", interval: 1_000_000_000, timeout: 500_000_000),
            .init(name: "venue", url: "", interval: Surroundings.defaultInterval, urlSecret: "env:VENUE_METRICS_URL"),
            .init(name: "desk", url: "", interval: 30_000_000_000, urlSecret: "file:/run/secrets/desk_url"),
        ])
        #expect(s.tails == [.init(name: "logs", directory: "/var/log/trader", pattern: "*.log*")])
        #expect(!s.isEmpty)
        let resolved = try s.resolvingSecrets(environment: ["VENUE_METRICS_URL": "https://u:p@venue.example/metrics"],
                                              readFile: { $0 == "/run/secrets/desk_url" ? "http://desk.example/metrics\n" : nil })
        #expect(resolved.scrapes.map(\.url) == ["http://127.0.0.1:8000/metrics", "https://u:p@venue.example/metrics", "http://desk.example/metrics"])
        #expect(resolved.scrapes[1].displayTarget == "env:VENUE_METRICS_URL", "a secret URL shows only where it comes from")
        #expect(throws: Surroundings.SecretError.self) { try s.resolvingSecrets(environment: [:], readFile: { _ in nil }) }
        let r = Linter.lint(ruleFiles: [], config: SourceFile(path: "vigil.conf", text: text, kind: .config))
        #expect(codes(r) == [])
    }

    @Test func aTailPathIsADirectoryAndAPattern() throws {
        let log = try Surroundings.parseTailPath("/var/log/trader/*.log").get()
        #expect(log.directory == "/var/log/trader" && log.pattern == "*.log")
        let root = try Surroundings.parseTailPath("/x.log").get()
        #expect(root.directory == "" && root.pattern == "x.log")
        for bad in ["logs/*.log", "/var/*/x.log", "/var/log/", ""] {
            guard case .failure = Surroundings.parseTailPath(bad) else { Issue.record("\(bad) accepted"); continue }
        }
    }
}

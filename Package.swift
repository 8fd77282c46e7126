// swift-tools-version:6.0
import PackageDescription

// vigil: a rule-driven alerting sidecar. The toolchain only, no package dependencies
// (see DESIGN.md, "Rules of the house").
let package = Package(
    name: "vigil",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vigil", targets: ["vigil"]),
        .executable(name: "vigil-bench", targets: ["vigil-bench"]),
    ],
    targets: [
        // The language: lexer, parser, AST, diagnostics, checker, units, seed JSON, formatter.
        .target(name: "VigilRules"),
        // Stream decoding, series, windows, evaluation, alert state (issue 3).
        .target(name: "VigilEngine", dependencies: ["VigilRules"]),
        // Routing, silences, escalation, payloads (issue 4).
        .target(name: "VigilAlerting", dependencies: ["VigilRules", "VigilEngine"]),
        // zlib, for gzipped log backups (Foundation has no gzip).
        .systemLibrary(name: "CZlib", path: "Sources/CZlib"),
        // libcurl's SMTP client, loaded at run time (libcurl.so.4 is on the machine; its headers are not).
        .target(name: "CCurl", linkerSettings: [.linkedLibrary("dl")]),
        // Sockets, HTTP, delivery, outbox, journal, logs, the run loop.
        .target(name: "VigilSidecar", dependencies: ["VigilRules", "VigilEngine", "VigilAlerting", "CZlib", "CCurl"]),
        // Argument parsing and subcommands, as a library so tests drive it in-process.
        .target(name: "VigilCLI", dependencies: ["VigilRules", "VigilEngine", "VigilAlerting", "VigilSidecar"]),
        .executableTarget(name: "vigil", dependencies: ["VigilCLI"]),
        .executableTarget(name: "vigil-bench", dependencies: ["VigilRules", "VigilEngine", "VigilAlerting", "VigilSidecar", "VigilTestSupport"]),
        // What tests and the bench share: an in-memory log, loopback sockets.
        .target(name: "VigilTestSupport", dependencies: ["VigilSidecar"]),
        // libFuzzer's entry point, referenced weakly, so the fuzzer builds both with and without it.
        .target(name: "CFuzzer"),
        // One coverage-guided fuzz harness per parser of outside bytes; `swift test` replays their corpus.
        .target(name: "VigilFuzz", dependencies: ["VigilRules", "VigilEngine", "VigilAlerting", "VigilSidecar", "VigilCLI"]),
        // gold crashes linking libFuzzer into Swift (an internal error in its DWARF reader); lld ships with the toolchain.
        .executableTarget(name: "vigil-fuzz", dependencies: ["VigilFuzz", "CFuzzer"], linkerSettings: [.unsafeFlags(["-use-ld=lld"])]),
        .testTarget(name: "VigilRulesTests", dependencies: ["VigilRules"], exclude: ["Corpus"]),
        .testTarget(name: "VigilEngineTests", dependencies: ["VigilEngine", "VigilRules"]),
        .testTarget(name: "VigilAlertingTests", dependencies: ["VigilAlerting", "VigilEngine", "VigilRules"], exclude: ["Golden"]),
        .testTarget(name: "VigilSidecarTests", dependencies: ["VigilSidecar", "VigilAlerting", "VigilEngine", "VigilRules", "VigilTestSupport"]),
        .testTarget(name: "VigilCLITests", dependencies: ["VigilCLI", "VigilRules", "VigilTestSupport"]),
        .testTarget(name: "VigilFuzzTests", dependencies: ["VigilFuzz"]),
    ],
    swiftLanguageModes: [.v6]
)

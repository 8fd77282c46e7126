import Foundation
import Testing
@testable import VigilAlerting
@testable import VigilEngine
@testable import VigilRules
@testable import VigilSidecar
import VigilTestSupport

/// A real SMTP server (Debian's python3-aiosmtpd, which .ci/run installs) on 127.0.0.1, with
/// STARTTLS required on a certificate made for the test, AUTH required after it, and a mailbox
/// directory. `tempfail@` is refused with 451 the first time, `reject@` always with 550.
final class RealSMTPServer {
    static var available: Bool {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        p.arguments = ["-c", "import aiosmtpd"]
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return false }
        p.waitUntilExit()
        return p.terminationStatus == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl")
    }

    static let script = #"""
    import sys, os, ssl, time
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult
    port, cert, key, box = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    seen = {}
    class Box:
        async def handle_RCPT(self, server, session, envelope, address, options):
            if address.startswith('reject@'): return '550 5.1.1 no such user'
            if address.startswith('tempfail@'):
                seen[address] = seen.get(address, 0) + 1
                if seen[address] == 1: return '451 4.3.0 try again later'
            envelope.rcpt_tos.append(address)
            return '250 OK'
        async def handle_DATA(self, server, session, envelope):
            name = os.path.join(box, '%d-%s.eml' % (time.time_ns(), session.auth_data.login.decode() if session.auth_data else 'anon'))
            with open(name + '.tmp', 'wb') as f:
                f.write(('X-Envelope-From: %s\r\nX-Envelope-To: %s\r\nX-TLS: %s\r\n' % (envelope.mail_from, ','.join(envelope.rcpt_tos), session.ssl is not None)).encode() + envelope.original_content)
            os.rename(name + '.tmp', name)
            return '250 Message accepted'
    def auth(server, session, envelope, mechanism, data):
        return AuthResult(success=data.login == b'vigil' and data.password == b's3cret')
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    c = Controller(Box(), hostname='127.0.0.1', port=port, tls_context=context, require_starttls=True,
                   authenticator=auth, auth_require_tls=True)
    c.start()
    print('ready', flush=True)
    sys.stdin.read()
    c.stop()
    """#

    let dir: URL
    let box: URL
    let port: UInt16
    let process = Process()
    private let input = Pipe()

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("vigil-smtp-\(UUID().uuidString.prefix(8))")
        box = dir.appendingPathComponent("box")
        try FileManager.default.createDirectory(at: box, withIntermediateDirectories: true)
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", dir.appendingPathComponent("key.pem").path,
                             "-out", dir.appendingPathComponent("cert.pem").path, "-days", "1", "-subj", "/CN=127.0.0.1",
                             "-addext", "subjectAltName=IP:127.0.0.1"]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        let (port, held) = try Receiver.reservePort()
        close(held)
        self.port = port
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = ["-c", Self.script, "\(port)", dir.appendingPathComponent("cert.pem").path, dir.appendingPathComponent("key.pem").path, box.path]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Python, aiosmtpd and a TLS context take a while when the whole suite runs beside them
        // (10 s was once not enough in CI).
        let line = output.fileHandleForReading.availableLine(within: 40)
        guard line == "ready" else {
            if process.isRunning { process.terminate() }
            throw POSIXError(.ETIMEDOUT)
        }
    }

    var caFile: String { dir.appendingPathComponent("cert.pem").path }

    /// The mails received, oldest first.
    var mails: [String] {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: box.path)) ?? []).filter { $0.hasSuffix(".eml") }.sorted()
        return names.compactMap { try? String(contentsOf: box.appendingPathComponent($0), encoding: .utf8) }
    }

    deinit {
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: dir)
    }
}

extension FileHandle {
    /// One line, waiting at most `seconds` (nil when none came).
    func availableLine(within seconds: Double) -> String? {
        let result = LockedBox<String?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            var bytes: [UInt8] = []
            while true {
                let d = self.readData(ofLength: 1)
                if d.isEmpty || d.first == 0x0A { break }
                bytes += d
            }
            result.set(String(decoding: bytes, as: UTF8.self))
            done.signal()
        }.start()
        return done.wait(timeout: .now() + seconds) == .success ? result.get() : nil
    }
}

final class LockedBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ v: T) { value = v }
    func set(_ v: T) { lock.lock(); value = v; lock.unlock() }
    func get() -> T { lock.lock(); defer { lock.unlock() }; return value }
}

struct SMTPPeerTests {
    static let skip = "python3-aiosmtpd or openssl is not installed here (apt-get install -y python3-aiosmtpd); .ci/run installs it"

    func config(_ server: RealSMTPServer, to: String) throws -> AlertingConfig {
        let text = """
            channel mail { type smtp smarthost "127.0.0.1:\(server.port)" from "vigil <vigil@example.com>" to "\(to)", "second@example.com"
                           auth_username "vigil" auth_password env:SMTP_PASSWORD ca_file "\(server.caFile)" hello "vigil.test" timeout 5s }
            channel ops { type console }
            fallback ops

            """
        let lint = Linter.lint(ruleFiles: [], config: SourceFile(path: "vigil.conf", text: text, kind: .config))
        try #require(lint.errorCount == 0, "\(lint.diagnostics.map(DiagnosticRenderer.text))")
        return try AlertingConfig.load(lint.config, environment: ["SMTP_PASSWORD": "s3cret"])
    }

    func note(_ kind: AlertNotification.Kind) -> AlertNotification {
        let labels = [Label("venue", "kalshi"), Label("market", "Zürich <b>")]
        var a = AlertInfo(name: "high_latency", severity: .warning, labels: labels, fingerprint: fingerprint(alert: "high_latency", labels: labels),
                          value: 2600, stringValue: nil, summary: "p95 feed latency on kalshi is 2600ms", description: nil,
                          runbook: "https://runbooks.example/high_latency", startsAt: Instant(nanoseconds: 1_736_949_600_000_000_000), endsAt: nil)
        if kind == .resolved {
            a.endsAt = Instant(nanoseconds: 1_736_949_780_000_000_000)
            a.resolvedValue = "180"
        }
        return AlertNotification(at: a.endsAt ?? a.startsAt, channel: "mail", kind: kind, step: 0, alerts: [a])
    }

    /// Over STARTTLS with AUTH, a firing and its resolve arrive in the mailbox as proper messages.
    @Test(.enabled(if: RealSMTPServer.available, "\(skip)"), .timeLimit(.minutes(2)))
    func aMailArrivesOverStartTLSWithAuth() async throws {
        let server = try RealSMTPServer()
        let log = MemoryLog()
        let delivery = Delivery(config: try config(server, to: "oncall@example.com"), outbox: Outbox(), policy: fast, log: log)
        delivery.send(note(.firing))
        delivery.send(note(.resolved))
        #expect(await delivery.drain(timeout: .seconds(30)))
        #expect(delivery.stats["mail"] == DeliveryStats(sent: 2, failed: 0, retried: 0))
        let mails = server.mails
        try #require(mails.count == 2, "\(log.all)")
        let firing = mails[0]
        #expect(firing.contains("X-Envelope-From: vigil@example.com\r\nX-Envelope-To: oncall@example.com,second@example.com\r\nX-TLS: True\r\n"))
        #expect(firing.contains("Subject: [FIRING] high_latency (warning)\r\n"))
        #expect(firing.contains("From: vigil <vigil@example.com>\r\nTo: oncall@example.com, second@example.com\r\n"))
        #expect(firing.contains("Date: Wed, 15 Jan 2025 14:00:00 +0000\r\n"))
        #expect(firing.contains("Message-ID: <"))
        #expect(firing.contains("Content-Type: multipart/alternative;") && firing.contains("Content-Type: text/plain; charset=utf-8")
                && firing.contains("Content-Type: text/html; charset=utf-8"))
        let plain = try #require(Self.part(firing, "text/plain"))
        #expect(plain.contains("p95 feed latency on kalshi is 2600ms") && plain.contains("market = Zürich <b>"))
        let html = try #require(Self.part(firing, "text/html"))
        #expect(html.contains("Zürich &lt;b&gt;"))
        #expect(mails[1].contains("Subject: =?UTF-8?B?"), "a subject with — is encoded")
        #expect(try #require(Self.part(mails[1], "text/plain")).contains("resolved at 180 after 3m"))
    }

    /// A 451 is retried until the mail goes; a 550 is final and reported on the fallback.
    @Test(.enabled(if: RealSMTPServer.available, "\(skip)"), .timeLimit(.minutes(2)))
    func fourHundredsAreRetriedAndFiveHundredsAreFinal() async throws {
        let server = try RealSMTPServer()
        let printed = Lines()
        let log = MemoryLog()
        let retried = Delivery(config: try config(server, to: "tempfail@example.com"), outbox: Outbox(), policy: fast, log: log)
        retried.send(note(.firing))
        #expect(await retried.drain(timeout: .seconds(30)))
        #expect(retried.stats["mail"] == DeliveryStats(sent: 1, failed: 0, retried: 1))
        #expect(server.mails.count == 1)
        #expect(log.all.first { $0.message == "delivery will be retried" }?.data["cause"]?.hasPrefix("SMTP 451") == true)

        let rejected = Delivery(config: try config(server, to: "reject@example.com"), outbox: Outbox(), policy: fast, log: log,
                                console: { printed.add($0) })
        rejected.send(note(.firing))
        #expect(await rejected.drain(timeout: .seconds(30)))
        #expect(rejected.stats["mail"] == DeliveryStats(sent: 0, failed: 1, retried: 0))
        #expect(printed.all.contains { $0.contains("vigil_delivery_failed") && $0.contains("SMTP 550") })
        #expect(server.mails.count == 1)
    }

    /// The body of one MIME part, decoded.
    static func part(_ mail: String, _ type: String) -> String? {
        guard let start = mail.range(of: "Content-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n") else { return nil }
        let rest = mail[start.upperBound...]
        let encoded = rest.prefix { $0 != "-" }.replacingOccurrences(of: "\r\n", with: "")
        return Data(base64Encoded: encoded).map { String(decoding: $0, as: UTF8.self) }
    }
}

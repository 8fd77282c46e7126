import Foundation
import Glibc
import Synchronization
import VigilTestSupport

/// A python3 child for the `/proc` tests, which prints one line and waits for its stdin to
/// close. The default script holds 64 MB, opens 5 files, a TCP listener, a bound UDP socket
/// and a Unix socket, and prints its own descriptor, socket and inet-socket counts (by fstat,
/// not by /proc).
final class PythonChild {
    static let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static let script = """
    import os, socket, stat, sys
    ballast = bytearray(64 * 1024 * 1024)
    for i in range(0, len(ballast), 4096): ballast[i] = 1
    files = [open('/dev/null') for _ in range(5)]
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM); tcp.bind(('127.0.0.1', 0)); tcp.listen()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(('127.0.0.1', 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    fds = [int(f) for f in os.listdir('/proc/self/fd')]
    count, sockets, inet = 0, 0, 0
    for f in fds:
        try:
            mode = os.fstat(f).st_mode
        except OSError:
            continue  # the descriptor listdir used, closed by now
        count += 1
        if stat.S_ISSOCK(mode):
            sockets += 1
            s = socket.socket(fileno=os.dup(f))  # descriptors inherited from the test runner count too
            inet += s.family in (socket.AF_INET, socket.AF_INET6) and s.getsockname()[1] != 0
            s.close()
    print(count, sockets, inet, flush=True)
    sys.stdin.read()
    """

    let process = Process()
    private let input = Pipe()
    /// The first line the child printed.
    let firstLine: String

    /// Runs `script` (by default the one above) with `arguments` on its command line (a marker
    /// for `watch { command … }`), and waits for its first line.
    init(script: String = PythonChild.script, arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: PythonChild.python ?? "/usr/bin/python3")
        process.arguments = ["-c", script] + arguments
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var reported = Data()
        let deadline = Date().addingTimeInterval(20)
        while !reported.contains(0x0A), Date() < deadline, process.isRunning { reported += output.fileHandleForReading.availableData }
        firstLine = String(decoding: reported, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !firstLine.isEmpty, script != PythonChild.script || report.count == 3 else {
            try? input.fileHandleForWriting.close()
            process.terminate()
            process.waitUntilExit()
            throw POSIXError(.EIO)
        }
    }

    /// What the default script reported: descriptors, sockets, inet sockets.
    private var report: [Int] { firstLine.split(whereSeparator: \.isWhitespace).compactMap { Int($0) } }
    var fds: Int { report[0] }
    var sockets: Int { report[1] }
    var inet: Int { report[2] }

    var pid: Int32 { process.processIdentifier }

    /// VmRSS from `/proc/PID/status`, in bytes.
    var vmRSS: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        return status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int($0) }.map { $0 * 1024 }
    }

    /// Closes its stdin and waits for it to exit.
    func finish() {
        try? input.fileHandleForWriting.close()
        if process.isRunning { process.waitUntilExit() }
    }

    deinit {
        if process.isRunning { process.terminate(); process.waitUntilExit() }
    }
}

/// A TCP listener on 127.0.0.1 that never accepts (its backlog completes up to 128 connects).
func tcpListener(port: UInt16 = 0) -> (fd: Int32, port: UInt16)? {
    Loopback.listener(port: port)
}

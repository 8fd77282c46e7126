import Foundation
import Testing
@testable import VigilSidecar

struct ProcFSTests {
    @Test func statFieldsCountFromTheLastParenthesis() throws {
        // A command name with spaces and parentheses must not shift the fields.
        let text = "4242 (evil) name (x) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 7 0 123456 1000000 500 18446744073709551615\n"
        let s = try #require(ProcFS.parseStat(text))
        #expect(s.cpuTicks == 300)
        #expect(s.threads == 7)
        #expect(s.startTicks == 123456)
        #expect(ProcFS.parseStat("4242 (truncated) S 1 2") == nil)
    }

    @Test func socketTablesGiveInodes() {
        let tcp = """
          sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0
           1: 0100007F:A2C4 0100007F:1F90 01 00000000:00000000 00:00000000 00000000  1000        0 31338 1 0000000000000000 20 4 30 10 -1

        """
        #expect(ProcFS.parseSocketTable(tcp) == [31337, 31338])
        #expect(ProcFS.parseSocketTable("  sl  local_address\n") == [])
    }

    @Test func hostCountersAndMemory() {
        let stat = "cpu  100 0 50 800 40 5 5 0 0 0\ncpu0 50 0 25 400 20 2 3 0 0 0\n"
        #expect(ProcFS.parseCPU(stat) == ProcFS.CPUTimes(busy: 160, total: 1000))
        #expect(ProcFS.parseCPU("intr 1 2 3\n") == nil)
        let meminfo = "MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    6000000 kB\n"
        #expect(ProcFS.parseMeminfo(meminfo) == 10_000_000 * 1024)
        #expect(ProcFS.parseMeminfo("MemTotal: 1 kB\n") == nil)
        #expect(ProcFS.parseStatm("2560 1024 300 1 0 900 0\n")! == (2560, 1024))
    }

    @Test func cpuPercentFromTickDeltas() {
        var process = CPUSampler()
        #expect(process.percent(ticks: 1000, elapsedSeconds: 1) == nil) // no previous reading
        #expect(process.percent(ticks: 1000 + ProcFS.ticksPerSecond / 2, elapsedSeconds: 1) == 50)
        #expect(process.percent(ticks: 10, elapsedSeconds: 1) == nil) // ticks went back: a new process
        var host = CPUSampler()
        #expect(host.percent(ProcFS.CPUTimes(busy: 100, total: 400)) == nil)
        #expect(host.percent(ProcFS.CPUTimes(busy: 150, total: 500)) == 50)
    }

    @Test func theHostReadersWorkHere() throws {
        #expect(try #require(ProcFS.cpuTimes()).total > 0)
        #expect(try #require(ProcFS.memoryUsedBytes()) > 0)
        #expect(try #require(ProcFS.loadAverage()) >= 0)
        let disk = try #require(ProcFS.diskUsagePercent("/"))
        #expect(disk >= 0 && disk <= 100)
        #expect(ProcFS.diskUsagePercent("/no/such/mount") == nil)
    }

    static let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first { FileManager.default.isExecutableFile(atPath: $0) }

    @Test(.enabled(if: python != nil, "python3 is not installed: the child-process test needs it"), .timeLimit(.minutes(1)))
    func aChildProcessIsMeasuredAndItsExitSeen() throws {
        // The child holds 64 MB, opens 5 files, a TCP listener, a bound UDP socket and a Unix
        // socket, then reports its own descriptor and socket counts (by fstat, not by /proc) and
        // waits for its stdin to close.
        let script = """
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
        let child = Process()
        child.executableURL = URL(fileURLWithPath: try #require(Self.python))
        child.arguments = ["-c", script]
        let input = Pipe(), output = Pipe()
        child.standardInput = input
        child.standardOutput = output
        try child.run()
        defer { if child.isRunning { child.terminate(); child.waitUntilExit() } }
        var reported = Data()
        let deadline = Date().addingTimeInterval(20)
        while !reported.contains(0x0A), Date() < deadline { reported += output.fileHandleForReading.availableData }
        let counts = String(decoding: reported, as: UTF8.self).split(whereSeparator: \.isWhitespace).compactMap { Int($0) }
        try #require(counts.count == 3, "the child reported \(String(decoding: reported, as: UTF8.self))")
        let (fds, sockets, inet) = (counts[0], counts[1], counts[2])

        let pid = child.processIdentifier
        let p = try #require(ProcFS.process(pid))
        let status = try String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        let vmRSS = try #require(status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first }.flatMap { Int($0) }) * 1024
        #expect(abs(Double(p.rssBytes - vmRSS)) <= 0.1 * Double(vmRSS), "rss \(p.rssBytes) vs VmRSS \(vmRSS)")
        #expect(p.rssBytes > 64 << 20)
        #expect(p.vmsBytes >= p.rssBytes)
        #expect(p.openFDs == fds)
        #expect(p.sockets == sockets)
        #expect(sockets >= 3)
        #expect(inet >= 2)
        #expect(p.connections == inet) // the TCP listener and the UDP socket; the Unix socket is not a connection
        #expect(p.threads >= 1)
        #expect(p.startTicks > 0)

        try input.fileHandleForWriting.close()
        child.waitUntilExit()
        #expect(ProcFS.process(pid) == nil)
    }
}

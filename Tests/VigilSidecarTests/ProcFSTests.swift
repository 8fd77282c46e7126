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
        #expect(s.exited == false)
        #expect(ProcFS.parseStat("4242 (truncated) S 1 2") == nil)
        #expect(ProcFS.parseStat(text.replacingOccurrences(of: ") S 1", with: ") Z 1"))?.exited == true)
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

    /// A child that exited but was not reaped is a zombie: gone, not up with no memory.
    @Test(.enabled(if: PythonChild.python != nil, "python3 is not installed: the zombie test needs it"), .timeLimit(.minutes(1)))
    func aZombieIsGone() throws {
        let parent = try PythonChild(script: "import os, sys, time\npid = os.fork()\nif pid == 0: os._exit(0)\ntime.sleep(0.2)\nprint(pid, flush=True)\nsys.stdin.read()")
        defer { parent.finish() }
        let zombie = try #require(Int32(parent.firstLine))
        let stat = try String(contentsOfFile: "/proc/\(zombie)/stat", encoding: .utf8)
        #expect(ProcFS.parseStat(stat)?.exited == true, "\(stat)")
        #expect(ProcFS.process(zombie) == nil)
        #expect(ProcFS.process(parent.pid) != nil)
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

    @Test(.enabled(if: PythonChild.python != nil, "python3 is not installed: the child-process test needs it"), .timeLimit(.minutes(1)))
    func aChildProcessIsMeasuredAndItsExitSeen() throws {
        let child = try PythonChild()
        let (fds, sockets, inet) = (child.fds, child.sockets, child.inet)
        let pid = child.pid
        let p = try #require(ProcFS.process(pid))
        let vmRSS = try #require(child.vmRSS)
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

        child.finish()
        #expect(ProcFS.process(pid) == nil)
    }
}

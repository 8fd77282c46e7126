import Glibc

/// Reading `/proc` and `statvfs` for `watch` and `system` (SPEC §7). Each reader returns nil
/// when its file is missing or does not parse (a vanished process, a container without
/// `/proc`): the caller turns that into `process_up 0` or a skipped series, never a crash.
/// `root` is `/proc` except in tests.
public enum ProcFS {
    /// One look at a process.
    public struct Process: Equatable, Sendable {
        public var rssBytes: Int
        public var vmsBytes: Int
        public var threads: Int
        /// User plus system CPU time, in clock ticks (`CPUSampler` turns deltas into percent).
        public var cpuTicks: Int
        /// When it started, in clock ticks after boot: a pid whose start time changed is a new process.
        public var startTicks: Int
        public var openFDs: Int
        /// Descriptors that are sockets of any family (TCP, UDP, Unix, netlink).
        public var sockets: Int
        /// Descriptors that are TCP or UDP sockets, IPv4 or IPv6, in any state: psutil's
        /// `connections("inet")`, which is what `process_connections` reports. A socket never
        /// bound or connected is in no table and does not count.
        public var connections: Int
    }

    /// Host CPU counters from the first line of `/proc/stat`, in clock ticks.
    public struct CPUTimes: Equatable, Sendable {
        public var busy: Int
        public var total: Int
    }

    public static let ticksPerSecond = Int(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    public static func process(_ pid: Int32, root: String = "/proc") -> Process? {
        // A zombie (exited, not yet reaped by its parent) is gone: it holds no memory or files.
        guard let stat = read("\(root)/\(pid)/stat").flatMap(parseStat), !stat.exited,
              let statm = read("\(root)/\(pid)/statm").flatMap(parseStatm) else { return nil }
        var fds = 0
        var socketInodes: [Int] = []
        if let dir = opendir("\(root)/\(pid)/fd") {
            defer { closedir(dir) }
            var link = [UInt8](repeating: 0, count: 64)
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                guard name != ".", name != ".." else { continue }
                fds += 1
                // `socket:[INODE]`
                let n = link.withUnsafeMutableBufferPointer { buf in
                    buf.withMemoryRebound(to: CChar.self) { readlink("\(root)/\(pid)/fd/\(name)", $0.baseAddress!, $0.count - 1) }
                }
                if n > 9, link.prefix(8).elementsEqual("socket:[".utf8), let inode = Int(String(decoding: link[8..<(n - 1)], as: UTF8.self)) {
                    socketInodes.append(inode)
                }
            }
        } else {
            return nil
        }
        var connections = 0
        if !socketInodes.isEmpty {
            var inet = Set<Int>()
            for table in ["tcp", "tcp6", "udp", "udp6"] {
                if let text = read("\(root)/\(pid)/net/\(table)") { inet.formUnion(parseSocketTable(text)) }
            }
            connections = socketInodes.count { inet.contains($0) }
        }
        return Process(rssBytes: statm.resident * pageSize, vmsBytes: statm.size * pageSize, threads: stat.threads,
                       cpuTicks: stat.cpuTicks, startTicks: stat.startTicks, openFDs: fds, sockets: socketInodes.count,
                       connections: connections)
    }

    /// The inodes of `/proc/PID/net/{tcp,tcp6,udp,udp6}` (the process's network namespace): a
    /// header line, then one socket per line with the inode in the tenth column.
    static func parseSocketTable(_ text: String) -> [Int] {
        text.split(separator: "\n").dropFirst().compactMap { line in
            let f = line.split(separator: " ", maxSplits: 10, omittingEmptySubsequences: true)
            return f.count > 9 ? Int(f[9]) : nil
        }
    }

    /// The oldest process (`pgrep -o -f`) whose command line, its arguments joined by spaces,
    /// contains `text`; never this process.
    public static func oldestProcess(commandContaining text: String, root: String = "/proc") -> Int32? {
        guard let dir = opendir(root) else { return nil }
        defer { closedir(dir) }
        let me = getpid()
        var best: (pid: Int32, start: Int)?
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = Int32(name), pid != me, let raw = read("\(root)/\(pid)/cmdline"), !raw.isEmpty else { continue }
            let command = raw.split(separator: "\0").joined(separator: " ")
            guard command.contains(text), let stat = read("\(root)/\(pid)/stat").flatMap(parseStat), !stat.exited else { continue }
            if best == nil || stat.startTicks < best!.start { best = (pid, stat.startTicks) }
        }
        return best?.pid
    }

    /// Resident memory alone (statm), without the descriptor walk of `process`.
    public static func residentBytes(_ pid: Int32, root: String = "/proc") -> Int? {
        read("\(root)/\(pid)/statm").flatMap(parseStatm).map { $0.resident * pageSize }
    }

    /// `/proc/PID/stat`: the command name is in parentheses and may hold spaces and `)`, so the
    /// fields are counted from the last `)`. After it: state is field 3, utime 14, stime 15,
    /// num_threads 20, starttime 22 (proc(5)).
    static func parseStat(_ text: String) -> (cpuTicks: Int, threads: Int, startTicks: Int, exited: Bool)? {
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(whereSeparator: { $0 == " " || $0 == "\n" })
        func field(_ n: Int) -> Int? { n - 3 < fields.count ? Int(fields[n - 3]) : nil }
        guard let state = fields.first, let utime = field(14), let stime = field(15), let threads = field(20), let start = field(22) else { return nil }
        return (utime + stime, threads, start, state == "Z" || state == "X")
    }

    /// `/proc/PID/statm`: size and resident, in pages.
    static func parseStatm(_ text: String) -> (size: Int, resident: Int)? {
        let f = text.split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard f.count >= 2, let size = Int(f[0]), let resident = Int(f[1]) else { return nil }
        return (size, resident)
    }

    public static func cpuTimes(root: String = "/proc") -> CPUTimes? { read("\(root)/stat").flatMap(parseCPU) }

    /// When the host booted, in Unix seconds (`btime` in `/proc/stat`).
    public static func bootTime(root: String = "/proc") -> Int? {
        read("\(root)/stat")?.split(separator: "\n").first { $0.hasPrefix("btime ") }.flatMap { Int($0.dropFirst(6)) }
    }

    /// `cpu user nice system idle iowait irq softirq steal …`: idle and iowait are not busy.
    static func parseCPU(_ text: String) -> CPUTimes? {
        guard let line = text.split(separator: "\n").first, line.hasPrefix("cpu ") else { return nil }
        let values = line.split(separator: " ").dropFirst().prefix(8).compactMap { Int($0) }
        guard values.count >= 4 else { return nil }
        let total = values.reduce(0, +)
        let idle = values[3] + (values.count > 4 ? values[4] : 0)
        return CPUTimes(busy: total - idle, total: total)
    }

    /// Memory in use: MemTotal minus MemAvailable, in bytes.
    public static func memoryUsedBytes(root: String = "/proc") -> Int? { read("\(root)/meminfo").flatMap(parseMeminfo) }

    static func parseMeminfo(_ text: String) -> Int? {
        var total: Int?, available: Int?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 2, let kb = Int(f[1]) else { continue }
            if f[0] == "MemTotal:" { total = kb }
            if f[0] == "MemAvailable:" { available = kb }
        }
        guard let total, let available else { return nil }
        return (total - available) * 1024
    }

    /// The 1-minute load average.
    public static func loadAverage(root: String = "/proc") -> Double? {
        read("\(root)/loadavg").flatMap { $0.split(separator: " ").first.flatMap { Double($0) } }
    }

    /// Used space of the file system holding `path`, in percent of what non-root users can have
    /// (as `df` computes it).
    public static func diskUsagePercent(_ path: String) -> Double? {
        var s = statvfs()
        guard statvfs(path, &s) == 0 else { return nil }
        let used = Double(s.f_blocks - s.f_bfree), available = Double(s.f_bavail)
        guard used + available > 0 else { return nil }
        return used / (used + available) * 100
    }

    /// A whole small file (procfs files report size 0, so read until EOF).
    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while out.count < 1 << 20 {
            let n = buf.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0, errno == EINTR { continue }
            if n <= 0 { break }
            out += buf[0..<n]
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// Percent of one CPU (process) or of the whole host, from two readings of a tick counter.
public struct CPUSampler: Sendable {
    private var last: (ticks: Int, total: Int)?

    public init() {}

    /// Process CPU: ticks used over the wall-clock ticks elapsed (100 = one core busy).
    public mutating func percent(ticks: Int, elapsedSeconds: Double) -> Double? {
        defer { last = (ticks, 0) }
        guard let last, elapsedSeconds > 0, ticks >= last.ticks else { return nil }
        return Double(ticks - last.ticks) / Double(ProcFS.ticksPerSecond) / elapsedSeconds * 100
    }

    /// Host CPU: busy ticks over all ticks since the last reading (100 = every core busy).
    public mutating func percent(_ t: ProcFS.CPUTimes) -> Double? {
        defer { last = (t.busy, t.total) }
        guard let last, t.total > last.total, t.busy >= last.ticks else { return nil }
        return Double(t.busy - last.ticks) / Double(t.total - last.total) * 100
    }
}

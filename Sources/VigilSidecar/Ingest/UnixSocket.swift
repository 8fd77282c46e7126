import Glibc

/// The one place that spells out `sockaddr_un`: the stream source, the demo's trader, the
/// benchmark and the tests all connect through it.
public enum UnixSocket {
    /// The address of `path`, or nil when the path does not fit in `sun_path` (107 bytes).
    public static func address(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return addr
    }

    /// A connected stream socket to `path`, or nil when nobody listens there (or the path is invalid).
    public static func connect(_ path: String) -> Int32? {
        guard var addr = address(path) else { return nil }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if ok == 0 { return fd }
        close(fd)
        return nil
    }

    /// `connect`, retried every 100 ms up to `attempts` times (a peer that is still starting).
    public static func connect(_ path: String, attempts: Int) -> Int32? {
        for attempt in 0..<max(1, attempts) {
            if let fd = connect(path) { return fd }
            if attempt + 1 < attempts { usleep(100_000) }
        }
        return nil
    }
}

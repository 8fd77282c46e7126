import Glibc

/// TCP on 127.0.0.1 for tests and the bench, written once: a bound socket on a free (or given)
/// port, and a client connection with a receive timeout.
public enum Loopback {
    /// A TCP socket bound to 127.0.0.1:`port` (0: any free port), and the port it got.
    /// `reuseAddress` lets a listener take a port a closed one left in TIME_WAIT.
    public static func bind(port: UInt16 = 0, reuseAddress: Bool = false) -> (fd: Int32, port: UInt16)? {
        let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        var one: Int32 = 1
        if reuseAddress { setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size)) }
        var addr = address(port)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(s, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0 else { close(s); return nil }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(s, $0, &len) } }
        return (s, UInt16(bigEndian: addr.sin_port))
    }

    /// A listener on 127.0.0.1 with `backlog`, and its port.
    public static func listener(port: UInt16 = 0, backlog: Int32 = 128, reuseAddress: Bool = true) -> (fd: Int32, port: UInt16)? {
        guard let (s, bound) = bind(port: port, reuseAddress: reuseAddress) else { return nil }
        guard listen(s, backlog) == 0 else { close(s); return nil }
        return (s, bound)
    }

    /// A connection to 127.0.0.1:`port` whose reads give up after `receiveTimeout` seconds; with
    /// `nonBlocking` the connect is started and the descriptor returned at once.
    public static func connect(_ port: UInt16, receiveTimeout: Int = 10, nonBlocking: Bool = false) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0), 0)
        var addr = address(port)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var tv = timeval(tv_sec: receiveTimeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        return fd
    }

    private static func address(_ port: UInt16) -> sockaddr_in {
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return addr
    }
}

import Glibc
import VigilRules

/// Non-blocking connects for `tcp` probes: resolve, start, and read the outcome when the socket
/// turns writable. `Monitor` polls the descriptors, so a target that never answers holds one
/// descriptor until its deadline and nothing else.
enum TCPConnect {
    /// A socket address, as bytes (`sockaddr_in`, `sockaddr_in6` or `sockaddr_un`).
    struct Address: Sendable, Equatable {
        let family: Int32
        let bytes: [UInt8]
    }

    enum Resolution: Sendable, Equatable {
        case addresses([Address])
        /// A host name: resolve it off the probe thread (`getaddrinfo` blocks).
        case needsLookup
        case failed(String)
    }

    /// The addresses of a target without any lookup: numeric hosts and Unix paths.
    static func resolveNumeric(_ target: Surroundings.Probe.Target) -> Resolution {
        switch target {
        case .unix(let path):
            guard var a = UnixSocket.address(path) else { return .failed("the socket path is too long") }
            return .addresses([Address(family: AF_UNIX, bytes: withUnsafeBytes(of: &a) { Array($0) })])
        case .tcp(let host, let port):
            return lookup(host: host, port: port, numericOnly: true)
        case .http:
            return .failed("not a TCP target")
        }
    }

    /// `getaddrinfo`, blocking unless `numericOnly`.
    static func lookup(host: String, port: UInt16, numericOnly: Bool) -> Resolution {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        // No AI_ADDRCONFIG: on a host with only loopback it hides even `localhost`. An address
        // family the host cannot reach fails its connect, and the next address is tried.
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : 0)
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0 else {
            if numericOnly, rc == EAI_NONAME { return .needsLookup }
            return .failed("cannot resolve \(host): \(String(cString: gai_strerror(rc)))")
        }
        defer { freeaddrinfo(result) }
        var addresses: [Address] = []
        var next = result
        while let ai = next {
            if let sa = ai.pointee.ai_addr {
                let bytes = Array(UnsafeRawBufferPointer(start: sa, count: Int(ai.pointee.ai_addrlen)))
                let a = Address(family: ai.pointee.ai_family, bytes: bytes)
                if !addresses.contains(a) { addresses.append(a) }
            }
            next = ai.pointee.ai_next
        }
        return addresses.isEmpty ? .failed("no address for \(host)") : .addresses(addresses)
    }

    enum Start: Equatable {
        case connected(Int32)
        case inProgress(Int32)
        case failed(String)
    }

    /// Opens a non-blocking socket and starts connecting it.
    static func start(_ address: Address) -> Start {
        let fd = socket(address.family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed("cannot open a socket: \(describe(errno))") }
        let rc = address.bytes.withUnsafeBytes { raw in
            Glibc.connect(fd, raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(raw.count))
        }
        if rc == 0 { return .connected(fd) }
        let err = errno
        if err == EINPROGRESS || err == EINTR { return .inProgress(fd) }
        close(fd)
        // A Unix socket whose listener's backlog is full fails at once with EAGAIN.
        return .failed(err == EAGAIN ? "not accepting connections (its backlog is full)" : describe(err))
    }

    /// After the socket turned writable (or errored): nil when connected, else why not.
    static func outcome(_ fd: Int32) -> String? {
        var err: Int32 = 0
        var len = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 else { return describe(errno) }
        return err == 0 ? nil : describe(err)
    }

    /// `connection refused` rather than `ECONNREFUSED` or a number.
    static func describe(_ err: Int32) -> String {
        String(cString: strerror(err)).lowercased()
    }
}

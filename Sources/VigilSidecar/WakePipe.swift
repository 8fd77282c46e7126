import Glibc

/// A self-pipe that wakes a thread blocked in `poll`: non-blocking and close-on-exec at both
/// ends. If the pipe cannot be made, both ends are -1: `wake` does nothing, and the thread
/// sees a stop or new work only when its own poll timeout ends.
final class WakePipe: Sendable {
    /// The end to poll for `POLLIN`.
    let readFD: Int32
    private let writeFD: Int32

    init() {
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            for fd in fds {
                _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            }
        } else {
            fds = [-1, -1]
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    func wake() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1) // a full pipe already holds a wake-up
    }

    /// Empties the pipe (after `poll` returned), so the next poll waits again.
    func drain() {
        var bytes = [UInt8](repeating: 0, count: 64)
        while read(readFD, &bytes, bytes.count) > 0 {}
    }
}

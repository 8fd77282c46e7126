import Foundation
import Synchronization

/// Where commands write: standard streams in the binary, a buffer in tests.
public protocol Terminal: Sendable {
    func out(_ text: String)
    func err(_ text: String)
}

/// The process's stdout and stderr.
public struct StandardTerminal: Terminal {
    public init() {}
    public func out(_ text: String) { FileHandle.standardOutput.write(Data(text.utf8)) }
    public func err(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

/// Captures output, for tests.
public final class CapturedTerminal: Terminal {
    private let buffers = Mutex<(out: String, err: String)>(("", ""))

    public init() {}
    public func out(_ text: String) { buffers.withLock { $0.out += text } }
    public func err(_ text: String) { buffers.withLock { $0.err += text } }
    public var stdout: String { buffers.withLock { $0.out } }
    public var stderr: String { buffers.withLock { $0.err } }
}

import VigilRules
import VigilEngine
import VigilAlerting

/// The I/O shell: sockets, HTTP, delivery, journal, the run loop (issue 5).
public enum VigilSidecar {}

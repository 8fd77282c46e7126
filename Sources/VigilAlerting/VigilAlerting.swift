import VigilRules
import VigilEngine

/// Routing, silences, escalation and payloads (issue 4).
public enum VigilAlerting {}

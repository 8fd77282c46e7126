import VigilRules

/// The evaluation engine: stream decoding, series, windows, alert state (issue 3).
public enum VigilEngine {}

/// What this build of vigil is.
public enum Build {
    public static let version = "0.1.0"
}

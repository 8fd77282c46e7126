import Foundation
import VigilRules

/// Turns the paths a user gave into files: a directory means every `*.rules` and `*.json` file in it
/// (SPEC §5), sorted by name so output is stable.
enum RulePaths {
    static func expand(_ paths: [String], command: String, extensions: [String] = [".rules", ".json"]) throws(UsageError) -> [SourceFile] {
        var files: [SourceFile] = []
        for path in paths {
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw UsageError(message: "cannot read '\(path)': no such file or directory", command: nil)
            }
            if isDir.boolValue {
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [])
                    .filter { name in extensions.contains { name.hasSuffix($0) } }
                    .sorted()
                if names.isEmpty {
                    throw UsageError(message: "no \(extensions.map { "*\($0)" }.joined(separator: " or ")) files in '\(path)'", command: nil)
                }
                let base = path.hasSuffix("/") ? path : path + "/"
                for name in names { files.append(try read(base + name)) }
            } else {
                files.append(try read(path))
            }
        }
        return files
    }

    static func read(_ path: String, kind: SourceKind? = nil) throws(UsageError) -> SourceFile {
        do {
            return try SourceFile.read(path: path, kind: kind)
        } catch {
            throw UsageError(message: "\(error)", command: nil)
        }
    }
}

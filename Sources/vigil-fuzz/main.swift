import CFuzzer
import Foundation
import VigilFuzz

// vigil-fuzz HARNESS [libFuzzer options and corpus directories]
//
// Built with `-sanitize=fuzzer` (see the README), this runs libFuzzer on one harness. In an
// ordinary build it replays the files and directories it is given through the harness, which
// is how a finding is reproduced under a debugger.

func usage() -> Never {
    FileHandle.standardError.write(Data("usage: vigil-fuzz \(Harness.allCases.map(\.rawValue).joined(separator: "|")) [libFuzzer options] [CORPUS_DIR...]\n".utf8))
    exit(2)
}

let arguments = CommandLine.arguments
guard arguments.count >= 2, let harness = Harness(rawValue: arguments[1]) else { usage() }

nonisolated(unsafe) var selected = harness
let callback: vigil_fuzz_callback = { data, size in
    selected.run(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

// libFuzzer sees the program name and everything after the harness name.
var forwarded = [arguments[0]] + arguments.dropFirst(2)
var cStrings: [UnsafeMutablePointer<CChar>?] = forwarded.map { strdup($0) } + [nil]
var argc = Int32(forwarded.count)
let status: Int32 = cStrings.withUnsafeMutableBufferPointer { buffer in
    var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
    return vigil_fuzz_run_driver(&argc, &argv, callback)
}
if status != -1 { exit(status) }

// No libFuzzer in this build: replay.
var files: [String] = []
for path in arguments.dropFirst(2) where !path.hasPrefix("-") {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
    if isDirectory.boolValue {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        files += names.filter { !$0.hasPrefix(".") }.sorted().map { path + "/" + $0 }
    } else {
        files.append(path)
    }
}
for file in files {
    guard let data = FileManager.default.contents(atPath: file) else { continue }
    harness.run(Array(data))
}
print("vigil-fuzz \(harness.rawValue): replayed \(files.count) inputs (this build has no libFuzzer; see the README to fuzz)")

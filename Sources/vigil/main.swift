import Foundation
import VigilCLI

let arguments = Array(CommandLine.arguments.dropFirst())
// Before anything starts a thread. `run` and `demo` handle signals; a signal that comes while
// they start waits for them.
Signals.takeOver(holding: ["run", "demo"].contains(arguments.first ?? ""))
exit(CLI.run(arguments, terminal: StandardTerminal()))

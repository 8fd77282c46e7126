import Foundation
import VigilCLI

exit(CLI.run(Array(CommandLine.arguments.dropFirst()), terminal: StandardTerminal()))

import ArgumentParser
import Foundation
import Logging
import Outbox

enum StandardError {
    static func line(_ s: String) {
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }
}

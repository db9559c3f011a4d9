import ArgumentParser
import Foundation
import Logging
import Outbox

/// Writes to standard output through one lock, flushing each write (so a reader of the pipe sees every
/// acknowledged sequence number as soon as it is durable).
final class Output: @unchecked Sendable {
    static let shared = Output()
    private let lock = NSLock()

    func write(_ s: String) {
        lock.lock()
        defer { lock.unlock() }
        var bytes = Array(s.utf8)
        bytes.withUnsafeMutableBytes { raw in
            var done = 0
            while done < raw.count {
                let n = Glibc.write(1, raw.baseAddress! + done, raw.count - done)
                if n < 0 { if errno == EINTR { continue }; return }
                done += n
            }
        }
    }
}

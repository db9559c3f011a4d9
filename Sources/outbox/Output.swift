import Outbox
import Synchronization

/// Writes to standard output through one lock, each write going out at once (so a reader of the pipe
/// sees every acknowledged sequence number as soon as it is durable). A closed pipe drops the output.
final class Output: Sendable {
    static let shared = Output()
    private let lock = Mutex(())

    func write(_ s: String) {
        lock.withLock { _ in
            let bytes = Array(s.utf8)
            _ = bytes.withUnsafeBytes { LinuxSystemCalls().writeAll(1, $0, at: nil) }
        }
    }
}

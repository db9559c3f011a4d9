#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The second thread of ``FsyncFloor/Style/handoff``: it writes and syncs the record at each offset it is
/// handed, one at a time, and wakes the caller when done (two wake-ups per commit, nothing else).
final class FloorHandoff: @unchecked Sendable {
    private let condition = NSCondition()
    private var offset: off_t?
    private var completed = false
    private var stopping = false
    private var failure: Int32 = 0

    init(fd: Int32, record: [UInt8]) {
        Thread { [self] in
            while true {
                condition.lock()
                while offset == nil && !stopping { condition.wait() }
                guard let at = offset else {
                    condition.unlock()
                    return
                }
                condition.unlock()
                let written = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, at) }
                let ok = written == record.count && fdatasync(fd) == 0
                let error = ok ? 0 : (errno == 0 ? EIO : errno)
                condition.lock()
                failure = error
                offset = nil
                completed = true
                condition.signal()
                condition.unlock()
            }
        }.start()
    }

    /// Hands over one commit and waits for it: 0, or the `errno` of the write or sync that failed.
    func commit(at: off_t) -> Int32 {
        condition.lock()
        defer { condition.unlock() }
        offset = at
        completed = false
        condition.signal()
        while !completed { condition.wait() }
        return failure
    }

    /// Lets the thread exit (once it is idle, as it is between commits).
    func stop() {
        condition.lock()
        stopping = true
        condition.signal()
        condition.unlock()
    }
}

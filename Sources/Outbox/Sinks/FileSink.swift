#if canImport(Glibc)
import Glibc
#endif

/// Appends each message as a JSON Lines record (``SinkRecord``) to a file, with one `write` and one
/// `fdatasync` per batch: a batch reported published is on disk.
///
/// The file is created with mode 0600 if missing. Writes run on a dedicated thread. A failed `write` or
/// `fdatasync` (a full disk, an I/O error) says nothing about the messages: the batch is reported
/// ``PublishOutcome/unavailable(_:)`` and the relay waits until the file takes writes again.
public final class FileSink: OutboxSink {
    public let path: String
    private let fd: Int32
    private let executor = BlockingExecutor(name: "outbox-file-sink")

    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OutboxError.system("open", errno: errno, path: path) }
        self.path = path
        self.fd = fd
    }

    deinit {
        executor.stop()
        close(fd)
    }

    public func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let bytes = SinkRecord.lines(batch)
        let fd = self.fd, path = self.path
        do {
            try await executor.run {
                try writeFully(fd, bytes, path: path)
                if fdatasync(fd) != 0 { throw OutboxError.system("fdatasync", errno: errno, path: path) }
            }
            return Array(repeating: .published, count: batch.count)
        } catch {
            return Array(repeating: .unavailable("\(error)"), count: batch.count)
        }
    }

    public var displayName: String { "file:\(path)" }
}

/// Writes all of `bytes` to `fd` through the syscall seam (files that are not outbox files: sinks,
/// standard output), or throws naming `path`.
func writeFully(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
    let (_, errno) = bytes.withUnsafeBytes { LinuxSystemCalls().writeAll(fd, $0, at: nil) }
    if let errno { throw OutboxError.system("write", errno: errno, path: path) }
}

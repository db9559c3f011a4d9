#if canImport(Glibc)
import Glibc
#endif

/// Appends each message as a JSON Lines record (``SinkRecord``) to a file, with one `write` and one
/// `fdatasync` per batch: a batch reported published is on disk.
///
/// The file is created with mode 0600 if missing. Writes run on a dedicated thread. A failed `write` or
/// `fdatasync` (a full disk, an I/O error) says nothing about the messages: the batch is reported
/// ``PublishOutcome/unavailable(_:)`` and the relay waits until the file takes writes again.
///
/// **Never a partial record.** A batch either ends in the file whole, followed by its `fdatasync`, or not
/// at all: after a failed write or sync the file is cut back to where the batch began. A regular file
/// whose last record has no line end when a batch begins (a crash, or another writer, left it) has that
/// tail moved to `PATH.partial` first (appended there and synced, then cut from the file), so every line
/// of the file is one whole record. Pipes and devices are written as they are.
public final class FileSink: OutboxSink {
    public let path: String
    private let fd: Int32
    private let sys: any SystemCalls
    private let executor = BlockingExecutor(name: "outbox-file-sink")
    /// Where this sink's last batch ended, if it knows: a file of another size was written meanwhile (by
    /// a relay before this one), and its end is checked again.
    private let knownEnd = Shared<Int64?>(nil)
    /// The `errno` of the last write that failed, and whether the file is a regular one.
    private let lastFailure = Shared<(errno: Int32, regular: Bool)?>(nil)

    public convenience init(path: String) throws {
        try self.init(path: path, systemCalls: LinuxSystemCalls())
    }

    init(path: String, systemCalls: any SystemCalls) throws {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OutboxError.failed(.open, errno: errno, path: path) }
        self.path = path
        self.fd = fd
        self.sys = systemCalls
    }

    deinit {
        executor.stop()
        close(fd)
    }

    public func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        let bytes = SinkRecord.lines(batch)
        do {
            try await executor.run { [self] in try append(bytes) }
            lastFailure.set(nil)
            return Array(repeating: .published, count: batch.count)
        } catch {
            return Array(repeating: .unavailable("\(error)"), count: batch.count)
        }
    }

    /// Available unless the last write failed in a way waiting cannot fix: the file reached the largest
    /// size allowed (`EFBIG`: the file system's limit or `RLIMIT_FSIZE`), or a device that is not a
    /// regular file is full (`/dev/full`). Those throw ``OutboxError/Code/invalidArgument``: the relay
    /// shows the sink as misconfigured (health checks fail) and goes on probing; rotating or replacing
    /// the file ends it. A full disk (`ENOSPC` on a regular file) is an outage, waited out.
    public func checkAvailability() async throws -> SinkAvailability {
        guard let failure = lastFailure.get() else { return .available }
        let status = try? sys.fstat(fd)
        if failure.errno == EFBIG, status.map({ $0.isRegular }) ?? true {
            throw OutboxError(.invalidArgument, "\(path) has reached the largest size allowed for it (EFBIG): rotate or move it", path: path)
        }
        if failure.errno == ENOSPC, !failure.regular {
            throw OutboxError(.invalidArgument, "\(path) is not a regular file and takes no more bytes (ENOSPC): name a file", path: path)
        }
        return .available
    }

    /// Writes and syncs one batch's records, or leaves the file as it was.
    private func append(_ bytes: [UInt8]) throws {
        let status: (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool)
        do { status = try sys.fstat(fd) } catch { throw OutboxError.failed(.fstat, error, path: path) }
        do { try write(bytes, status: status) } catch let e as OutboxError {
            if let errno = e.errno { lastFailure.set((errno, status.isRegular)) }
            throw e
        }
    }

    private func write(_ bytes: [UInt8], status: (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool)) throws {
        guard status.isRegular else {
            try writeFully(fd, bytes, path: path, sys: sys)
            try sync()
            return
        }
        var end = status.size
        if end != knownEnd.get() {
            knownEnd.set(nil)
            end = try setAsidePartialRecord(size: end)
        }
        do {
            let (_, errno) = bytes.withUnsafeBytes { sys.writeAll(fd, $0, at: nil) }
            if let errno { throw OutboxError.failed(.write, errno: errno, path: path) }
            try sync()
        } catch {
            // Cut what was written of this batch (a sync that failed may have lost any of it); if even that
            // fails, the next batch finds the file's end changed and sets the partial record aside.
            try? sys.ftruncate(fd, end)
            throw error
        }
        knownEnd.set(end + Int64(bytes.count))
    }

    private func sync() throws {
        do { try sys.fdatasync(fd) } catch { throw OutboxError.failed(.fdatasync, error, path: path) }
    }

    /// If the file's last byte (of `size`) is not a line end, moves the bytes after the last line end to
    /// `PATH.partial` (appended, synced) and cuts them from the file; returns the file's end.
    private func setAsidePartialRecord(size: Int64) throws -> Int64 {
        guard size > 0 else { return 0 }
        let reader = open(path, O_RDONLY | O_CLOEXEC)
        guard reader >= 0 else { throw OutboxError.failed(.open, errno: errno, path: path) }
        defer { close(reader) }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var cut = size
        var at = size
        search: while at > 0 {
            let n = Int(min(Int64(buffer.count), at))
            at -= Int64(n)
            let got = try buffer.withUnsafeMutableBytes { try sys.pread(reader, UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), at) }
            guard got == n else { throw OutboxError(.io, "the file changed while its last record was read", path: path) }
            for i in stride(from: n - 1, through: 0, by: -1) where buffer[i] == UInt8(ascii: "\n") {
                cut = at + Int64(i) + 1
                break search
            }
            cut = at
        }
        guard cut < size else { return size }
        let aside = path + ".partial"
        let out = open(aside, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard out >= 0 else { throw OutboxError.failed(.open, errno: errno, path: aside) }
        defer { close(out) }
        var offset = cut
        while offset < size {
            let n = Int(min(Int64(buffer.count), size - offset))
            let got = try buffer.withUnsafeMutableBytes { try sys.pread(reader, UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), offset) }
            guard got == n else { throw OutboxError(.io, "the file changed while its last record was set aside", path: path) }
            try writeFully(out, Array(buffer[0..<n]), path: aside, sys: sys)
            offset += Int64(n)
        }
        try writeFully(out, [UInt8(ascii: "\n")], path: aside, sys: sys)
        do { try sys.fdatasync(out) } catch { throw OutboxError.failed(.fdatasync, error, path: aside) }
        do { try sys.ftruncate(fd, cut) } catch { throw OutboxError.failed(.ftruncate, error, path: path) }
        try sync()
        return cut
    }

    public var displayName: String { "file:\(path)" }
}

/// Writes all of `bytes` to `fd` through the syscall seam (files that are not outbox files: sinks,
/// standard output), or throws naming `path`.
func writeFully(_ fd: Int32, _ bytes: [UInt8], path: String, sys: any SystemCalls = LinuxSystemCalls()) throws {
    let (_, errno) = bytes.withUnsafeBytes { sys.writeAll(fd, $0, at: nil) }
    if let errno { throw OutboxError.failed(.write, errno: errno, path: path) }
}

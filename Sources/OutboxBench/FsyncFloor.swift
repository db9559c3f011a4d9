#if canImport(Glibc)
import Glibc
#endif
import Outbox

/// The disk's durable-write floors, in the directory under test: what a durable append
/// costs when no other commit shares its `fdatasync`, written the way C would write it (on one thread,
/// or two for ``Style/handoff``).
enum FsyncFloor {
    /// How the file is written.
    enum Style {
        /// `write` + `fdatasync` appending to a file that grows with every write (so every sync also
        /// writes the inode's new size).
        case append
        /// `pwrite` + `fdatasync` into a file zero-filled and synced beforehand (data pages only).
        case preallocated
        /// ``preallocated``, but each `pwrite` + `fdatasync` runs on a second thread while the measuring
        /// thread waits for it: the two thread wake-ups per commit that any writer pays which keeps
        /// blocking calls off its callers' threads (as the outbox must keep them off Swift's pool).
        case handoff
    }

    /// `commits` rounds of one `recordSize`-byte write and one `fdatasync`.
    static func measure(_ style: Style, in directory: String, commits: Int, recordSize: Int) throws -> BenchSample {
        let path = directory + "/fsync-floor.bin"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | (style == .append ? O_APPEND : 0), 0o600)
        let preallocate = style != .append
        guard fd >= 0 else { throw OutboxError(.io, "cannot create \(path)", path: path, errno: errno) }
        defer {
            close(fd)
            unlink(path)
        }
        let record = [UInt8](repeating: 0x5A, count: recordSize)
        if preallocate {
            let zeros = [UInt8](repeating: 0, count: 1 << 20)
            var done = 0
            while done < commits * recordSize {
                let n = zeros.withUnsafeBytes { pwrite(fd, $0.baseAddress, min($0.count, commits * recordSize - done), off_t(done)) }
                guard n > 0 else { throw OutboxError(.io, "cannot preallocate \(path)", path: path, errno: errno) }
                done += n
            }
            guard fsync(fd) == 0 else { throw OutboxError(.syncFailed, "fsync failed", path: path, errno: errno) }
        }
        let handoff = style == .handoff ? FloorHandoff(fd: fd, record: record) : nil
        defer { handoff?.stop() }
        var latencies: [Duration] = []
        latencies.reserveCapacity(commits)
        let device = DeviceCounter.start(in: directory)
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<commits {
            let t = clock.now
            if let handoff {
                let failure = handoff.commit(at: off_t(i * recordSize))
                guard failure == 0 else { throw OutboxError(.syncFailed, "write or fdatasync failed", path: path, errno: failure) }
            } else {
                let written = record.withUnsafeBytes { raw in
                    style == .append ? write(fd, raw.baseAddress, raw.count) : pwrite(fd, raw.baseAddress, raw.count, off_t(i * recordSize))
                }
                guard written == recordSize else { throw OutboxError(.io, "write failed", path: path, errno: errno) }
                guard fdatasync(fd) == 0 else { throw OutboxError(.syncFailed, "fdatasync failed", path: path, errno: errno) }
            }
            latencies.append(clock.now - t)
        }
        let elapsed = clock.now - start
        return BenchSample(operations: commits, elapsed: elapsed, latencies: latencies, fdatasyncs: commits,
                           deviceBytes: device?.end(), payloadBytes: Int64(commits * recordSize))
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Outbox

/// The disk's durable-write floor: one small `pwrite` and one `fdatasync` at a time, on one thread, in
/// the directory under test. No durable commit can have a lower latency; a group commit can carry
/// many messages per `fdatasync`.
enum FsyncFloor {
    static func measure(in directory: String, commits: Int) throws -> LatencySummary {
        let path = directory + "/fsync-floor.bin"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw OutboxError(.io, "cannot create \(path)", path: path, errno: errno) }
        defer {
            close(fd)
            unlink(path)
        }
        let record = [UInt8](repeating: 0x5A, count: 128)
        var latencies: [Duration] = []
        latencies.reserveCapacity(commits)
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<commits {
            let t = clock.now
            let written = record.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, off_t(i * record.count)) }
            guard written == record.count else { throw OutboxError(.io, "pwrite failed", path: path, errno: errno) }
            guard fdatasync(fd) == 0 else { throw OutboxError(.syncFailed, "fdatasync failed", path: path, errno: errno) }
            latencies.append(clock.now - t)
        }
        return LatencySummary(name: "fsync floor (pwrite + fdatasync)", operations: commits, elapsed: clock.now - start, latencies: latencies)
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Outbox
import Synchronization

/// The real system calls, counting the `fdatasync`s and `fsync`s an outbox makes: the benchmark reports
/// messages per `fdatasync` from this count, not derived from throughput.
package final class CountingSystemCalls: SystemCalls {
    private let real = LinuxSystemCalls()
    private let dataSyncs = Atomic<Int>(0)
    private let syncs = Atomic<Int>(0)

    package init() {}

    /// `fdatasync` calls so far.
    package var fdatasyncs: Int { dataSyncs.load(ordering: .relaxed) }
    /// `fsync` calls so far (segment rolls, directories, close).
    package var fsyncs: Int { syncs.load(ordering: .relaxed) }

    package func fdatasync(_ fd: Int32) throws {
        dataSyncs.add(1, ordering: .relaxed)
        try real.fdatasync(fd)
    }

    package func fsync(_ fd: Int32) throws {
        syncs.add(1, ordering: .relaxed)
        try real.fsync(fd)
    }

    package func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32 {
        try real.openat(directory, name, flags, mode)
    }
    package func close(_ fd: Int32) { real.close(fd) }
    package func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int { try real.pwrite(fd, bytes, offset) }
    package func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws -> Int { try real.write(fd, bytes) }
    package func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int { try real.pread(fd, buffer, offset) }
    package func ftruncate(_ fd: Int32, _ size: Int64) throws { try real.ftruncate(fd, size) }
    package func renameat(_ directory: Int32, _ from: String, _ to: String) throws { try real.renameat(directory, from, to) }
    package func linkat(_ directory: Int32, _ from: String, _ to: String) throws { try real.linkat(directory, from, to) }
    package func unlinkat(_ directory: Int32, _ name: String) throws { try real.unlinkat(directory, name) }
    package func flock(_ fd: Int32, _ operation: Int32) throws { try real.flock(fd, operation) }
    package func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool) { try real.fstat(fd) }
    package func fchmod(_ fd: Int32, _ mode: mode_t) throws { try real.fchmod(fd, mode) }
    package func mkdir(_ path: String, _ mode: mode_t) throws { try real.mkdir(path, mode) }
    package func listDirectory(_ directory: Int32) throws -> [String] { try real.listDirectory(directory) }
    package func flockHolder(_ fd: Int32) -> Int32? { real.flockHolder(fd) }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The seam every system call that touches outbox files goes through.
///
/// The library never calls `write`, `fdatasync`, `rename`, `flock`... directly: it calls them on the
/// ``SystemCalls`` value of its configuration. Production uses ``LinuxSystemCalls``; tests substitute a
/// value that injects `EIO`, `ENOSPC` and short writes, or records every operation to build the states a
/// power loss could leave behind.
package protocol SystemCalls: Sendable {
    /// `openat(2)`; `name` is relative to `directory` (or absolute, with `AT_FDCWD`).
    func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32
    /// `close(2)`; errors are ignored (the descriptor is gone either way on Linux).
    func close(_ fd: Int32)
    /// `pwrite(2)`: may write fewer bytes than asked.
    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int
    /// `write(2)` (for files opened `O_APPEND`, pipes, standard output): may write fewer bytes than asked.
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws -> Int
    /// `pread(2)`: may read fewer bytes than asked; 0 at end of file.
    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int
    /// `fdatasync(2)`.
    func fdatasync(_ fd: Int32) throws
    /// `fsync(2)`; also used on directory descriptors.
    func fsync(_ fd: Int32) throws
    /// `ftruncate(2)`.
    func ftruncate(_ fd: Int32, _ size: Int64) throws
    /// `renameat(2)` within one directory.
    func renameat(_ directory: Int32, _ from: String, _ to: String) throws
    /// `linkat(2)` within one directory (a second name for the same file).
    func linkat(_ directory: Int32, _ from: String, _ to: String) throws
    /// `unlinkat(2)` of a regular file.
    func unlinkat(_ directory: Int32, _ name: String) throws
    /// `flock(2)`.
    func flock(_ fd: Int32, _ operation: Int32) throws
    /// `fstat(2)`: size and mode bits.
    func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool)
    /// `fchmod(2)`.
    func fchmod(_ fd: Int32, _ mode: mode_t) throws
    /// `mkdir(2)`.
    func mkdir(_ path: String, _ mode: mode_t) throws
    /// The names in a directory (`openat(".")`, `fdopendir`, `readdir`), without `.` and `..`.
    func listDirectory(_ directory: Int32) throws -> [String]
    /// The pid of the process holding an exclusive `flock` on the open file `fd`, if any, found without
    /// touching the lock (`/proc/locks`: probing with `flock` could make a locker starting at that
    /// moment fail).
    func flockHolder(_ fd: Int32) -> Int32?
}

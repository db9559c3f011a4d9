#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// The real system calls.
package struct LinuxSystemCalls: SystemCalls {
    package init() {}

    @inline(__always)
    private func check(_ result: Int32) throws {
        if result != 0 { throw Errno(code: Glibc.errno) }
    }

    package func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32 {
        while true {
            let fd = Glibc.openat(directory, name, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if Glibc.errno != EINTR { throw Errno(code: Glibc.errno) }
        }
    }

    package func close(_ fd: Int32) { _ = Glibc.close(fd) }

    package func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int {
        while true {
            let n = Glibc.pwrite(fd, bytes.baseAddress, bytes.count, off_t(offset))
            if n >= 0 { return n }
            if Glibc.errno != EINTR { throw Errno(code: Glibc.errno) }
        }
    }

    package func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws -> Int {
        while true {
            let n = Glibc.write(fd, bytes.baseAddress, bytes.count)
            if n >= 0 { return n }
            if Glibc.errno != EINTR { throw Errno(code: Glibc.errno) }
        }
    }

    package func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int {
        while true {
            let n = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if Glibc.errno != EINTR { throw Errno(code: Glibc.errno) }
        }
    }

    package func fdatasync(_ fd: Int32) throws { try check(Glibc.fdatasync(fd)) }
    package func fsync(_ fd: Int32) throws { try check(Glibc.fsync(fd)) }
    package func ftruncate(_ fd: Int32, _ size: Int64) throws { try check(Glibc.ftruncate(fd, off_t(size))) }
    package func renameat(_ directory: Int32, _ from: String, _ to: String) throws {
        try check(Glibc.renameat(directory, from, directory, to))
    }
    package func unlinkat(_ directory: Int32, _ name: String) throws { try check(Glibc.unlinkat(directory, name, 0)) }
    package func linkat(_ directory: Int32, _ from: String, _ to: String) throws {
        try check(Glibc.linkat(directory, from, directory, to, 0))
    }

    package func flock(_ fd: Int32, _ operation: Int32) throws {
        while true {
            if systemFlock(fd, operation) == 0 { return }
            if Glibc.errno != EINTR { throw Errno(code: Glibc.errno) }
        }
    }

    package func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool) {
        var st = stat()
        try check(Glibc.fstat(fd, &st))
        let type = st.st_mode & S_IFMT
        return (Int64(st.st_size), st.st_mode & 0o7777, type == S_IFREG, type == S_IFDIR)
    }

    package func fchmod(_ fd: Int32, _ mode: mode_t) throws { try check(Glibc.fchmod(fd, mode)) }
    package func mkdir(_ path: String, _ mode: mode_t) throws { try check(Glibc.mkdir(path, mode)) }

    package func listDirectory(_ directory: Int32) throws -> [String] {
        let fd = try openat(directory, ".", O_RDONLY | O_DIRECTORY, 0)
        guard let dir = fdopendir(fd) else {
            let e = Glibc.errno
            Glibc.close(fd)
            throw Errno(code: e)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while true {
            Glibc.errno = 0
            guard let entry = readdir(dir) else {
                if Glibc.errno != 0 { throw Errno(code: Glibc.errno) }
                break
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }
}

/// `flock(2)`: Glibc exports a struct of the same name, so the function is bound by its symbol.
@_silgen_name("flock")
private func systemFlock(_ fd: Int32, _ operation: Int32) -> Int32

extension SystemCalls {
    /// Writes all of `bytes` to `fd` (at `offset` with `pwrite`, or with `write` when nil), looping over
    /// short writes: the one write-all loop. Returns how many bytes were written and, if it stopped early,
    /// the `errno` (`ENOSPC` for a write that made no progress).
    package func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64?) -> (written: Int, errno: Int32?) {
        var done = 0
        while done < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[done...])
            let n: Int
            do { n = try offset.map { try pwrite(fd, rest, $0 + Int64(done)) } ?? write(fd, rest) } catch let e as Errno {
                return (done, e.code)
            } catch {
                return (done, EIO)
            }
            if n == 0 { return (done, ENOSPC) }
            done += n
        }
        return (done, nil)
    }
}

extension LinuxSystemCalls {
    /// Reads `/proc/locks` for a `FLOCK ... WRITE` line naming the file's device and inode.
    /// The whole of a `/proc` file, read until `read` returns 0: such a file reports a size of 0 and is
    /// produced a page at a time, so one read (or one sized by `fstat`) may return only its beginning
    /// (`/proc/locks` grows past a page when many locks are held).
    private static func readProcFile(_ path: String) -> String? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { Glibc.close(fd) }
        return (try? readToEnd(fd)).flatMap { $0 }.map { String(decoding: $0, as: UTF8.self) }
    }

    /// Reads `fd` until `read` returns 0 (a `/proc` file, a pipe, standard input: anything whose size
    /// cannot be trusted), holding at most `limit` bytes: the bytes, or nil when there are more. Throws
    /// ``Errno`` for a failed read.
    package static func readToEnd(_ fd: Int32, limit: Int = .max) throws -> [UInt8]? {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw Errno(code: errno)
            }
            if n == 0 { return out }
            guard out.count + n <= limit else { return nil }
            out += chunk[0..<n]
        }
    }

    package func flockHolder(_ fd: Int32) -> Int32? {
        var st = stat()
        guard Glibc.fstat(fd, &st) == 0, let table = Self.readProcFile("/proc/locks") else { return nil }
        let dev = UInt64(st.st_dev)
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        let wanted = String(format: "%02x:%02x:%llu", major, minor, UInt64(st.st_ino))
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // "1: FLOCK  ADVISORY  WRITE 29182 fe:00:16286406 0 EOF"; waiters have "->" after the id.
            guard fields.count >= 6, fields[1] == "FLOCK", fields[3] == "WRITE", fields[5] == wanted else { continue }
            return Int32(fields[4])
        }
        return nil
    }
}

#if canImport(Glibc)
import Glibc
#endif

/// A read-only ``SystemCalls`` serving files from memory: lets the decoders run over fuzzer input
/// without touching the disk.
final class MemoryCalls: SystemCalls, @unchecked Sendable {
    private let files: [String: [UInt8]]
    private var open: [Int32: String] = [:]
    private var nextFD: Int32 = 100

    init(files: [String: [UInt8]]) { self.files = files }

    func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32 {
        if flags & O_DIRECTORY != 0 { return 3 }
        guard files[name] != nil else { throw Errno(code: ENOENT) }
        nextFD += 1
        open[nextFD] = name
        return nextFD
    }
    func close(_ fd: Int32) { open[fd] = nil }
    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int { throw Errno(code: EROFS) }
    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int {
        guard let name = open[fd], let bytes = files[name] else { throw Errno(code: EBADF) }
        guard offset < bytes.count else { return 0 }
        let n = min(buffer.count, bytes.count - Int(offset))
        bytes.withUnsafeBytes { src in buffer.baseAddress!.copyMemory(from: src.baseAddress! + Int(offset), byteCount: n) }
        return n
    }
    func fdatasync(_ fd: Int32) throws {}
    func fsync(_ fd: Int32) throws {}
    func ftruncate(_ fd: Int32, _ size: Int64) throws { throw Errno(code: EROFS) }
    func renameat(_ directory: Int32, _ from: String, _ to: String) throws { throw Errno(code: EROFS) }
    func linkat(_ directory: Int32, _ from: String, _ to: String) throws { throw Errno(code: EROFS) }
    func unlinkat(_ directory: Int32, _ name: String) throws { throw Errno(code: EROFS) }
    func flock(_ fd: Int32, _ operation: Int32) throws {}
    func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool) {
        if fd == 3 { return (0, 0o700, false, true) }
        guard let name = open[fd], let bytes = files[name] else { throw Errno(code: EBADF) }
        return (Int64(bytes.count), 0o600, true, false)
    }
    func fchmod(_ fd: Int32, _ mode: mode_t) throws {}
    func mkdir(_ path: String, _ mode: mode_t) throws { throw Errno(code: EROFS) }
    func listDirectory(_ directory: Int32) throws -> [String] { Array(files.keys) }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Outbox

/// A ``SystemCalls`` over one directory held in memory: files are byte arrays, names point at them
/// (so a descriptor keeps reading and writing its file across a rename or an unlink, as on Linux), and
/// nothing touches the disk. The fuzz harnesses run the whole library over it: decoders, recovery, a
/// writer, the tombstone log, verification. Locks always succeed (one process, one test at a time).
final class MemoryFileSystem: SystemCalls, @unchecked Sendable {
    private static let directoryFD: Int32 = 3
    private let lock = NSLock()
    private var names: [String: Int] = [:]
    private var contents: [Int: [UInt8]] = [:]
    private var descriptors: [Int32: Int] = [:]
    private var nextInode = 1
    private var nextFD: Int32 = 100

    init(files: [String: [UInt8]]) {
        for (name, bytes) in files.sorted(by: { $0.key < $1.key }) {
            names[name] = nextInode
            contents[nextInode] = bytes
            nextInode += 1
        }
    }

    /// The files now in the directory.
    var files: [String: [UInt8]] {
        locked { names.mapValues { contents[$0] ?? [] } }
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func inode(_ fd: Int32) throws -> Int {
        guard let inode = descriptors[fd] else { throw Errno(code: EBADF) }
        return inode
    }

    func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32 {
        if flags & O_DIRECTORY != 0 { return Self.directoryFD }
        return try locked {
            var inode = names[name]
            if inode != nil, flags & O_CREAT != 0, flags & O_EXCL != 0 { throw Errno(code: EEXIST) }
            if inode == nil {
                guard flags & O_CREAT != 0 else { throw Errno(code: ENOENT) }
                inode = nextInode
                names[name] = nextInode
                contents[nextInode] = []
                nextInode += 1
            }
            nextFD += 1
            descriptors[nextFD] = inode
            return nextFD
        }
    }

    func close(_ fd: Int32) { locked { _ = descriptors.removeValue(forKey: fd) } }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int {
        try locked {
            let inode = try inode(fd)
            let end = Int(offset) + bytes.count
            // Mutated in place: copying the file out and back would copy it on every write.
            let size = contents[inode, default: []].count
            if size < end { contents[inode, default: []] += repeatElement(0, count: end - size) }
            contents[inode, default: []].replaceSubrange(Int(offset)..<end, with: bytes)
            return bytes.count
        }
    }

    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int {
        try locked {
            let bytes = contents[try inode(fd)] ?? []
            guard offset < bytes.count else { return 0 }
            let n = min(buffer.count, bytes.count - Int(offset))
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + Int(offset), byteCount: n) }
            return n
        }
    }

    func fdatasync(_ fd: Int32) throws {}
    func fsync(_ fd: Int32) throws {}

    func ftruncate(_ fd: Int32, _ size: Int64) throws {
        try locked {
            let inode = try inode(fd)
            let count = contents[inode, default: []].count
            if count > Int(size) { contents[inode, default: []].removeLast(count - Int(size)) } else {
                contents[inode, default: []] += repeatElement(0, count: Int(size) - count)
            }
        }
    }

    func renameat(_ directory: Int32, _ from: String, _ to: String) throws {
        try locked {
            guard let inode = names.removeValue(forKey: from) else { throw Errno(code: ENOENT) }
            names[to] = inode
        }
    }

    func linkat(_ directory: Int32, _ from: String, _ to: String) throws {
        try locked {
            guard let inode = names[from] else { throw Errno(code: ENOENT) }
            guard names[to] == nil else { throw Errno(code: EEXIST) }
            names[to] = inode
        }
    }

    func unlinkat(_ directory: Int32, _ name: String) throws {
        try locked { guard names.removeValue(forKey: name) != nil else { throw Errno(code: ENOENT) } }
    }

    func flock(_ fd: Int32, _ operation: Int32) throws {}

    func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool) {
        if fd == Self.directoryFD { return (0, 0o700, false, true) }
        return try locked { (Int64(contents[try inode(fd)]?.count ?? 0), 0o600, true, false) }
    }

    func fchmod(_ fd: Int32, _ mode: mode_t) throws {}
    func mkdir(_ path: String, _ mode: mode_t) throws { throw Errno(code: EEXIST) }
    func listDirectory(_ directory: Int32) throws -> [String] { locked { Array(names.keys) } }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws -> Int {
        try pwrite(fd, bytes, Int64(try fstat(fd).size))
    }
    /// Nothing holds a lock the kernel knows of in memory.
    func flockHolder(_ fd: Int32) -> Int32? { nil }
}

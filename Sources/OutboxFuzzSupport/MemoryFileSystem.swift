#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Outbox
import Synchronization

/// A ``SystemCalls`` over one directory held in memory: files are byte arrays, names point at them
/// (so a descriptor keeps reading and writing its file across a rename or an unlink, as on Linux), and
/// nothing touches the disk. The fuzz harnesses run the whole library over it: decoders, recovery, a
/// writer, the tombstone log, verification. Locks always succeed (one process, one test at a time).
final class MemoryFileSystem: SystemCalls, Sendable {
    private static let directoryFD: Int32 = 3

    /// The directory: names pointing at inodes, inodes' bytes, open descriptors.
    private struct Directory {
        var names: [String: Int] = [:]
        var contents: [Int: [UInt8]] = [:]
        var descriptors: [Int32: Int] = [:]
        var nextInode = 1
        var nextFD: Int32 = 100

        func inode(_ fd: Int32) throws -> Int {
            guard let inode = descriptors[fd] else { throw Errno(code: EBADF) }
            return inode
        }
    }

    private let state: Mutex<Directory>

    init(files: [String: [UInt8]]) {
        var d = Directory()
        for (name, bytes) in files.sorted(by: { $0.key < $1.key }) {
            d.names[name] = d.nextInode
            d.contents[d.nextInode] = bytes
            d.nextInode += 1
        }
        state = Mutex(d)
    }

    /// The files now in the directory.
    var files: [String: [UInt8]] {
        state.withLock { d in d.names.mapValues { d.contents[$0] ?? [] } }
    }

    private func locked<T>(_ body: (inout Directory) throws -> T) throws -> T {
        try state.withLock { d in try body(&d) }
    }

    func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32 {
        if flags & O_DIRECTORY != 0 { return Self.directoryFD }
        return try locked { d in
            var inode = d.names[name]
            if inode != nil, flags & O_CREAT != 0, flags & O_EXCL != 0 { throw Errno(code: EEXIST) }
            if inode == nil {
                guard flags & O_CREAT != 0 else { throw Errno(code: ENOENT) }
                inode = d.nextInode
                d.names[name] = d.nextInode
                d.contents[d.nextInode] = []
                d.nextInode += 1
            }
            d.nextFD += 1
            d.descriptors[d.nextFD] = inode
            return d.nextFD
        }
    }

    func close(_ fd: Int32) { _ = try? locked { d in d.descriptors.removeValue(forKey: fd) } }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int {
        try locked { d in
            let inode = try d.inode(fd)
            let end = Int(offset) + bytes.count
            // Mutated in place: copying the file out and back would copy it on every write.
            let size = d.contents[inode, default: []].count
            if size < end { d.contents[inode, default: []] += repeatElement(0, count: end - size) }
            d.contents[inode, default: []].replaceSubrange(Int(offset)..<end, with: bytes)
            return bytes.count
        }
    }

    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int {
        try locked { d in
            let bytes = d.contents[try d.inode(fd)] ?? []
            guard offset < bytes.count else { return 0 }
            let n = min(buffer.count, bytes.count - Int(offset))
            bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + Int(offset), byteCount: n) }
            return n
        }
    }

    func fdatasync(_ fd: Int32) throws {}
    func fsync(_ fd: Int32) throws {}

    func ftruncate(_ fd: Int32, _ size: Int64) throws {
        try locked { d in
            let inode = try d.inode(fd)
            let count = d.contents[inode, default: []].count
            if count > Int(size) { d.contents[inode, default: []].removeLast(count - Int(size)) } else {
                d.contents[inode, default: []] += repeatElement(0, count: Int(size) - count)
            }
        }
    }

    func renameat(_ directory: Int32, _ from: String, _ to: String) throws {
        try locked { d in
            guard let inode = d.names.removeValue(forKey: from) else { throw Errno(code: ENOENT) }
            d.names[to] = inode
        }
    }

    func linkat(_ directory: Int32, _ from: String, _ to: String) throws {
        try locked { d in
            guard let inode = d.names[from] else { throw Errno(code: ENOENT) }
            guard d.names[to] == nil else { throw Errno(code: EEXIST) }
            d.names[to] = inode
        }
    }

    func unlinkat(_ directory: Int32, _ name: String) throws {
        try locked { d in guard d.names.removeValue(forKey: name) != nil else { throw Errno(code: ENOENT) } }
    }

    func flock(_ fd: Int32, _ operation: Int32) throws {}

    func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool) {
        if fd == Self.directoryFD { return (0, 0o700, false, true) }
        return try locked { d in (Int64(d.contents[try d.inode(fd)]?.count ?? 0), 0o600, true, false) }
    }

    func fchmod(_ fd: Int32, _ mode: mode_t) throws {}
    func mkdir(_ path: String, _ mode: mode_t) throws { throw Errno(code: EEXIST) }
    func listDirectory(_ directory: Int32) throws -> [String] { try locked { d in Array(d.names.keys) } }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws -> Int {
        try pwrite(fd, bytes, Int64(try fstat(fd).size))
    }
    /// Nothing holds a lock the kernel knows of in memory.
    func flockHolder(_ fd: Int32) -> Int32? { nil }
}

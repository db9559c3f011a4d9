import Foundation
@testable import Outbox

/// A ``SystemCalls`` that performs every call and records the ones that change files, so that the
/// states a power loss at any point could leave behind can be rebuilt (see ``CrashModel``).
final class RecordingCalls: SystemCalls, @unchecked Sendable {
    enum Op: Sendable {
        case create(inode: Int, name: String)
        case write(inode: Int, offset: Int64, bytes: [UInt8])
        case truncate(inode: Int, size: Int64)
        /// fsync or fdatasync of a file: its data and size are durable.
        case sync(inode: Int)
        case rename(from: String, to: String)
        case link(from: String, to: String)
        case unlink(name: String)
        /// fsync of the directory: its entries are durable.
        case syncDirectory
        /// Not a system call: the workload got an acknowledgement (appended messages, or tombstones).
        case acknowledgedAppend(ClosedRange<UInt64>, [OutboxMessage])
        case acknowledgedTombstones([UInt64], MessageStatus)
        /// Not a system call: a route's tombstones (FORMAT.md §5c) were acknowledged; `route start` when
        /// the numbers are the route's declared start.
        case acknowledgedRoute([UInt64], MessageStatus, route: String)
        case acknowledgedRouteStart(UInt64, route: String)
    }

    private let real = LinuxSystemCalls()
    private let lock = NSLock()
    private(set) var ops: [Op] = []
    private var inodeOfFD: [Int32: Int] = [:]
    private var directoryFDs = Set<Int32>()
    private var names: [String: Int] = [:]
    private var nextInode = 1

    /// The paths opened as directories, in order (`openat` with `O_DIRECTORY`).
    private(set) var directoryOpens: [String] = []

    /// Directory operations in order, with the directory they happened in (from `/proc/self/fd`):
    /// `link DIR FROM TO`, `rename DIR FROM TO`, `fsync DIR`.
    private(set) var directoryLog: [String] = []

    private static func pathOf(_ fd: Int32) -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/\(fd)")) ?? "fd \(fd)"
    }

    private func record(_ body: () -> Void) {
        lock.lock()
        body()
        lock.unlock()
    }

    func note(_ op: Op) { record { ops.append(op) } }

    var snapshot: [Op] {
        lock.lock()
        defer { lock.unlock() }
        return ops
    }

    /// Files that were there before recording began, known by name from now on (opening one records no
    /// create); returns the inode each is given, for a ``CrashModel`` to start from.
    func adopt(_ existing: [String]) -> [String: Int] {
        var out: [String: Int] = [:]
        record {
            for name in existing {
                names[name] = nextInode
                out[name] = nextInode
                nextInode += 1
            }
        }
        return out
    }

    func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32 {
        let fd = try real.openat(directory, name, flags, mode)
        record {
            if flags & O_DIRECTORY != 0 {
                directoryFDs.insert(fd)
                directoryOpens.append(name)
            } else if let inode = names[name] {
                inodeOfFD[fd] = inode
            } else {
                let inode = nextInode
                nextInode += 1
                names[name] = inode
                inodeOfFD[fd] = inode
                ops.append(.create(inode: inode, name: name))
            }
        }
        return fd
    }

    func close(_ fd: Int32) {
        record {
            inodeOfFD[fd] = nil
            directoryFDs.remove(fd)
        }
        real.close(fd)
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int {
        let n = try real.pwrite(fd, bytes, offset)
        record { if let inode = inodeOfFD[fd] { ops.append(.write(inode: inode, offset: offset, bytes: Array(bytes[0..<n]))) } }
        return n
    }

    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int {
        try real.pread(fd, buffer, offset)
    }

    func fdatasync(_ fd: Int32) throws {
        try real.fdatasync(fd)
        record { if let inode = inodeOfFD[fd] { ops.append(.sync(inode: inode)) } }
    }

    func fsync(_ fd: Int32) throws {
        try real.fsync(fd)
        record {
            if directoryFDs.contains(fd) {
                ops.append(.syncDirectory)
                directoryLog.append("fsync \(Self.pathOf(fd))")
            } else if let inode = inodeOfFD[fd] { ops.append(.sync(inode: inode)) }
        }
    }

    func ftruncate(_ fd: Int32, _ size: Int64) throws {
        try real.ftruncate(fd, size)
        record { if let inode = inodeOfFD[fd] { ops.append(.truncate(inode: inode, size: size)) } }
    }

    func renameat(_ directory: Int32, _ from: String, _ to: String) throws {
        try real.renameat(directory, from, to)
        record {
            names[to] = names[from]
            names[from] = nil
            ops.append(.rename(from: from, to: to))
            directoryLog.append("rename \(Self.pathOf(directory)) \(from) \(to)")
        }
    }

    func linkat(_ directory: Int32, _ from: String, _ to: String) throws {
        try real.linkat(directory, from, to)
        record {
            names[to] = names[from]
            ops.append(.link(from: from, to: to))
            directoryLog.append("link \(Self.pathOf(directory)) \(from) \(to)")
        }
    }

    func unlinkat(_ directory: Int32, _ name: String) throws {
        try real.unlinkat(directory, name)
        record {
            names[name] = nil
            ops.append(.unlink(name: name))
        }
    }

    func flock(_ fd: Int32, _ operation: Int32) throws { try real.flock(fd, operation) }
    func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool) { try real.fstat(fd) }
    func fchmod(_ fd: Int32, _ mode: mode_t) throws { try real.fchmod(fd, mode) }
    func mkdir(_ path: String, _ mode: mode_t) throws { try real.mkdir(path, mode) }
    func listDirectory(_ directory: Int32) throws -> [String] { try real.listDirectory(directory) }
    func flockHolder(_ fd: Int32) -> Int32? { real.flockHolder(fd) }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws -> Int { try real.write(fd, bytes) }
}

/// Rebuilds, from a recorded operation log, the directory a power loss after any operation could leave:
/// data made durable by fsync/fdatasync is kept; unsynced writes are all dropped, all kept, or the last
/// one torn or garbled; or each unsynced page of a file kept or not, independently of the others (no disk
/// promises to persist the pages of one write in order; "pages" here are 64 bytes, finer than any disk's,
/// so that the small writes of a test cross them); directory changes since the last directory fsync are
/// lost (or, in one variant, all kept, as after a plain process kill).
struct CrashModel {
    struct Inode {
        var durable: [UInt8] = []
        var volatile: [UInt8] = []
        var pendingWrites: [(offset: Int64, bytes: [UInt8])] = []
    }

    private(set) var inodes: [Int: Inode] = [:]
    private(set) var volatileEntries: [String: Int] = [:]
    private(set) var durableEntries: [String: Int] = [:]

    static func apply(_ write: (offset: Int64, bytes: [UInt8]), to content: inout [UInt8]) {
        let end = Int(write.offset) + write.bytes.count
        if content.count < end { content += [UInt8](repeating: 0, count: end - content.count) }
        content.replaceSubrange(Int(write.offset)..<end, with: write.bytes)
    }

    mutating func step(_ op: RecordingCalls.Op) {
        switch op {
        case .create(let inode, let name):
            inodes[inode] = Inode()
            volatileEntries[name] = inode
        case .write(let inode, let offset, let bytes):
            Self.apply((offset, bytes), to: &inodes[inode, default: Inode()].volatile)
            inodes[inode, default: Inode()].pendingWrites.append((offset, bytes))
        case .truncate(let inode, let size):
            // A truncation is treated as durable at once (it only ever cuts bytes that were never
            // acknowledged, and recovery must accept both the cut and the uncut file).
            var i = inodes[inode, default: Inode()]
            i.volatile = Array(i.volatile.prefix(Int(size)))
            i.durable = Array(i.durable.prefix(Int(size)))
            i.pendingWrites = []
            if i.volatile.count > i.durable.count { i.durable = i.volatile }
            inodes[inode] = i
        case .sync(let inode):
            var i = inodes[inode, default: Inode()]
            i.durable = i.volatile
            i.pendingWrites = []
            inodes[inode] = i
        case .rename(let from, let to):
            volatileEntries[to] = volatileEntries[from]
            volatileEntries[from] = nil
        case .link(let from, let to):
            volatileEntries[to] = volatileEntries[from]
        case .unlink(let name):
            volatileEntries[name] = nil
        case .syncDirectory:
            durableEntries = volatileEntries
        case .acknowledgedAppend, .acknowledgedTombstones, .acknowledgedRoute, .acknowledgedRouteStart:
            break
        }
    }

    /// The directories a crash now could leave, as file name → bytes.
    func crashStates(random: inout SeededGenerator) -> [(String, [String: [UInt8]])] {
        var states: [(String, [String: [UInt8]])] = []
        func build(_ entries: [String: Int], _ content: (Int, Inode) -> [UInt8]) -> [String: [UInt8]] {
            var files: [String: [UInt8]] = [:]
            for (name, inode) in entries { files[name] = content(inode, inodes[inode] ?? Inode()) }
            return files
        }
        states.append(("unsynced writes dropped", build(durableEntries) { _, i in i.durable }))
        states.append(("unsynced writes kept", build(durableEntries) { _, i in i.volatile }))
        states.append(("process kill (everything kept)", build(volatileEntries) { _, i in i.volatile }))
        for (name, inode) in durableEntries {
            guard let node = inodes[inode], let last = node.pendingWrites.last else { continue }
            var base = node.durable
            for w in node.pendingWrites.dropLast() { Self.apply(w, to: &base) }
            var torn = base
            Self.apply((last.offset, Array(last.bytes.prefix(last.bytes.count / 2))), to: &torn)
            var garbled = base
            Self.apply((last.offset, last.bytes.map { _ in UInt8.random(in: 0...255, using: &random) }), to: &garbled)
            var zeroed = base
            Self.apply((last.offset, [UInt8](repeating: 0, count: last.bytes.count)), to: &zeroed)
            for (what, bytes) in [("torn", torn), ("garbled", garbled), ("zero-filled", zeroed)] {
                var files = build(durableEntries) { _, i in i.durable }
                files[name] = bytes
                states.append(("last unsynced write to \(name) \(what)", files))
            }
            for (what, bytes) in Self.pageSubsets(node, random: &random) {
                var files = build(durableEntries) { _, i in i.durable }
                files[name] = bytes
                states.append(("unsynced pages of \(name): \(what)", files))
            }
        }
        return states
    }

    /// The size of the pages that ``pageSubsets(_:random:)`` keeps or drops independently.
    static let page = 64

    /// Contents of `node` after a power loss that kept some of its unsynced pages and not others: every
    /// subset when there are at most 4 such pages; otherwise the first page dropped and every other kept,
    /// only the last kept, and four random subsets (a new sample each seed). A page not kept reads as it
    /// was durably (zeros where the file was extended); the file keeps its new size.
    static func pageSubsets(_ node: Inode, random: inout SeededGenerator) -> [(String, [UInt8])] {
        let length = node.volatile.count
        var dirty: [Int] = []  // page indices whose content differs from the durable one
        for p in stride(from: 0, to: length, by: page) {
            let range = p..<min(p + page, length)
            let old = range.map { $0 < node.durable.count ? node.durable[$0] : 0 }
            if !node.volatile[range].elementsEqual(old) { dirty.append(p / page) }
        }
        guard dirty.count >= 2 else { return [] }
        func content(keeping kept: Set<Int>) -> [UInt8] {
            var bytes = node.volatile
            for p in dirty where !kept.contains(p) {
                for i in (p * page)..<min((p + 1) * page, length) { bytes[i] = i < node.durable.count ? node.durable[i] : 0 }
            }
            return bytes
        }
        if dirty.count <= 4 {
            // Every subset but none and all (the "dropped" and "kept" states already cover those).
            return (1..<((1 << dirty.count) - 1)).map { mask in
                let kept = Set(dirty.indices.filter { mask & (1 << $0) != 0 }.map { dirty[$0] })
                return ("dirty pages kept: \(kept.sorted())", content(keeping: kept))
            }
        }
        var out: [(String, [UInt8])] = [
            ("all but the first dirty page kept", content(keeping: Set(dirty.dropFirst()))),
            ("only the last dirty page kept", content(keeping: [dirty.last!])),
        ]
        for _ in 0..<4 {
            let kept = Set(dirty.filter { _ in Bool.random(using: &random) })
            out.append(("random pages kept (\(kept.count) of \(dirty.count))", content(keeping: kept)))
        }
        return out
    }
}

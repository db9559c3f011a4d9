import Foundation
@testable import Outbox

/// A ``SystemCalls`` that passes through to the real calls but can be told to fail some of them.
final class FaultInjectingCalls: SystemCalls, @unchecked Sendable {
    private let real = LinuxSystemCalls()
    private let lock = NSLock()
    private var _fdatasyncError: Int32?
    private var _writeBudget: Int?
    private var _writeError: Int32 = ENOSPC
    private var _fdatasyncCount = 0
    private var _maxWriteChunk: Int?
    private var _shortWrites = 0

    private var _failing: [String: Int32] = [:]

    /// Makes every call named `call` ("rename", "unlink", "ftruncate") fail with `errno` (nil: stop).
    func fail(_ call: String, with errno: Int32?) {
        locked { _failing[call] = errno }
    }

    private func injected(_ call: String) throws {
        if let e: Int32 = locked({ _failing[call] }) { throw Errno(code: e) }
    }

    /// While set, each write call writes at most this many bytes (a short write).
    var maxWriteChunk: Int? {
        get { locked { _maxWriteChunk } }
        set { locked { _maxWriteChunk = newValue } }
    }

    /// How many writes were cut short by ``maxWriteChunk``.
    var shortWrites: Int { locked { _shortWrites } }

    /// Every fdatasync fails with this errno while set.
    var fdatasyncError: Int32? {
        get { locked { _fdatasyncError } }
        set { locked { _fdatasyncError = newValue } }
    }

    /// While set, writes succeed for this many more bytes in total (the last one short), then fail with
    /// `writeError`.
    func limitWrites(to bytes: Int?, error: Int32 = ENOSPC) {
        locked {
            _writeBudget = bytes
            _writeError = error
        }
    }

    var fdatasyncCount: Int { locked { _fdatasyncCount } }

    private func locked<T>(_ body: () -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body()
    }

    private var names: [Int32: String] = [:]

    func openat(_ directory: Int32, _ name: String, _ flags: Int32, _ mode: mode_t) throws -> Int32 {
        let fd = try real.openat(directory, name, flags, mode)
        locked { names[fd] = name }
        return fd
    }
    func close(_ fd: Int32) {
        locked { names[fd] = nil }
        real.close(fd)
    }

    func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, _ offset: Int64) throws -> Int {
        try limited(bytes) { try real.pwrite(fd, $0, offset) }
    }

    /// Applies ``maxWriteChunk`` and ``limitWrites(to:error:)`` to one write of `bytes`.
    private func limited(_ bytes: UnsafeRawBufferPointer, _ write: (UnsafeRawBufferPointer) throws -> Int) throws -> Int {
        let allowed: Int? = locked {
            guard let budget = _writeBudget else { return nil }
            let n = min(budget, bytes.count)
            _writeBudget = budget - n
            return n
        }
        let chunk: Int? = locked {
            guard let max = _maxWriteChunk, bytes.count > max else { return nil }
            _shortWrites += 1
            return max
        }
        if let chunk { return try write(UnsafeRawBufferPointer(rebasing: bytes[0..<chunk])) }
        guard let allowed else { return try write(bytes) }
        if allowed == 0 { throw Errno(code: locked { _writeError }) }
        return try write(UnsafeRawBufferPointer(rebasing: bytes[0..<allowed]))
    }

    private var _tornRead: Range<Int64>?

    /// The next read that covers these file offsets returns zeros there, once: a read that raced a write
    /// still copying those bytes into the page cache.
    var tornRead: Range<Int64>? {
        get { locked { _tornRead } }
        set { locked { _tornRead = newValue } }
    }

    func pread(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int {
        let n = try real.pread(fd, buffer, offset)
        let torn: Range<Int64>? = locked {
            guard let t = _tornRead, offset <= t.lowerBound, offset + Int64(n) >= t.upperBound else { return nil }
            _tornRead = nil
            return t
        }
        if let torn {
            for i in torn { buffer[Int(i - offset)] = 0 }
        }
        return n
    }

    /// While closed, fdatasync calls on segment files wait in it.
    let fdatasyncGate = Gate()

    func fdatasync(_ fd: Int32) throws {
        if locked({ names[fd]?.hasPrefix("segment-") ?? false }) { fdatasyncGate.pass() }
        if let e: Int32 = locked({ _fdatasyncCount += 1; return _fdatasyncError }) { throw Errno(code: e) }
        try real.fdatasync(fd)
    }

    func fsync(_ fd: Int32) throws {
        if let e = fdatasyncError { throw Errno(code: e) }
        try real.fsync(fd)
    }

    func ftruncate(_ fd: Int32, _ size: Int64) throws {
        try injected("ftruncate")
        try real.ftruncate(fd, size)
    }
    func renameat(_ directory: Int32, _ from: String, _ to: String) throws {
        try injected("rename")
        try real.renameat(directory, from, to)
        // A file created under a temporary name (a new segment) is known by its final name from now on.
        locked { for (fd, name) in names where name == from { names[fd] = to } }
    }
    func unlinkat(_ directory: Int32, _ name: String) throws {
        try injected("unlink")
        try real.unlinkat(directory, name)
    }
    func linkat(_ directory: Int32, _ from: String, _ to: String) throws { try real.linkat(directory, from, to) }
    func flock(_ fd: Int32, _ operation: Int32) throws { try real.flock(fd, operation) }
    func fstat(_ fd: Int32) throws -> (size: Int64, mode: mode_t, isRegular: Bool, isDirectory: Bool) { try real.fstat(fd) }
    func fchmod(_ fd: Int32, _ mode: mode_t) throws { try real.fchmod(fd, mode) }
    func mkdir(_ path: String, _ mode: mode_t) throws { try real.mkdir(path, mode) }
    func listDirectory(_ directory: Int32) throws -> [String] { try real.listDirectory(directory) }
    func flockHolder(_ fd: Int32) -> Int32? { real.flockHolder(fd) }
    func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws -> Int { try limited(bytes) { try real.write(fd, $0) } }
}

/// A gate threads wait at while it is closed; it counts how many are waiting.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var open = true
    private var _waiting = 0

    func close() {
        condition.lock()
        open = false
        condition.unlock()
    }

    func release() {
        condition.lock()
        open = true
        condition.broadcast()
        condition.unlock()
    }

    var waiting: Int {
        condition.lock()
        defer { condition.unlock() }
        return _waiting
    }

    func pass() {
        condition.lock()
        _waiting += 1
        while !open { condition.wait() }
        _waiting -= 1
        condition.unlock()
    }
}

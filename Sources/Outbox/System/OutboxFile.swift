#if canImport(Glibc)
import Glibc
#endif

/// An open file of the outbox: a descriptor plus the path used in error messages.
///
/// Every operation goes through the directory's ``SystemCalls`` seam and throws ``OutboxError`` naming
/// the file. The descriptor is closed when the object is released.
final class OutboxFile: @unchecked Sendable {
    let fd: Int32
    let name: String
    let path: String
    let sys: any SystemCalls

    init(fd: Int32, name: String, path: String, sys: any SystemCalls) {
        self.fd = fd
        self.name = name
        self.path = path
        self.sys = sys
    }

    deinit { sys.close(fd) }

    private func fail(_ call: SystemCall, _ error: any Error) -> OutboxError {
        OutboxError.failed(call, error, path: path)
    }

    /// The current size in bytes (`fstat`).
    func size() throws -> Int64 {
        do { return try sys.fstat(fd).size } catch { throw fail(.fstat, error) }
    }

    /// Reads up to `count` bytes at `offset`; fewer only at end of file.
    func read(at offset: Int64, count: Int) throws -> [UInt8] {
        var result: [UInt8] = []
        let n = try read(at: offset, count: count, into: &result)
        result.removeSubrange(n...)
        return result
    }

    /// Reads up to `count` bytes at `offset` into the start of `buffer`, which grows to at least `count`
    /// bytes and is otherwise reused (a follower's read window: no allocation, no zero-filling); returns
    /// how many bytes were read (fewer at end of file).
    func read(at offset: Int64, count: Int, into buffer: inout [UInt8]) throws -> Int {
        if count <= 0 { return 0 }
        if buffer.count < count { buffer.append(contentsOf: repeatElement(0, count: count - buffer.count)) }
        var done = 0
        try buffer.withUnsafeMutableBytes { raw in
            while done < count {
                let n: Int
                do {
                    n = try sys.pread(fd, UnsafeMutableRawBufferPointer(rebasing: raw[done..<count]), offset + Int64(done))
                } catch { throw fail(.pread, error) }
                if n == 0 { break }
                done += n
            }
        }
        return done
    }

    /// Writes all of `bytes` at `offset`, looping over short writes.
    ///
    /// Returns how many bytes reached the file and, if it stopped early, why; a caller can then keep the
    /// complete frames among the written bytes and cut the rest.
    func writeAll(_ bytes: UnsafeRawBufferPointer, at offset: Int64) -> (written: Int, error: OutboxError?) {
        let (written, errno) = sys.writeAll(fd, bytes, at: offset)
        return (written, errno.map { fail(.write, Errno(code: $0)) })
    }

    /// Writes all of `bytes` at `offset` or throws.
    func write(_ bytes: [UInt8], at offset: Int64) throws {
        let result = bytes.withUnsafeBytes { writeAll($0, at: offset) }
        if let error = result.error { throw error }
    }

    /// `fdatasync`. A failure here is fatal to a writer: the caller must fail stop.
    func dataSync() throws {
        do { try sys.fdatasync(fd) } catch { throw fail(.fdatasync, error) }
    }

    /// `fsync`. A failure here is fatal to a writer: the caller must fail stop.
    func sync() throws {
        do { try sys.fsync(fd) } catch { throw fail(.fsync, error) }
    }

    /// `ftruncate`.
    func truncate(to size: Int64) throws {
        do { try sys.ftruncate(fd, size) } catch { throw fail(.ftruncate, error) }
    }

    /// `fchmod`.
    func setMode(_ mode: mode_t) throws {
        do { try sys.fchmod(fd, mode) } catch { throw fail(.fchmod, error) }
    }
}


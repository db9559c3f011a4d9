#if canImport(Glibc)
import Glibc
#endif
import Outbox

/// Reads a file named on the command line (`-`: standard input) without trusting its size: at most `limit`
/// bytes are ever held, so `/dev/zero` or a huge file is refused, not read into memory.
enum BoundedFile {
    /// The file's bytes, or nil when it holds more than `limit` bytes; throws ``OutboxError/Code/io``
    /// naming the errno of an open or read that failed (a directory: `EISDIR`).
    static func read(_ path: String, limit: Int) throws -> [UInt8]? {
        let name = path == "-" ? "standard input" : path
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OutboxError(.io, "cannot open it", path: name, errno: errno) }
        defer { if fd != 0 { close(fd) } }
        do { return try LinuxSystemCalls.readToEnd(fd, limit: limit) } catch let e as Errno {
            throw OutboxError(.io, "cannot read it", path: name, errno: e.code)
        }
    }
}

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
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw OutboxError(.io, "cannot read it", path: name, errno: errno)
            }
            if n == 0 { return out }
            guard out.count + n <= limit else { return nil }
            out += chunk[0..<n]
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Outbox

/// Reads `--payload-file` (a path, or `-` for standard input), refusing more than `limit` bytes before
/// reading them, and naming the errno of a failure.
enum PayloadFile {
    static func read(_ path: String, limit: Int) throws -> [UInt8] {
        let fd = path == "-" ? 0 : open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw OutboxError(.io, "cannot open --payload-file", path: path, errno: errno) }
        defer { if fd != 0 { close(fd) } }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw OutboxError(.io, "cannot read --payload-file", path: path == "-" ? "standard input" : path, errno: errno)
            }
            if n == 0 { return out }
            guard out.count + n <= limit else {
                throw OutboxError(.recordTooLarge, "--payload-file holds more than the outbox's max record size of \(limit) bytes",
                                  path: path == "-" ? "standard input" : path)
            }
            out += chunk[0..<n]
        }
    }
}

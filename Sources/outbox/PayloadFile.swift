import Outbox

/// Reads `--payload-file` (a path, or `-` for standard input), refusing more than `limit` bytes before
/// reading them, and naming the errno of a failure.
enum PayloadFile {
    static func read(_ path: String, limit: Int) throws -> [UInt8] {
        do {
            guard let bytes = try BoundedFile.read(path, limit: limit) else {
                throw OutboxError(.recordTooLarge, "--payload-file holds more than the outbox's max record size of \(limit) bytes",
                                  path: path == "-" ? "standard input" : path)
            }
            return bytes
        } catch var e as OutboxError where e.code == .io {
            e.message = e.message.replacingOccurrences(of: " it", with: " --payload-file")
            throw e
        }
    }
}

import Logging

/// What opening a log file does with a torn tail (damage that nothing valid follows, FORMAT.md §7).
/// The one place where recovery changes a file: the ``FrameScanner`` only reports.
package enum RecoveryPolicy {
    /// Sealed files: any damage is corruption.
    case refuse
    /// A reader of an active file: the tail may be a commit still being written; stop before it.
    case stop
    /// The writer of an active file: cut the torn tail off (`ftruncate` + `fsync`) and log it.
    case truncate(Logger)

    /// Walks `scanner` from its offset, calling `body` for every frame until it returns false, and
    /// applies the policy to a torn tail; returns where the next frame goes.
    @discardableResult
    func walk(_ scanner: FrameScanner, _ body: (Frame) throws -> Bool) throws -> Int64 {
        switch self {
        case .refuse: return try scanner.walk(tail: .refuse, body)
        case .stop: return try scanner.walk(tail: .stop, body)
        case .truncate(let logger):
            let (end, tornTail) = try scanner.walkToTornTail(body)
            guard let tornTail else { return end }
            logger.warning(
                "truncating the torn tail of the active file",
                metadata: ["file": "\(scanner.file.path)", "offset": "\(tornTail.offset)",
                           "bytes": "\(scanner.size - tornTail.offset)", "reason": "\(tornTail.reason)"])
            try scanner.file.truncate(to: tornTail.offset)
            try scanner.file.sync()
            scanner.offset = tornTail.offset
            scanner.size = tornTail.offset
            return tornTail.offset
        }
    }
}

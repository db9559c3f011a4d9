import Logging

extension FrameScanner {
    /// What to do with damage that nothing valid follows (a torn tail) in the file being walked.
    package enum TailPolicy {
        /// Sealed files: any damage is corruption.
        case refuse
        /// The writer of an active file: cut the torn tail off (ftruncate + fsync) and log it.
        case truncate(Logger)
        /// A reader of an active file: the tail may be a commit still being written; stop before it.
        case stop
    }

    /// Calls `body` for every frame from ``offset`` on, until it returns false, and returns where the next
    /// frame would start.
    ///
    /// Damage followed by a valid frame is always corruption (``OutboxError/Code/corrupt`` naming the file
    /// and offset); damage that runs to the end of the file is handled by `tail`.
    @discardableResult
    package func walk(tail: TailPolicy, _ body: (Frame) throws -> Bool) throws -> Int64 {
        while true {
            switch try next() {
            case .frame(let frame):
                if try !body(frame) { return offset }
            case .end:
                return offset
            case .damage(let damage):
                let following = try nextValidFrame(after: damage.offset)
                switch (tail, following) {
                case (.stop, nil):
                    return damage.offset
                case (.truncate(let logger), nil):
                    logger.warning(
                        "truncating the torn tail of the active file",
                        metadata: ["file": "\(file.path)", "offset": "\(damage.offset)",
                                   "bytes": "\(size - damage.offset)", "reason": "\(damage.reason)"])
                    try file.truncate(to: damage.offset)
                    try file.sync()
                    offset = damage.offset
                    size = damage.offset
                    return damage.offset
                default:
                    var reason = damage.reason
                    if let following {
                        reason += "; a valid frame follows at offset \(following)"
                    } else {
                        reason += " in a sealed file"
                    }
                    throw OutboxError(.corrupt, reason, path: file.path, offset: damage.offset)
                }
            }
        }
    }
}

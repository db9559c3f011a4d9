extension FrameScanner {
    /// What a walk does with damage that nothing valid follows (a torn tail) in the file being walked.
    /// Damage followed by a valid frame is always corruption. The scanner never changes the file: cutting
    /// a torn tail off is the log's recovery policy (``RecoveryPolicy``).
    package enum TailPolicy {
        /// Sealed files: any damage is corruption.
        case refuse
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
        // A reader of an active file takes a zero header for the end of what is written so far, without
        // reading the zeros after it (they are the writer's allocated space; damage hidden behind them is
        // found by the writer's recovery, by `verify`, or by the strict walk once the segment is sealed).
        let (end, tornTail) = try walkToTornTail(trustingZeroHeader: { if case .stop = tail { true } else { false } }(), body)
        if let tornTail, case .refuse = tail {
            throw OutboxError(.corrupt, tornTail.reason + " in a sealed file", path: file.path, offset: tornTail.offset)
        }
        return end
    }

    /// Calls `body` for every frame from ``offset`` on, until it returns false. Returns where the next
    /// frame would start and, when damage that nothing valid follows ends the file there and may be a
    /// torn write (``FrameDamage/canBeTorn``), that damage. Any other damage throws
    /// ``OutboxError/Code/corrupt``. Zero bytes from a frame boundary to the end of the file end the walk
    /// cleanly (preallocated space, FORMAT.md §7): in a sealed segment whatever they replaced is found
    /// missing by the sequence continuity check against the next segment.
    func walkToTornTail(trustingZeroHeader: Bool = false, _ body: (Frame) throws -> Bool) throws -> (end: Int64, tornTail: FrameDamage?) {
        var judgedAgain: Int64?  // the damage judged again on fresh bytes (once per offset)
        while true {
            switch try next() {
            case .frame(let frame):
                if try !body(frame) { return (offset, nil) }
            case .end:
                return (offset, nil)
            case .damage(let damage):
                // Zeros to the end of the file: space allocated ahead of the frames, not damage.
                if damage.zeroHeader, try trustingZeroHeader || isZeroToEnd(from: damage.offset) { return (damage.offset, nil) }
                if let following = try nextValidFrame(after: damage.offset) {
                    // A frame still being written when its bytes were read, and a later one written since:
                    // the writer writes in order, so fresh bytes show the first one whole.
                    if damage.canBeTorn, judgedAgain != damage.offset {
                        judgedAgain = damage.offset
                        if case .success = try checkFresh(at: damage.offset) { continue }
                    }
                    // The last write, cut short with some of its later pages on disk and earlier ones not
                    // (FORMAT.md §7): a torn tail, however many of its frames survived.
                    if try isTornLastWrite(damage, following: following) {
                        var torn = damage
                        torn.reason += "; the valid frames after it, to the end of the file, are of the same write, cut short"
                        return (damage.offset, torn)
                    }
                    throw OutboxError(.corrupt, damage.reason + "; a valid frame follows at offset \(following)",
                                      path: file.path, offset: damage.offset)
                }
                guard damage.canBeTorn else {
                    throw OutboxError(.corrupt, damage.reason + " (\(damage.notTornBecause))", path: file.path, offset: damage.offset)
                }
                return (damage.offset, damage)
            }
        }
    }
}

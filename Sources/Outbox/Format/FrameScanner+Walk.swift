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
        var walk = FrameWalk(self, trustingZeroHeader: trustingZeroHeader)
        while true {
            switch try walk.next() {
            case .frame(let frame):
                if try !body(frame) { return (offset, nil) }
            case .end(let zerosFrom):
                return (zerosFrom ?? offset, nil)
            case .tornLastWrite(let damage):
                return (damage.offset, damage)
            case .corrupt(let damage, let following):
                throw OutboxError(.corrupt, damage.reason + "; a valid frame follows at offset \(following)", path: file.path, offset: damage.offset)
            case .damageAtEnd(let damage):
                guard damage.canBeTorn else {
                    throw OutboxError(.corrupt, damage.reason + " (\(damage.notTornBecause))", path: file.path, offset: damage.offset)
                }
                return (damage.offset, damage)
            }
        }
    }
}

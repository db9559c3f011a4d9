/// One segment file opened for reading: its checked header and a scanner over its frames.
package struct SegmentFile {
    let name: String
    let file: OutboxFile
    package let header: FileHeader
    package let scanner: FrameScanner
    /// The keys its frames are decrypted with, if it is encrypted (the directory's).
    let keys: OutboxKeys?

    /// Opens `name` and checks its header against the name and, when given, the outbox id.
    ///
    /// With `validateBodies`, a frame whose checksum matches but whose records do not decode counts as
    /// damage (recovery and verification); readers that decode anyway skip that second pass.
    package static func open(_ name: String, base: UInt64, in directory: OutboxDirectory, writable: Bool = false,
                     validateBodies: Bool = false, expecting outboxID: OutboxID? = nil) throws -> SegmentFile {
        let log = try LogFile.open(try directory.openFile(name, writable: writable), kind: .segment, base: base, outboxID: outboxID,
                                   validateBodies: validateBodies)
        return SegmentFile(name: name, file: log.file, header: log.header, scanner: log.scanner, keys: directory.keys)
    }

    /// After a walk of this segment to its end, with `continuity` having followed its frames: its seal
    /// agrees with them, and a `sealed` segment (a later one exists) of version 4 on has one (FORMAT.md
    /// §3a). The one end-of-segment check of open, the readers and the tail; throws
    /// ``OutboxError/Code/corrupt`` naming the file and offset.
    func checkEnd(_ continuity: SequenceContinuity, sealed: Bool) throws {
        if let seal = scanner.seal {
            try continuity.checkSeal(seal, path: file.path)
        } else if sealed, let problem = FrameContent.missingSeal(header.version) {
            throw OutboxError(.corrupt, problem, path: file.path, offset: scanner.offset)
        }
    }

    /// The messages of a frame of this segment from `from` on (none for a hole), or
    /// ``OutboxError/Code/corrupt`` naming the frame if its records do not decode.
    package func messages(in frame: Frame, from: UInt64 = 0) throws -> [StoredMessage] {
        var out: [StoredMessage] = []
        _ = try messages(in: frame, from: from, into: &out)
        return out
    }

    /// ``messages(in:from:)`` appended to `out` (no array of their own), returning the sum of their
    /// footprints (``StoredMessage/footprint``); only those of `lanes`.
    package func messages(in frame: Frame, from: UInt64 = 0, lanes: LaneSelection = .all, into out: inout [StoredMessage]) throws -> Int {
        guard frame.header.kind.holdsMessages, frame.passedOver == nil else { return 0 }
        // Every message of a kind-1 frame is in `normal`: only a kind-14 frame is filtered message by message.
        let everyLane = frame.header.kind == .messages || lanes == .all
        // (Reserved only when empty: growing by exact reservations, frame after frame, would copy the
        // array every time. A damaged count reserves nothing large.)
        if out.isEmpty { out.reserveCapacity(min(Int(frame.header.count), frame.body.count / 40 + 1)) }
        let (first, offset, name) = (frame.header.first, frame.offset, self.name)
        let body = header.encrypted ? try plainBody(of: frame) : frame.body
        var bytes = 0
        let stamped = header.version >= FileHeader.clockVersion
        do {
            // From version 8 the records follow the commit's clock (FORMAT.md §4c).
            let clock = stamped ? try MessageCodec.decodeClock(body, at: Envelope.clearPrefix(frame.header.kind, body)) : nil
            let each = { (i: Int, message: consuming OutboxMessage, compressed: Bool) in
                guard first + UInt64(i) >= from, everyLane || lanes.contains(message.lane.name) else { return }
                let m = StoredMessage(seq: first + UInt64(i), message: message, segment: name, offset: offset, compressed: compressed,
                                      commitClock: clock)
                bytes += m.footprint
                out.append(m)
            }
            if frame.header.kind == .laneMessages {
                try LaneSummary.decodeFrame(body, count: Int(frame.header.count), maxBody: Int(header.maxRecordSize), stamped: stamped, each: each)
            } else {
                try MessageCodec.decode(body, count: Int(frame.header.count), maxBody: Int(header.maxRecordSize), stamped: stamped, each: each)
            }
        } catch {
            throw OutboxError(.corrupt, "frame content is invalid: \(error)", path: file.path, offset: frame.offset)
        }
        return bytes
    }

    /// The body of a message frame of this encrypted segment as a plain one holds it: its lane summary
    /// (kind 14), then its records, decrypted with the directory's keys (FORMAT.md §10). Throws
    /// ``OutboxError/Code/missingKey`` or ``OutboxError/Code/wrongKey`` (not damage) or, when the right
    /// key does not authenticate it, ``OutboxError/Code/corrupt``.
    package func plainBody(of frame: Frame) throws -> [UInt8] {
        let split = Envelope.clearPrefix(frame.header.kind, frame.body)
        let prefix = frame.body[..<split]
        let place = Envelope.Place(outboxID: header.outboxID, kind: .segment, base: header.base, offset: frame.offset, file: file.path)
        let records = try Envelope.open(frame.body[split...], keys: keys, place: place, header: frame.header, prefix: prefix)
        return split == 0 ? records : Array(prefix) + records
    }
}

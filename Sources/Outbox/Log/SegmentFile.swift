/// One segment file opened for reading: its checked header and a scanner over its frames.
package struct SegmentFile {
    let name: String
    let file: OutboxFile
    package let header: FileHeader
    package let scanner: FrameScanner


    /// Opens `name` and checks its header against the name and, when given, the outbox id.
    ///
    /// With `validateBodies`, a frame whose checksum matches but whose records do not decode counts as
    /// damage (recovery and verification); readers that decode anyway skip that second pass.
    package static func open(_ name: String, base: UInt64, in directory: OutboxDirectory, writable: Bool = false,
                     validateBodies: Bool = false, expecting outboxID: OutboxID? = nil) throws -> SegmentFile {
        let log = try LogFile.open(try directory.openFile(name, writable: writable), kind: .segment, base: base, outboxID: outboxID,
                                   validateBodies: validateBodies)
        return SegmentFile(name: name, file: log.file, header: log.header, scanner: log.scanner)
    }

    /// The messages of a frame of this segment from `from` on (none for a hole), or
    /// ``OutboxError/Code/corrupt`` naming the frame if its records do not decode.
    package func messages(in frame: Frame, from: UInt64 = 0) throws -> [StoredMessage] {
        guard frame.header.kind == .messages else { return [] }
        let decoded: [MessageCodec.Decoded]
        do {
            decoded = try MessageCodec.decode(frame.body, count: Int(frame.header.count), maxBody: Int(header.maxRecordSize))
        } catch {
            throw OutboxError(.corrupt, "frame content is invalid: \(error)", path: file.path, offset: frame.offset)
        }
        var out: [StoredMessage] = []
        out.reserveCapacity(decoded.count)
        for (i, d) in decoded.enumerated() where frame.header.first + UInt64(i) >= from {
            out.append(StoredMessage(seq: frame.header.first + UInt64(i), message: d.message, segment: name,
                                     offset: frame.offset, compressed: d.compressed))
        }
        return out
    }
}

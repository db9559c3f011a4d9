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
        let file = try directory.openFile(name, writable: writable)
        let size = try file.size()
        let header = try checkHeader(of: file, kind: .segment, expectedBase: base, outboxID: outboxID)
        let maxBody = header.maxRecordSize
        let scanner = FrameScanner(
            file: file, identity: FileIdentity(outboxID: header.outboxID, base: header.base), maxBody: maxBody,
            kinds: FrameContent.kinds(in: .segment), size: size,
            validate: { h, body in validateBodies ? FrameContent.problem(h, body, maxBody: maxBody) : nil })
        return SegmentFile(name: name, file: file, header: header, scanner: scanner)
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

    /// Reads and checks the header of `file`, naming the file and offset on failure.
    static func checkHeader(of file: OutboxFile, kind: FileHeader.Kind, expectedBase: UInt64,
                            outboxID: OutboxID?) throws -> FileHeader {
        let bytes = try file.read(at: 0, count: FileHeader.size)
        let header: FileHeader
        do { header = try FileHeader.decode(bytes, expecting: kind) } catch {
            let code: OutboxError.Code = switch error.kind {
            case .unsupportedVersion: .unsupportedVersion
            case .notAnOutbox: .notAnOutbox
            case .malformed: .corrupt
            }
            throw OutboxError(code, error.reason, path: file.path, offset: Int64(error.index))
        }
        guard header.base == expectedBase else {
            throw OutboxError(.corrupt, "header base \(header.base) does not match the file name (\(expectedBase))",
                              path: file.path, offset: 32)
        }
        if let outboxID, header.outboxID != outboxID {
            throw OutboxError(.corrupt, "file belongs to another outbox (id \(header.outboxID), expected \(outboxID))",
                              path: file.path, offset: 16)
        }
        return header
    }
}

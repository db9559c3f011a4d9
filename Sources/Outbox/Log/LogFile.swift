/// An outbox file of one kind (segment, tombstones, dead letters), opened for reading its frames: the
/// header read and checked against the file's name and outbox, and a scanner over the frames after it.
/// Every kind of file is opened this way (FORMAT.md §2, §3).
struct LogFile {
    let file: OutboxFile
    let header: FileHeader
    let scanner: FrameScanner

    /// Checks `file`'s header (kind `kind`, base `base`, outbox `outboxID` when given) and sets a scanner
    /// on its frames. With `validateBodies`, a frame whose checksum matches but whose body does not
    /// decode counts as damage.
    static func open(_ file: OutboxFile, kind: FileHeader.Kind, base: UInt64, outboxID: OutboxID?,
                     validateBodies: Bool = true) throws -> LogFile {
        let size = try file.size()
        let header = try checkHeader(of: file, kind: kind, expectedBase: base, outboxID: outboxID)
        let maxBody = header.maxRecordSize
        let scanner = FrameScanner(
            file: file, identity: FileIdentity(outboxID: header.outboxID, base: header.base), maxBody: maxBody, version: header.version,
            kinds: FrameContent.kinds(in: kind, version: header.version), size: size,
            validate: { h, body in validateBodies ? FrameContent.problem(h, body, in: kind, version: header.version, encrypted: header.encrypted, maxBody: maxBody) : nil })
        return LogFile(file: file, header: header, scanner: scanner)
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

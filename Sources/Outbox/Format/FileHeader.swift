/// The 64-byte header every outbox file starts with (FORMAT.md §2).
///
/// ```
/// offset size field
///      0    8 magic              "OUTBXSEG" (segment), "OUTBXTMB" (tombstones), "OUTBXDLQ" (dead letters),
///                                "OUTBXDRP" (dropped messages)
///      8    2 format version     1 to 8
///     10    2 header length      64
///     12    4 flags              0; from version 7, bit 0: the file is encrypted (FORMAT.md §10); set in
///                                every version-7 file
///     16   16 outbox id          random, the same in every file of one outbox
///     32    8 base               segment: first sequence number; tombstones: generation
///     40    4 max record size    largest frame body, in bytes
///     44    4 reserved           0
///     48    8 created at         microseconds since the Unix epoch
///     56    4 reserved           0
///     60    4 header checksum    CRC-32 of bytes 0..<60
/// ```
package struct FileHeader: Equatable, Sendable {
    package enum Kind: Sendable {
        case segment, tombstones, deadLetters, dropped

        var magic: [UInt8] {
            switch self {
            case .segment: Array("OUTBXSEG".utf8)
            case .tombstones: Array("OUTBXTMB".utf8)
            case .deadLetters: Array("OUTBXDLQ".utf8)
            case .dropped: Array("OUTBXDRP".utf8)
            }
        }

        var noun: String {
            switch self {
            case .segment: "segment"
            case .tombstones: "tombstone"
            case .deadLetters: "dead-letter"
            case .dropped: "dropped"
            }
        }
    }

    package static let size = 64
    /// The version this build writes into the files it creates (FORMAT.md §9).
    static let currentVersion: UInt16 = 8
    /// The versions this build reads: 1; 2 (expired tombstones, frame kind 8); 3 (segment seals, frame
    /// kind 10); 4 (write tags in frame flags); 5 (routes in tombstone files, frame kinds 11 to 13); 6
    /// (lanes: frame kind 14 in segments, lanes in dead letters, a lane filter in seals).
    /// 7 (encryption at rest: header flag bit 0; only encrypted files are version 7); 8 (the commit's clock
    /// in message frames, schema versions in records; plain or encrypted).
    static let readableVersions: ClosedRange<UInt16> = 1...8
    /// The first version whose segments may hold lanes (frame kind 14) and whose seals carry a lane filter.
    static let lanesVersion: UInt16 = 6
    /// The version of an encrypted file (FORMAT.md §10): laid out as version 6, with header flag bit 0 set
    /// and envelopes in its message and dead-letter frames. A plain file stays version 6.
    package static let encryptedVersion: UInt16 = 7
    /// The first version whose message frames begin with the commit's clock and whose records may carry a
    /// schema version (FORMAT.md §4, §4c); its files are plain or encrypted (flag bit 0).
    package static let clockVersion: UInt16 = 8

    package var kind: Kind
    /// The file's format version (new files get ``currentVersion``).
    package var version: UInt16 = currentVersion
    package var outboxID: OutboxID
    package var base: UInt64
    var maxRecordSize: UInt32
    var createdAtMicros: Int64
    /// Header flag bit 0 (version 7): the file's message and dead-letter frames hold envelopes.
    package var encrypted = false

    /// This header made the header of an encrypted file (flag bit 0): of version 7 when it was of an older
    /// one (the layout of version 6 in envelopes), else of its own version.
    func encrypting() -> FileHeader {
        var h = self
        h.version = max(version, Self.encryptedVersion)
        h.encrypted = true
        return h
    }

    package func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.size)
        w.append(kind.magic)
        w.u16(version)
        w.u16(UInt16(Self.size))
        w.u32(encrypted ? 1 : 0)
        w.append(outboxID.bytes)
        w.u64(base)
        w.u32(maxRecordSize)
        w.u32(0)
        w.i64(createdAtMicros)
        w.u32(0)
        w.u32(CRC32.of(w.bytes))
        return w.bytes
    }

    /// The largest max record size the format allows: 256 MiB.
    static let maxRecordSizeLimit: UInt32 = 256 << 20

    /// Decodes and checks a header: length, magic, version, header length, checksum, sane limits.
    ///
    /// The failure's reason is one plain sentence; its index is the offset of the bad field.
    package static func decode(_ bytes: [UInt8], expecting kind: Kind) throws(DecodeError) -> FileHeader {
        guard bytes.count >= size else {
            throw DecodeError("file is \(bytes.count) bytes, shorter than the \(size)-byte \(kind.noun) header", at: 0)
        }
        guard Array(bytes[0..<8]) == kind.magic else {
            throw DecodeError("not an outbox \(kind.noun) file (bad magic)", at: 0, kind: .notAnOutbox)
        }
        var r = ByteReader(bytes, from: 8, to: size)
        let version = try r.u16("version")
        let headerLength = try r.u16("header length")
        let flags = try r.u32("flags")
        let storedCRC = ByteReader.u32(bytes, at: 60)
        let crcOK = CRC32.of(bytes[0..<60]) == storedCRC
        guard readableVersions.contains(version) else {
            if crcOK {
                throw DecodeError(
                    "unsupported format version \(version) (this build reads versions \(readableVersions.lowerBound) to \(readableVersions.upperBound))",
                    at: 8, kind: .unsupportedVersion)
            }
            throw DecodeError("header checksum mismatch (damaged header; its version field reads \(version))", at: 60)
        }
        guard crcOK else { throw DecodeError("header checksum mismatch", at: 60) }
        guard headerLength == UInt16(size) else { throw DecodeError("header length \(headerLength), expected \(size)", at: 10) }
        guard flags == 0 || (version >= encryptedVersion && flags == 1) else { throw DecodeError("unknown header flags \(flags)", at: 12) }
        guard version != encryptedVersion || flags == 1 else { throw DecodeError("a version-\(version) file without the encryption flag", at: 12) }
        let id = OutboxID(bytes: Array(try r.bytes(16, "outbox id")))
        let base = try r.u64("base")
        let maxRecordSize = try r.u32("max record size")
        guard try r.u32("reserved") == 0 else { throw DecodeError("reserved header field at offset 44 is not zero", at: 44) }
        let created = try r.i64("created at")
        guard try r.u32("reserved") == 0 else { throw DecodeError("reserved header field at offset 56 is not zero", at: 56) }
        guard maxRecordSize >= 64, maxRecordSize <= maxRecordSizeLimit else {
            throw DecodeError("max record size \(maxRecordSize) is out of range", at: 40)
        }
        guard base >= 1 else { throw DecodeError("base \(base) must be at least 1", at: 32) }
        var header = FileHeader(kind: kind, outboxID: id, base: base, maxRecordSize: maxRecordSize, createdAtMicros: created)
        header.version = version
        header.encrypted = flags == 1
        return header
    }
}

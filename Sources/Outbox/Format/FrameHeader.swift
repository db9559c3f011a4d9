/// The 24-byte header of a frame (FORMAT.md §3).
///
/// ```
/// offset size field
///      0    4 checksum    CRC-32 of: outbox id (16) || file base (8, LE) || frame offset (8, LE)
///                          || bytes 4..<24 of this header || body
///      4    4 body length bytes after this header, 1 ... max record size
///      8    8 first       segments: sequence number of the first message; tombstones: lowest sequence
///     16    4 count       segments: number of messages; tombstones: number of ranges; at least 1
///     20    2 kind        1 messages, 2 published ranges, 3 dead ranges, 4 dead letter, 5 redriven ranges,
///                          6 hole, 7 redrive-requested ranges, 8 expired ranges, 9 dropped ranges,
///                          10 seal
///     22    2 flags       version 1-3: 0; version 4: the write tag (bits 0-14, never 0; bit 15 is 0)
/// ```
package struct FrameHeader: Equatable, Sendable {
    package static let size = 24

    package var bodyLength: UInt32
    var first: UInt64
    var count: UInt32
    package var kind: FrameKind
    /// The flags field: 0 in files of versions 1 to 3; from version 4, the tag of the write the frame was
    /// part of (``writeTag(start:version:)``).
    var flags: UInt16

    /// Whether `first` and `count` leave room for one past the last number (FORMAT.md §3): a message or
    /// hole frame's last sequence number is at most 2^64 − 2, so `first + count` never overflows.
    static func numbersFit(first: UInt64, count: UInt32) -> Bool { first <= UInt64.max - UInt64(count) }

    /// The first format version whose frames carry a write tag (FORMAT.md §3).
    static let taggedVersion: UInt16 = 4

    /// The flags of every frame written by one write (one `pwrite`, however many frames) that begins at
    /// byte `start` of a file of format `version`: from version 4, 1 + (CRC-32 of `start` as 8 bytes,
    /// little-endian) mod 32767, so frames tell which write they were part of (recovery tells a torn last
    /// write from damage with it, FORMAT.md §7); 0 before. A file created whole counts as one write from
    /// its first frame.
    package static func writeTag(start: Int64, version: UInt16) -> UInt16 {
        guard version >= taggedVersion else { return 0 }
        let crc = withUnsafeBytes(of: UInt64(start).littleEndian) { CRC32.of($0) }
        return UInt16(1 + crc % 32767)
    }

    /// Whether `flags` are valid in a file of format `version`.
    static func flagsAreValid(_ flags: UInt16, version: UInt16) -> Bool {
        version >= taggedVersion ? flags != 0 && flags & 0x8000 == 0 : flags == 0
    }

    /// The CRC of the part of the checksummed bytes that precedes the body (no allocation: it runs once
    /// per frame on the commit thread).
    package static func prefixCRC(identity: FileIdentity, offset: Int64, header: UnsafeRawBufferPointer) -> UInt32 {
        var crc = CRC32.of(identity.outboxID.bytes)
        crc = withUnsafeBytes(of: identity.base.littleEndian) { CRC32.of($0, continuing: crc) }
        crc = withUnsafeBytes(of: UInt64(offset).littleEndian) { CRC32.of($0, continuing: crc) }
        return CRC32.of(UnsafeRawBufferPointer(rebasing: header[4..<24]), continuing: crc)
    }

    /// Appends this header, checksummed for a frame at `offset` of the file `identity` whose body has
    /// CRC `bodyCRC`, to `out`. The body itself is not touched (its CRC was computed by the producer).
    func append(to out: inout [UInt8], identity: FileIdentity, offset: Int64, bodyCRC: UInt32) {
        let start = out.count
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(UInt32(0))
        put(bodyLength)
        put(first)
        put(count)
        put(kind.rawValue)
        put(flags)
        let prefix = out.withUnsafeBytes {
            Self.prefixCRC(identity: identity, offset: offset, header: UnsafeRawBufferPointer(rebasing: $0[start..<(start + Self.size)]))
        }
        let crc = CRC32.combine(prefix, bodyCRC, lengthOfB: Int(bodyLength))
        withUnsafeBytes(of: crc.littleEndian) { raw in
            for i in 0..<4 { out[start + i] = raw[i] }
        }
    }

    /// Encodes a whole frame (header and body) for `offset`, part of a write whose tag is `tag`.
    static func frame(kind: FrameKind, first: UInt64, count: UInt32, body: [UInt8], identity: FileIdentity, offset: Int64,
                      tag: UInt16) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(size + body.count)
        FrameHeader(bodyLength: UInt32(body.count), first: first, count: count, kind: kind, flags: tag)
            .append(to: &out, identity: identity, offset: offset, bodyCRC: CRC32.of(body))
        out.append(contentsOf: body)
        return out
    }

    /// Reads the header fields without checking anything; `bytes` holds at least 24 bytes from `at`.
    static func peek(_ bytes: UnsafeRawBufferPointer) -> (crc: UInt32, length: UInt32, first: UInt64, count: UInt32, kind: UInt16, flags: UInt16) {
        func u32(_ i: Int) -> UInt32 { UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt32.self)) }
        func u16(_ i: Int) -> UInt16 { UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: i, as: UInt16.self)) }
        let first = UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
        return (u32(0), u32(4), first, u32(16), u16(20), u16(22))
    }
}

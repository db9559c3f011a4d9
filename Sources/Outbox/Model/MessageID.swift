import Foundation

/// The 16-byte identity of a message: the caller's, or a UUIDv7 generated when the message is appended.
///
/// It is stored with the message and becomes the broker's deduplication key, so a message republished
/// after a crash keeps the same id. ``unassigned`` (the nil UUID, all zeros) is never stored: it stands
/// for "no id yet", and ``Outbox/append(contentsOf:)`` replaces it with a new UUIDv7.
public struct MessageID: Hashable, Sendable, CustomStringConvertible {
    public let uuid: UUID

    public init(_ uuid: UUID) { self.uuid = uuid }

    /// No id yet (the nil UUID): what an ``OutboxMessage`` built without an id holds
    /// (its initializers' `id:` nil). Appending gives such a message a new UUIDv7.
    public static let unassigned = MessageID(UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)))

    /// Whether this is a real id (not ``unassigned``).
    public var isAssigned: Bool { self != Self.unassigned }

    /// Parses the canonical 8-4-4-4-12 hex form.
    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }

    /// The first 16 bytes of `bytes` (a decoder's slice), copied without an intermediate array.
    init(bytes: ArraySlice<UInt8>) {
        var u: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &u) { out in
            for (i, b) in bytes.prefix(16).enumerated() { out[i] = b }
        }
        uuid = UUID(uuid: u)
    }

    /// A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits; ids generated later
    /// sort after earlier ones at millisecond granularity. Built in place from a pool of random bytes: no allocation
    /// and no system call per id.
    public static func v7(now: Date = Date()) -> MessageID {
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let (r1, r2) = RandomPool.twoWords()
        var u: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &u) { b in
            for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
            for i in 6..<16 { b[i] = UInt8(truncatingIfNeeded: (i < 14 ? r1 : r2) >> (8 * UInt64(i % 8))) }
            b[6] = 0x70 | (b[6] & 0x0F)
            b[8] = 0x80 | (b[8] & 0x3F)
        }
        return MessageID(UUID(uuid: u))
    }

    /// The 16 bytes, in the order they are stored and compared.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: uuid.uuid) { Array($0) }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Lower-case canonical form (8-4-4-4-12 hex digits), written straight into the string: sinks
    /// call this for every message.
    public var description: String {
        String(unsafeUninitializedCapacity: 36) { write(into: $0) }
    }

    /// Appends the canonical form's 36 bytes to `out` (a sink's record buffer).
    package func appendCanonical(to out: inout [UInt8]) {
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: 36))
        out.withUnsafeMutableBufferPointer { o in _ = write(into: UnsafeMutableBufferPointer(rebasing: o[start...])) }
    }

    private func write(into out: UnsafeMutableBufferPointer<UInt8>) -> Int {
        withUnsafeBytes(of: uuid.uuid) { b in
            var j = 0
            for i in 0..<16 {
                if i == 4 || i == 6 || i == 8 || i == 10 {
                    out[j] = UInt8(ascii: "-")
                    j += 1
                }
                out[j] = Self.hexDigits[Int(b[i] >> 4)]
                out[j + 1] = Self.hexDigits[Int(b[i] & 0x0F)]
                j += 2
            }
            return j
        }
    }
}

import Foundation

/// The 16-byte identity of a message: the caller's, or a generated UUIDv7.
///
/// It is stored with the message and becomes the broker's deduplication key, so a message republished
/// after a crash keeps the same id.
public struct MessageID: Hashable, Sendable, CustomStringConvertible {
    public let uuid: UUID

    public init(_ uuid: UUID) { self.uuid = uuid }

    /// Parses the canonical 8-4-4-4-12 hex form.
    public init?(_ string: String) {
        guard let uuid = UUID(uuidString: string) else { return nil }
        self.uuid = uuid
    }

    init(bytes: ArraySlice<UInt8>) {
        let b = Array(bytes)
        uuid = UUID(uuid: (b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
                           b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]))
    }

    /// A new UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits; ids generated later
    /// sort after earlier ones at millisecond granularity.
    public static func v7(now: Date = Date()) -> MessageID {
        var g = SystemRandomNumberGenerator()
        let ms = UInt64(max(0, now.timeIntervalSince1970 * 1000))
        let r1 = g.next() as UInt64
        let r2 = g.next() as UInt64
        var b = [UInt8](repeating: 0, count: 16)
        for i in 0..<6 { b[i] = UInt8(truncatingIfNeeded: ms >> (40 - 8 * UInt64(i))) }
        for i in 6..<16 { b[i] = UInt8(truncatingIfNeeded: (i < 14 ? r1 : r2) >> (8 * UInt64(i % 8))) }
        b[6] = 0x70 | (b[6] & 0x0F)
        b[8] = 0x80 | (b[8] & 0x3F)
        return MessageID(bytes: b[...])
    }

    /// The 16 bytes, in the order they are stored and compared.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: uuid.uuid) { Array($0) }
    }

    /// Lower-case canonical form.
    public var description: String { uuid.uuidString.lowercased() }
}

/// The random 16-byte identity of one outbox, written into the header of each of its files.
///
/// Frame checksums are seeded with it, so a frame copied from another outbox never validates.
public struct OutboxID: Hashable, Sendable, CustomStringConvertible {
    public let bytes: [UInt8]

    package init(bytes: [UInt8]) {
        precondition(bytes.count == 16)
        self.bytes = bytes
    }

    static func random() -> OutboxID {
        var g = SystemRandomNumberGenerator()
        return OutboxID(bytes: (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) })
    }

    public var description: String { bytes.map { String($0, radix: 16).leftPadded(to: 2) }.joined() }
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}

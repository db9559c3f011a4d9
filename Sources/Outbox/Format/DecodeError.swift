/// A decoding failure: what kind, what was wrong and at which index of the decoded bytes.
package struct DecodeError: Error, CustomStringConvertible {
    enum Kind: Sendable {
        /// The bytes are damaged or malformed.
        case malformed
        /// Not an outbox file at all (the magic does not match).
        case notAnOutbox
        /// A file of a format version this build does not read (its header checksum holds).
        case unsupportedVersion
    }

    var kind: Kind
    var reason: String
    var index: Int
    init(_ reason: String, at index: Int, kind: Kind = .malformed) {
        self.kind = kind
        self.reason = reason
        self.index = index
    }
    package var description: String { reason }
}

import Foundation

/// How typed events (``OutboxEvent``) become payload bytes and back: JSON (``JSONEventCoder``) unless the
/// outbox is given another (``OutboxConfiguration/eventCoder``), for example one for Protocol Buffers or
/// CBOR.
///
/// A coder is called by every appender at once: it must be safe to use concurrently. What it throws is
/// reported as ``OutboxError/Code/eventEncoding`` or ``OutboxError/Code/eventDecoding`` with its
/// description.
public protocol OutboxEventCoder: Sendable {
    /// The media type of the payloads it makes (`application/json`), stored in the `content-type` header
    /// of each message and published as CloudEvents' `datacontenttype`; nil stores none.
    var contentType: String? { get }
    /// The payload of `value`.
    func encode<T: Encodable>(_ value: T) throws -> [UInt8]
    /// A value of `type` from `payload`.
    func decode<T: Decodable>(_ type: T.Type, from payload: [UInt8]) throws -> T
}

/// JSON: members in the order the value encodes them (for synthesized `Codable`, the order its properties
/// are declared, so the same event gives the same bytes), dates as RFC 3339 text in UTC (what consumers in
/// other languages read), data as base64; decoded by Foundation's `JSONDecoder`. Unless the app gives
/// encoders of its own, values are written by an encoder of this package, several times faster than
/// Foundation's `JSONEncoder` (an append pays for it); a value it does not take (a dictionary, whose order
/// changes from run to run; a super encoder) is written by `JSONEncoder`, keys sorted.
public struct JSONEventCoder: OutboxEventCoder {
    private let encoder: JSONEncoder
    private let decoder: JSONDecoder
    /// Whether the app gave its own encoder (then it writes every value).
    private let ownEncoder: Bool

    /// A coder as above.
    public init() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        (self.encoder, self.decoder, ownEncoder) = (encoder, decoder, false)
    }

    /// A coder with the app's own encoder and decoder (not changed after they are given: they are used
    /// from every appender at once).
    public init(encoder: JSONEncoder, decoder: JSONDecoder) {
        (self.encoder, self.decoder, ownEncoder) = (encoder, decoder, true)
    }

    public var contentType: String? { "application/json" }

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        if !ownEncoder, let bytes = try? JSONBytesEncoder.encode(value) { return bytes }
        return [UInt8](try encoder.encode(value))
    }

    public func decode<T: Decodable>(_ type: T.Type, from payload: [UInt8]) throws -> T {
        try decoder.decode(type, from: Data(payload))
    }
}

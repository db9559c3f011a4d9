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

/// JSON through Foundation's `JSONEncoder` and `JSONDecoder`: keys sorted (the same event gives the same
/// bytes), dates as RFC 3339 text (what consumers in other languages read), unless encoders of the app's
/// own are given.
public struct JSONEventCoder: OutboxEventCoder {
    private let encoder: JSONEncoder
    private let decoder: JSONDecoder

    /// A coder with sorted keys and RFC 3339 dates.
    public init() {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        self.init(encoder: encoder, decoder: decoder)
    }

    /// A coder with the app's own encoder and decoder (not changed after they are given: they are used
    /// from every appender at once).
    public init(encoder: JSONEncoder, decoder: JSONDecoder) {
        (self.encoder, self.decoder) = (encoder, decoder)
    }

    public var contentType: String? { "application/json" }

    public func encode<T: Encodable>(_ value: T) throws -> [UInt8] { [UInt8](try encoder.encode(value)) }

    public func decode<T: Decodable>(_ type: T.Type, from payload: [UInt8]) throws -> T {
        try decoder.decode(type, from: Data(payload))
    }
}

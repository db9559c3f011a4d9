import Foundation

/// A message as read back from the outbox: its sequence number, where it is stored, and whether it
/// has been finished.
public struct StoredMessage: Sendable, Equatable {
    /// The sequence number assigned at commit: dense, starting at 1, never reused.
    public var seq: UInt64
    public var message: OutboxMessage
    /// The segment file holding it.
    public var segment: String
    /// The byte offset of its commit's frame in ``segment``.
    public var offset: Int64
    /// Whether the payload is stored deflate-compressed.
    public var compressed: Bool
    /// The key a sink must keep order within: the message's key, or (under the relay's strict order)
    /// one key shared by every message; nil means no ordering constraint.
    public var orderingKey: String?

    /// A stored message as the relay hands it to a sink (public so that sinks can be tested alone);
    /// the ordering key is the message's key.
    public init(seq: UInt64, message: OutboxMessage, segment: String, offset: Int64, compressed: Bool) {
        self.seq = seq
        self.message = message
        self.segment = segment
        self.offset = offset
        self.compressed = compressed
        self.orderingKey = message.key
    }
}

extension StoredMessage {
    /// About how much memory the message takes when held (payload, type, key, headers and a fixed
    /// overhead): what the relay's and the log tail's byte bounds count.
    var footprint: Int {
        message.payload.count + message.type.utf8.count + (message.key?.utf8.count ?? 0)
            + message.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count } + 128
    }
}

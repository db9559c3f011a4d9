import Foundation

/// What became of a message.
public enum MessageStatus: String, Sendable, Codable {
    /// Appended, not yet confirmed by a sink.
    case pending
    /// Confirmed by a sink and tombstoned.
    case published
    /// Given up on and tombstoned (see the dead-letter log).
    case dead
    /// Past its deliver-by deadline (``OutboxMessage/expiresAt``) before a sink confirmed it: never
    /// published, and tombstoned as expired.
    case expired
    /// Dropped by the writer to make room in a full disk budget (``FullPolicy/dropOldest``): never
    /// published.
    case dropped
    /// It matched no route of the relay (``OutboxRoute``): never published, and tombstoned as unrouted.
    case unrouted
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging

/// A message the relay gave up on, as kept in the dead-letter file.
public struct DeadLetter: Sendable, Equatable {
    /// The sequence number it had in the outbox.
    public var seq: UInt64
    /// The message as it was appended.
    public var message: OutboxMessage
    /// Why it was dead-lettered (attempts exhausted, deadline passed, rejected by the sink).
    public var reason: String
    /// The last error the sink reported.
    public var lastError: String
    /// How many publish attempts were made.
    public var attempts: Int
    /// When it was dead-lettered, in microseconds since the Unix epoch.
    public var deadAtMicros: Int64
    /// Whether the relay republished it since (after a redrive request).
    public var redriven: Bool
    /// Whether an operator asked for it to be republished and the relay has not done so yet.
    public var redriveRequested = false
    /// The route that gave up on it, when the relay has several (``OutboxRoute``); nil otherwise.
    public var route: String? = nil
}

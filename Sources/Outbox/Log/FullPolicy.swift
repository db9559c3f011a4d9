/// What an append does when the disk budget has no room for it (FORMAT.md §1b).
public enum FullPolicy: String, Sendable, CaseIterable {
    /// Fail with ``OutboxError/Code/outboxFull`` before writing anything. The default.
    case reject
    /// Drop the oldest messages, a whole segment at a time (the oldest first, just as many as the
    /// commit needs), recording their numbers as `dropped`: they are never published. For telemetry,
    /// where the newest data matters most.
    case dropOldest = "drop-oldest"
}

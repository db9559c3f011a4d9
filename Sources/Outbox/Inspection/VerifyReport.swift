/// What ``OutboxInspector/verify(path:keys:)`` found.
public struct VerifyReport: Sendable {
    public var problems: [VerifyProblem] = []
    public var files = 0
    public var segments = 0
    public var messages: UInt64 = 0
    public var lastSeq: UInt64 = 0
    /// Files quarantined at open or by a relay (``DamagePolicy/quarantine``): not damage of the outbox as it
    /// is now, but data it lost.
    public var quarantined: [QuarantinedFile] = []
    /// Encrypted message frames (FORMAT.md §10) whose structure alone was checked: no key was given, or
    /// not the one they name (``keysNotGiven``). Not damage: with the key they are decrypted and checked.
    public var notDecrypted = 0
    /// The ids of the keys those frames name.
    public var keysNotGiven: Set<String> = []
    public var isClean: Bool { problems.isEmpty }
}

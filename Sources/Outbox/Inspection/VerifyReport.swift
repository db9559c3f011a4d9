/// What ``OutboxInspector/verify(path:)`` found.
public struct VerifyReport: Sendable {
    public var problems: [VerifyProblem] = []
    public var files = 0
    public var segments = 0
    public var messages: UInt64 = 0
    public var lastSeq: UInt64 = 0
    /// Files quarantined at open or by a relay (``DamagePolicy/quarantine``): not damage of the outbox as it
    /// is now, but data it lost.
    public var quarantined: [QuarantinedFile] = []
    public var isClean: Bool { problems.isEmpty }
}

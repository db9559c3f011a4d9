/// What ``OutboxInspector/verify(path:)`` found.
public struct VerifyReport: Sendable {
    public var problems: [VerifyProblem] = []
    public var files = 0
    public var segments = 0
    public var messages: UInt64 = 0
    public var lastSeq: UInt64 = 0
    public var isClean: Bool { problems.isEmpty }
}

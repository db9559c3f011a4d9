/// What ``OutboxInspector/repair(path:keys:logger:)`` did.
public struct RepairReport: Sendable {
    /// One sentence per change, naming the file.
    public var actions: [String] = []
    /// What verification still finds afterwards (empty when the repair succeeded).
    public var remaining: [VerifyProblem] = []
}

/// How an outbox is opened and written. Every field has a sensible default.
public struct OutboxConfiguration: Sendable {
    /// A segment is sealed and a new one started once it would grow past this many bytes
    /// (a single commit larger than this still fits in a segment of its own). Default 64 MiB.
    public var segmentSize: Int = 64 << 20
    /// The largest frame body (one commit) in bytes, written into each file header when the outbox is
    /// created; an existing outbox keeps the size it was created with. Default 4 MiB.
    public var maxRecordSize: Int = 4 << 20
    /// Payloads of at least this many bytes are deflate-compressed when that makes them smaller;
    /// nil turns compression off. Default 4096.
    public var compressionThreshold: Int? = 4096
    /// A group commit stops taking waiting callers once their frames add up to this many bytes.
    /// Default 4 MiB.
    public var maxBatchBytes: Int = 4 << 20
    /// Create the directory and the first segment when the outbox does not exist. Default true.
    public var createIfMissing: Bool = true
    /// The outbox's disk budget in bytes (FORMAT.md §1b): a cap on everything it keeps on disk, persisted
    /// in the outbox so that every process sees it. Appends that would pass it fail with
    /// ``OutboxError/Code/outboxFull`` before anything is written; a reserve of 1/16 is kept for the
    /// relay's tombstones, so a full outbox can always drain. Segments are then at most 1/16 of it. Nil
    /// (the default) keeps the budget the outbox has; 0 removes it.
    public var maxDiskBytes: Int64?
    /// What an append that does not fit the budget does (``FullPolicy``), persisted with it. Nil (the
    /// default) keeps the outbox's policy (``FullPolicy/reject`` for a new budget).
    public var onFull: FullPolicy?
    /// What opening does with a damaged segment it would otherwise refuse: `.refuse` (the default) or
    /// `.quarantine` (``DamagePolicy``).
    public var onDamage: DamagePolicy = .refuse

    /// Rules that give a message appended in lane `normal` (the default) another lane, by its type, a
    /// header or its key (``LaneRule``): the first rule that matches wins; a message appended in another
    /// lane keeps it. Default: none.
    public var laneRules: [LaneRule] = []

    /// Encryption at rest (FORMAT.md §10): with keys, every new segment is encrypted with the current one
    /// (the first) and older segments are read with whichever of them they name. Nil (the default): new
    /// segments are plain; an outbox whose active segment is encrypted is then refused
    /// (``OutboxError/Code/missingKey``), so that an append without its key never writes in clear.
    public var keys: OutboxKeys?

    /// How typed events (``OutboxEvent``) appended to this outbox become payloads. Default: JSON
    /// (``JSONEventCoder``).
    public var eventCoder: any OutboxEventCoder = JSONEventCoder()

    /// Where commits read the time (FORMAT.md §4c): the wall clock, the boot's id and the time since
    /// boot. Default: the machine's (``OutboxClock/system``).
    public var clock: OutboxClock = .system

    /// The system-call seam (tests replace it to inject faults or record operations).
    package var systemCalls: any SystemCalls = LinuxSystemCalls()

    /// The largest max record size the format allows: 256 MiB.
    static let maxRecordSizeLimit: UInt32 = FileHeader.maxRecordSizeLimit

    public init() {}

    /// The file format version this build reads and writes (FORMAT.md §9).
    public static let formatVersion = Int(FileHeader.currentVersion)

    func validated() throws -> OutboxConfiguration {
        guard maxRecordSize >= 64, maxRecordSize <= Int(Self.maxRecordSizeLimit) else {
            throw OutboxError(.invalidArgument, "maxRecordSize must be between 64 bytes and 256 MiB, not \(maxRecordSize)")
        }
        guard segmentSize >= FileHeader.size + FrameHeader.size + 1 else {
            throw OutboxError(.invalidArgument, "segmentSize \(segmentSize) is too small")
        }
        guard maxBatchBytes >= 1 else { throw OutboxError(.invalidArgument, "maxBatchBytes must be positive") }
        for rule in laneRules {
            if let problem = OutboxLane.nameProblem(rule.lane.name) {
                throw OutboxError(.invalidArgument, "laneRules: the lane \(rule.lane.name.debugDescription) of rule \(rule) \(problem)")
            }
        }
        return self
    }
}

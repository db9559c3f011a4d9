import Foundation

/// A summary of an outbox (``OutboxReader/stats(now:)``).
public struct OutboxStats: Sendable, Equatable, Codable {
    /// Messages appended and not finished.
    public var pending: UInt64 = 0
    /// Messages confirmed by a sink.
    public var published: UInt64 = 0
    /// Messages dead-lettered.
    public var dead: UInt64 = 0
    /// Messages past their deliver-by deadline before a sink confirmed them (never published).
    public var expired: UInt64 = 0
    /// Messages the writer dropped to make room in a full disk budget (never published).
    public var dropped: UInt64 = 0
    /// Messages that matched no route of the relay (never published).
    public var unrouted: UInt64 = 0
    /// Segment files.
    public var segments = 0
    /// Tombstone files.
    public var tombstoneFiles = 0
    /// Files in `quarantine/` (``DamagePolicy/quarantine``).
    public var quarantinedFiles = 0
    /// Bytes of all segment and tombstone files.
    public var bytesOnDisk: Int64 = 0
    /// Every byte the disk budget counts: segments, tombstone files, dead letters and quarantine.
    public var usedBytes: Int64 = 0
    /// The outbox's disk budget, if it has one (``OutboxConfiguration/maxDiskBytes``).
    public var maxDiskBytes: Int64?
    /// Since when the writer has been refusing appends because the budget is full (microseconds since
    /// the Unix epoch): the running writer's word, or with none running the last writer's (until a
    /// writer's append succeeds again); nil while appends succeed.
    public var fullSinceMicros: Int64?
    /// The highest sequence number committed (0 when nothing was).
    public var lastSeq: UInt64 = 0
    /// The lowest sequence number still stored (earlier ones were compacted away).
    public var firstSeq: UInt64 = 1
    /// The lowest pending sequence number, if any.
    public var oldestPendingSeq: UInt64?
    /// How long ago the oldest pending message was created, in seconds.
    public var oldestPendingAgeSeconds: Double?
    /// When the log was last compacted or checkpointed (microseconds since the Unix epoch), if ever.
    public var lastCompactionMicros: Int64?
    /// The pid of the process holding the outbox open for writing, if any.
    public var writerPid: Int32?
    /// The pid of the process holding the tombstone log (the active relay), if any.
    public var relayPid: Int32?
    /// What the active relay last reported (nil without a relay, or when it has not written its status):
    /// whether its sink is reachable, the sink's error while it is not, and when it last published
    /// (microseconds since the Unix epoch).
    public var sinkReachable: Bool?
    /// While the sink is unreachable (per the relay's status file): since when, in microseconds since the
    /// Unix epoch.
    public var sinkUnreachableSinceMicros: Int64?
    public var sinkError: String?
    public var lastPublishMicros: Int64?
    /// With a relay of several routes: each route's sink, as the relay last reported it (the fields above
    /// combine them).
    public var routes: [Route] = []

    /// Each route's uplink budget (``OutboxRelayConfiguration/uplinkBudget``) and what it spent of it in
    /// the current period, as the relay last recorded it (FORMAT.md §1d).
    public var uplink: [Uplink] = []

    /// What each lane has pending (``OutboxReader/stats(now:perRoute:perLane:)`` with `perLane`; empty
    /// otherwise), in the order the lanes first appear in the log.
    public var lanes: [Lane] = []

    public struct Lane: Sendable, Equatable, Codable {
        public var name: String
        public var pending: UInt64
        /// The lane's lowest pending number, and how long ago that message was created, in seconds.
        public var oldestPendingSeq: UInt64?
        public var oldestPendingAgeSeconds: Double?
    }

    public struct Uplink: Sendable, Equatable, Codable {
        /// The route (`default` for a relay of one sink).
        public var route: String
        public var budgetBytes: Int64
        /// `hour`, `day` or `month`.
        public var period: String
        /// Spent in the current period (0 once the period the file records is over).
        public var spentBytes: Int64
        /// When the current period ends and the budget is whole again, in microseconds since the Unix epoch.
        public var resetsMicros: Int64
    }

    /// What the relay last reported about one of its routes, and (``OutboxReader/stats(now:perRoute:perLane:)``)
    /// what the route has pending.
    public struct Route: Sendable, Equatable, Codable {
        public var name: String
        public var sinkReachable: Bool
        public var sinkUnreachableSinceMicros: Int64?
        public var sinkError: String?
        public var lastPublishMicros: Int64?
        /// Messages the route takes, at or after its start, that it has not finished and the outbox has
        /// not either (nil unless counted).
        public var pending: UInt64?
        /// The route's lowest pending number, and how long ago that message was created, in seconds.
        public var oldestPendingSeq: UInt64?
        public var oldestPendingAgeSeconds: Double?
    }
}

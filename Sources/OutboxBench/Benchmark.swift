import Foundation
import Logging
import Outbox

/// `outbox bench`: the outbox's append path against the disk's `fdatasync` floor and an SQLite outbox,
/// in the same directory (so on the same disk), in the same run; then a relay publishing to a sink,
/// draining a full outbox and keeping up with live producers. Speed is reported as ratios to those
/// baselines, which hold on any machine, rather than as absolute numbers.
package struct Benchmark: Sendable {
    /// Where the files go (a scratch directory is made inside and removed afterwards). Use the disk
    /// the outbox will live on: on a tmpfs `fdatasync` costs nothing and the comparison means little.
    package var directory: String
    package var messages: Int = 10_000
    /// Concurrent producers (tasks for the outbox, threads with their own connection for SQLite).
    package var producers: Int = 16
    package var payloadSize: Int = 256
    /// `pwrite` + `fdatasync` rounds for the floor.
    package var floorCommits: Int = 500
    /// Makes the sink the relay publishes to, once per relay phase; it gets a path prefix in the scratch
    /// directory, unique to the phase, for sinks that write files. By default a ``FileSink`` (one `write`
    /// and one `fdatasync` per batch).
    package var makeSink: @Sendable (_ scratchPrefix: String) throws -> any OutboxSink = { try FileSink(path: $0 + ".published.jsonl") }
    /// How the report names the sink.
    package var sinkName: String = "a file sink"
    /// Messages per second the producers append at in the live phase, in all; nil: as fast as they can
    /// (the relay's latencies then include the queue that builds up when they outpace it).
    package var liveRate: Double? = nil
    /// How long each relay phase waits for the sink to acknowledge every message before it fails.
    package var publishTimeout: Duration = .seconds(120)

    package init(directory: String) { self.directory = directory }

    package struct Report: Sendable {
        package var floor: LatencySummary
        package var outbox: LatencySummary
        package var sqlite: LatencySummary
        /// A relay draining the outbox's messages to the sink, after the appends.
        package var relay: LatencySummary
        /// Producers appending while a relay publishes to the sink: messages per second from the first
        /// `append` to the last acknowledgement, and latencies from `append` returning to the sink's
        /// acknowledgement.
        package var live: LatencySummary
        /// Messages each store holds afterwards (a check that both did the work).
        package var outboxStored: Int
        package var sqliteRows: Int

        /// Outbox messages per second over SQLite's.
        package var throughputVsSQLite: Double { outbox.perSecond / sqlite.perSecond }
        /// Outbox messages per second over `fdatasync`s per second: how many messages a group commit
        /// carries, in effect, per unit of the disk's floor.
        package var messagesPerFloorSync: Double { outbox.perSecond / floor.perSecond }
        /// Median commit latency over the floor's median.
        package var p50VsFloor: Double { outbox.p50.seconds / max(floor.p50.seconds, 1e-9) }
    }

    package func run(logger: Logger) async throws -> Report {
        let scratch = directory + "/outbox-bench-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(scratch, 0o700) == 0 else {
            throw OutboxError(.invalidArgument, "cannot make a scratch directory for the benchmark here", path: directory, errno: errno)
        }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let payload = (0..<payloadSize).map { UInt8(truncatingIfNeeded: $0 &* 131) }
        let (commits, producers, messages) = (floorCommits, self.producers, self.messages)
        let floor = try await onDedicatedThread("outbox-bench-floor") { try FsyncFloor.measure(in: scratch, commits: commits) }
        let (outbox, stored) = try await OutboxWorkload.measure(in: scratch, messages: messages, producers: producers, payload: payload, logger: logger)
        let relay = try await OutboxWorkload.drain(OutboxWorkload.outboxPath(in: scratch), messages: messages,
                                                   sink: try makeSink(scratch + "/drain"), sinkName: sinkName, timeout: publishTimeout, logger: logger)
        let live = try await OutboxWorkload.live(in: scratch, messages: messages, producers: producers, rate: liveRate, payload: payload,
                                                 sink: try makeSink(scratch + "/live"), sinkName: sinkName, timeout: publishTimeout, logger: logger)
        let (sqlite, rows) = try await SQLiteOutbox.measure(in: scratch, messages: messages, producers: producers, payload: payload)
        return Report(floor: floor, outbox: outbox, sqlite: sqlite, relay: relay, live: live, outboxStored: stored, sqliteRows: rows)
    }
}

import Foundation

/// Writes `relay-status.json`, what `outbox stats` and `outbox check` in another process show: whether
/// the sink is reachable (since when not), the last error, the last publish. Advisory: a failure to
/// write it is logged, not fatal.
final class RelayStatusWriter {
    private let env: RelayEnvironment
    private let pid = getpid()
    private let clock = ContinuousClock()
    private var lastPublishMicros: Int64?
    private var written: (at: ContinuousClock.Instant, publish: Int64?)?
    /// When the current outage began (wall clock, microseconds).
    var outageSinceMicros: Int64?

    init(_ env: RelayEnvironment) { self.env = env }

    func write(reachable: Bool, error: String?) async {
        let status = RelayStatusFile(pid: pid, state: "active", sinkReachable: reachable, lastError: error,
                                     lastPublishMicros: lastPublishMicros, unreachableSinceMicros: reachable ? nil : outageSinceMicros)
        written = (clock.now, lastPublishMicros)
        let directory = env.directory
        do { try await env.io.run { try status.write(in: directory) } } catch {
            env.logger.debug("cannot write the relay status file", metadata: ["error": "\(error)"])
        }
    }

    /// A batch was published at `time`: the first publish, then at most one every 5 s, reach the file.
    func published(at time: Date, reachable: Bool, error: String?) async {
        lastPublishMicros = OutboxMessage.micros(time)
        if written?.publish == nil || clock.now - (written?.at ?? clock.now) > .seconds(5) {
            await write(reachable: reachable, error: error)
        }
    }
}

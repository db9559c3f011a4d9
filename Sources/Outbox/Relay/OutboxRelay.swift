import Foundation
import Logging
import ServiceLifecycle

/// Publishes an outbox's pending messages to a sink: fast, in order per key, across crashes and restarts.
/// A swift-service-lifecycle `Service`; run it in a `ServiceGroup`, in the writer's process or another.
///
/// **Trigger.** An inotify watch on the outbox directory wakes the relay within a millisecond of a commit
/// by any process; a writer in the same process (``init(path:sink:configuration:outbox:logger:)`` with
/// `outbox`) also wakes it directly. Wake-ups coalesce into batches. The fallback sweep, every
/// ``OutboxRelayConfiguration/sweepInterval``, re-reads what is pending (older than
/// ``OutboxRelayConfiguration/minimumAge``) and compacts the log; without inotify it is the only trigger.
///
/// **Only durable messages are published:** inotify fires on `write`, before the writer's `fdatasync`;
/// after reading frames that may not be durable yet the relay `fdatasync`s that segment itself before
/// publishing them (not needed for a sealed segment, for bytes an earlier sync of its own covered, or
/// for what an in-process writer reports durable).
///
/// **Delivery:** at least once. A message is tombstoned (durably) only after the sink confirmed it; a
/// crash between the two republishes it with the same id, the consumer's deduplication key.
///
/// **Order:** per key, also across failures, retries and restarts: a failing message holds back the later
/// messages of its key (with exponential backoff and jitter) while other keys go on; after
/// ``OutboxRelayConfiguration/maxAttempts``, or past its deliver-by deadline, it is dead-lettered and its
/// key moves on. ``OutboxRelayConfiguration/strictOrder`` makes the whole outbox one key.
///
/// **Outages:** when the sink reports itself unavailable (``PublishOutcome/unavailable(_:)``: not
/// connected, refused, no answer in time), no attempt is counted against any message. The relay stops
/// publishing, keeps reading what is appended (up to its memory bounds; the rest waits on disk), probes
/// the sink with ``OutboxSink/checkAvailability()`` with capped exponential backoff
/// (``OutboxRelayConfiguration/maxOutageBackoff``), and resumes at full speed once a probe and then a
/// batch succeed. Only deliver-by deadlines still apply. It logs one warning when the sink goes away, a
/// reminder at most every ``OutboxRelayConfiguration/outageReminderInterval``, and one notice when it is
/// back.
///
/// **Startup:** the sink is checked before the first message: a misconfigured sink makes ``run()``
/// throw at once; an unreachable one starts an outage. A path that is no outbox makes ``run()`` throw
/// ``OutboxError/Code/notAnOutbox``, unless ``OutboxRelayConfiguration/waitForOutbox``.
///
/// **One active relay per outbox:** the relay holds `relay.lock`; other relays wait as standbys and take
/// over within ``OutboxRelayConfiguration/standbyPollInterval`` of its death. Graceful shutdown finishes
/// the batch in flight.
public final class OutboxRelay: Service, Sendable {
    public let path: String
    /// The outbox, when the relay was given it opened; otherwise opened once at start from ``path``.
    private let opened: OpenedOutbox?
    /// The keys it opens an encrypted outbox with (FORMAT.md §10): its configuration's, else its writer's.
    private let keys: OutboxKeys?
    /// Where it publishes: one route per sink (one, taking every message, for a relay of one sink).
    let routes: [OutboxRoute]
    let configuration: OutboxRelayConfiguration
    let logger: Logger
    let signals: RelaySignals
    let metrics: RelayMetrics
    /// The in-process writer's durable mark (``Outbox/durableThrough``), if the writer is in this process.
    let writerDurableThrough: (@Sendable () -> UInt64)?
    /// The in-process writer's relays, which this one joins while it runs (the writer, run as a
    /// `Service`, closes after they finished).
    private let writerRelays: ActiveUsers?

    /// A relay for the outbox at `path`, publishing to `sink`. Nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - path: the outbox directory.
    ///   - sink: where messages go.
    ///   - configuration: how it publishes; ``run()`` refuses one that cannot work
    ///     (``OutboxRelayConfiguration/validated()``).
    ///   - outbox: the writer, when it lives in this process: its commits wake the relay directly.
    ///   - logger: where the relay logs (the library never bootstraps logging).
    public convenience init(path: String, sink: any OutboxSink, configuration: OutboxRelayConfiguration = .init(),
                            outbox: Outbox? = nil, logger: Logger = Logger(label: "outbox.relay")) {
        self.init(path: path, opened: nil, routes: [Self.onlyRoute(sink)], configuration: configuration, writer: outbox, logger: logger)
    }

    /// A relay for the outbox at `path`, publishing to several sinks, one per route (``OutboxRoute``):
    /// each route takes the messages its match takes, with progress of its own. Nothing runs until
    /// ``run()``, which refuses routes without a name, with a name twice, or none at all.
    ///
    /// - Parameters:
    ///   - path: the outbox directory.
    ///   - routes: where messages go.
    ///   - configuration: how it publishes (a route's own configuration takes its place for that route).
    ///   - outbox: the writer, when it lives in this process: its commits wake the relay directly.
    ///   - logger: where the relay logs (the library never bootstraps logging).
    public convenience init(path: String, routes: [OutboxRoute], configuration: OutboxRelayConfiguration = .init(),
                            outbox: Outbox? = nil, logger: Logger = Logger(label: "outbox.relay")) {
        self.init(path: path, opened: nil, routes: routes, configuration: configuration, writer: outbox, logger: logger)
    }

    /// The one route of a relay of one sink: every message.
    static func onlyRoute(_ sink: any OutboxSink) -> OutboxRoute { OutboxRoute(name: "default", sink: sink) }

    /// A relay for an outbox opened already (``OpenedOutbox``, or ``Outbox/opened`` of the writer in this
    /// process): its directory is not opened again, nor its identity looked up. Nothing runs until ``run()``.
    ///
    /// - Parameters:
    ///   - outbox: the outbox to publish from.
    ///   - sink: where messages go.
    ///   - configuration: how it publishes; ``run()`` refuses one that cannot work
    ///     (``OutboxRelayConfiguration/validated()``).
    ///   - writer: the writer, when it lives in this process: its commits wake the relay directly.
    ///   - logger: where the relay logs (the library never bootstraps logging).
    public convenience init(outbox: OpenedOutbox, sink: any OutboxSink, configuration: OutboxRelayConfiguration = .init(),
                            writer: Outbox? = nil, logger: Logger = Logger(label: "outbox.relay")) {
        self.init(path: outbox.path, opened: outbox, routes: [Self.onlyRoute(sink)], configuration: configuration, writer: writer,
                  logger: logger)
    }

    private init(path: String, opened: OpenedOutbox?, routes: [OutboxRoute], configuration: OutboxRelayConfiguration,
                 writer outbox: Outbox?, logger: Logger) {
        self.path = path
        self.opened = opened
        // Opened by path next to its writer: the writer's keys read what it encrypted.
        keys = configuration.keys ?? outbox?.opened.directory.keys
        self.routes = routes
        signals = RelaySignals(routes: routes.count)
        self.configuration = configuration
        self.logger = logger
        metrics = RelayMetrics(outbox: path)
        writerRelays = outbox?.relays
        if let outbox {
            writerDurableThrough = { @Sendable in outbox.durableThrough }
            let signals = self.signals
            outbox.onDurable { _ in signals.wakeAll() }
        } else {
            writerDurableThrough = nil
        }
        for (route, routeSignals) in zip(routes, signals.routes) {
            route.sink.observeAvailabilityChanges { change in routeSignals.sinkReported(change) }
        }
    }

    /// Whether this relay holds the relay lock and publishes (false while it waits as a standby).
    public var isActive: Bool {
        switch signals.status.get() {
        case .active, .misconfigured: true
        default: false
        }
    }

    /// What the relay is doing now: starting, standby, active (with the sink reachable or not), stopped.
    public var status: RelayStatus { signals.status.get() }

    /// Runs the relay until its task is cancelled or the service group shuts down gracefully.
    ///
    /// A relay given its writer (`outbox:`) finishes its batch in flight before that writer, run as a
    /// `Service`, closes: when the writer's shutdown comes first (the writer listed after the relay in
    /// the group), the relay finishes then, and returns at its own shutdown (or cancellation).
    ///
    /// Throws ``OutboxError/Code/invalidArgument`` at once for a configuration that cannot work
    /// (``OutboxRelayConfiguration/validated()``), and for a sink whose own check finds it misconfigured.
    public func run() async throws {
        _ = try configuration.validated()
        try validateRoutes()
        // The writer's service waits for this relay's last batch, and may ask for it.
        let stoppedByWriter = Shared(false)
        let token = writerRelays?.enter { [signals] in
            stoppedByWriter.set(true)
            signals.stopping.set(true)
            signals.wakeAll()
        }
        var left = false
        defer { if let token, !left { writerRelays?.leave(token) } }
        try await withTaskCancellationOrGracefulShutdownHandler {
            try await runUntilStopped()
        } onCancelOrGracefulShutdown: { [signals] in
            signals.stopping.set(true)
            signals.wakeAll()
        }
        if let token, stoppedByWriter.get() {
            // Its writer, shut down first in its service group, asked for its last batch and now closes:
            // the relay waits for its own turn, so that the group does not see a service end early.
            writerRelays?.leave(token)
            left = true
            try? await gracefulShutdown()
        }
    }

    private func runUntilStopped() async throws {
        defer { signals.status.set(.stopped) }
        // The sinks' configuration is checked before anything else: a misconfiguration is an error now,
        // not hours later when the first message arrives. An unreachable sink is an outage, not an error.
        var availability = try await checkSinksAtStart()
        guard let (tombstones, opened, waited) = try await acquire() else { return }
        signals.status.set(.active(sinkReachable: true))
        logger.notice("relay active", metadata: ["outbox": "\(path)", "sink": "\(routes.map(\.sink.displayName).joined(separator: ", "))"])
        if waited { availability = try await checkSinksAtStart() }
        let io = BlockingExecutor(name: "outbox-relay-io")
        let signals = self.signals
        let watcher = configuration.watchDirectory ? DirectoryWatcher(path: path, logger: logger) { signals.filesChanged($0) } : nil
        defer {
            watcher?.stop()
            io.finishQueued()  // every job was awaited: its thread ends without being waited for
        }
        do {
            let session = try await startSession(opened: opened, tombstones: tombstones, io: io, availability: availability,
                                                 watched: watcher != nil)
            try await session.run()
        } catch {
            try? await tombstones.close()
            logger.error("relay stopped on an error", metadata: ["outbox": "\(path)", "error": "\(error)"])
            throw error
        }
        try await tombstones.close()
        logger.notice("relay stopped", metadata: ["outbox": "\(path)"])
    }

    /// Every sink's startup check, in route order: a definite misconfiguration throws, naming the sink
    /// (and the route, when there are several).
    private func checkSinksAtStart() async throws -> [SinkAvailability] {
        var found: [SinkAvailability] = []
        for route in routes {
            do {
                found.append(try await route.sink.checkAvailability())
            } catch let e as OutboxError {
                var e = e
                e.message = (routes.count > 1 ? "route \(route.name): " : "") + "sink \(route.sink.displayName): \(e.message)"
                throw e
            }
        }
        return found
    }

    /// Opens the outbox (once: the directory and its identity serve the whole run) and takes the relay
    /// lock, waiting as a standby while another relay holds it (or, with
    /// ``OutboxRelayConfiguration/waitForOutbox``, while the outbox does not exist yet). Nil when stopped
    /// first; `waited` when it did not get the lock at once.
    private func acquire() async throws -> (TombstoneLog, OpenedOutbox, waited: Bool)? {
        var announced = false
        var outbox = opened
        while !signals.isStopping {
            do {
                let (path, logger, sys, onDamage, keys) = (self.path, self.logger, configuration.systemCalls, configuration.onDamage, keys)
                if outbox == nil { outbox = try await onDedicatedThread("outbox-relay-open") { try OpenedOutbox(path: path, sys: sys, keys: keys) } }
                guard let opened = outbox else { continue }
                let log = try await onDedicatedThread("outbox-relay-open") {
                    try TombstoneLog(opened, checkpointBytes: 1 << 20, logger: logger, onDamage: onDamage)
                }
                return (log, opened, announced)
            } catch let e as OutboxError where e.code == .locked || (e.code == .notAnOutbox && configuration.waitForOutbox) {
                if !announced {
                    signals.status.set(.standby)
                    logger.notice(e.code == .locked ? "relay waiting as a standby: another relay is active"
                                                    : "relay waiting as a standby: no outbox here yet",
                                  metadata: ["outbox": "\(path)", "reason": "\(e.message)"])
                    announced = true
                }
                await signals.wake.wait(for: configuration.standbyPollInterval)
            }
        }
        return nil
    }
}

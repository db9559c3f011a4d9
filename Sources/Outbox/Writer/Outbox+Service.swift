import ServiceLifecycle

extension Outbox: Service {
    /// Runs the outbox as a swift-service-lifecycle `Service`: it is open already (``open(at:configuration:logger:)``,
    /// so that the app's other services can append from the start), and this closes it on the group's
    /// graceful shutdown (or when the task is cancelled), after every relay of this process that was given
    /// it (`OutboxRelay(…, outbox:)`) has finished: each is asked to finish its batch in flight, tombstones
    /// included, and stop, whatever the group's order.
    ///
    /// ```swift
    /// let outbox = try await Outbox.open(at: path, logger: logger)
    /// let relay = OutboxRelay(path: path, sink: sink, outbox: outbox, logger: logger)
    /// let group = ServiceGroup(configuration: .init(services: [outbox, relay, app], gracefulShutdownSignals: [.sigterm], logger: logger))
    /// try await group.run()   // SIGTERM: app, then relay (its last batch), then the outbox closes
    /// ```
    ///
    /// Appends after that throw ``OutboxError/Code/closed``. Throws what ``close()`` throws.
    public func run() async throws {
        try? await gracefulShutdown()
        relays.stopAll()
        await relays.waitUntilEmpty()
        try await close()
    }
}

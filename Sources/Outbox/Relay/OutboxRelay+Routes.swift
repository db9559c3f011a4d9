extension OutboxRelay {
    /// Refuses routes that cannot work: none, a name that is not 1 to 64 letters, digits, `.`, `_` or `-`,
    /// a name twice, a route configuration that cannot work (``OutboxRelayConfiguration/validated()``).
    func validateRoutes() throws {
        guard !routes.isEmpty else { throw OutboxError(.invalidArgument, "a relay needs at least one route") }
        var names = Set<String>()
        for route in routes {
            if let problem = RouteTombstoneCodec.nameProblem(route.name) {
                throw OutboxError(.invalidArgument, "route \(route.name.debugDescription): \(problem)")
            }
            guard names.insert(route.name).inserted else { throw OutboxError(.invalidArgument, "route \(route.name) is named twice") }
            do { _ = try route.configuration?.validated() } catch var e as OutboxError {
                e.message = "route \(route.name): \(e.message)"
                throw e
            }
        }
    }

    /// The session of one active run: the tracker of what each route finished, the routes the outbox
    /// knows but the relay no longer has let go, new routes declared (from the oldest pending message,
    /// or from now), and one pipeline per route.
    func startSession(opened: OpenedOutbox, tombstones: TombstoneLog, io: BlockingExecutor, availability: [SinkAvailability],
                      watched: Bool) async throws -> RelaySession {
        let reader = OutboxReader(opened)
        let tracker = RouteTracker(routes: routes.map { RouteTracker.Route(name: $0.name, match: $0.match) }, snapshot: tombstones.snapshot)
        let env = RelayEnvironment(directory: opened.directory, outboxID: opened.id, tombstones: tombstones, io: io,
                                   configuration: configuration, logger: logger, metrics: metrics,
                                   writerDurableThrough: writerDurableThrough, tracker: tracker)
        try await declareRoutes(tombstones, reader: reader, io: io, tracker: tracker)
        let sessionRoutes = routes.enumerated().map { i, route in
            var configuration = route.configuration ?? self.configuration
            configuration.watchDirectory = self.configuration.watchDirectory
            configuration.systemCalls = self.configuration.systemCalls
            configuration.onDamage = self.configuration.onDamage
            let metrics = tracker.recordsRoutes ? RelayMetrics(outbox: path, route: route.name) : self.metrics
            return RelaySession.Route(env: env.route(route.name, match: route.match, configuration: configuration, metrics: metrics),
                                      sink: route.sink, availability: availability[i])
        }
        return try await RelaySession(env, routes: sessionRoutes, signals: signals, reader: reader, watched: watched)
    }

    /// Routes the outbox knows and the relay no longer has are let go (what only they took is then
    /// unrouted); routes new to it are declared (with several routes): from the oldest pending message,
    /// or from now.
    private func declareRoutes(_ tombstones: TombstoneLog, reader: OutboxReader, io: BlockingExecutor, tracker: RouteTracker) async throws {
        let known = tombstones.snapshot.routes
        let removed = known.keys.filter { name in !routes.contains { $0.name == name } }.sorted()
        if !removed.isEmpty {
            logger.notice("routes the relay no longer has are let go", metadata: ["routes": "\(removed.joined(separator: ", "))"])
            try await tombstones.forgetRoutes(removed)
            try await tombstones.compact(forceCheckpoint: true)  // their frames leave the file now
        }
        // A relay of one route keeps its progress as the outbox's: it declares nothing.
        for route in routes where known[route.name] == nil && tracker.recordsRoutes {
            let start = route.startsFromNow ? try await io.run { try reader.stats().lastSeq + 1 } : 1
            try await tombstones.declareRoute(route.name, startingAt: start)
            tracker.advance(route.name, to: start)
            logger.notice("new route", metadata: ["route": "\(route.name)", "match": "\(route.match)", "sink": "\(route.sink.displayName)",
                                                   "from": "\(start == 1 ? "the oldest pending message" : "sequence number \(start)")"])
        }
    }
}

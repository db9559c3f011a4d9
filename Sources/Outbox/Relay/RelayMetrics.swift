import Metrics

/// The relay's metrics, created once per relay and labelled with its outbox (`outbox="PATH"`), so that two
/// outboxes in one process never collide (swift-metrics; the application bootstraps the backend).
struct RelayMetrics: Sendable {
    let pending: Gauge
    let pendingBytes: Gauge
    let oldestPendingAge: Gauge
    let publishLatency: Metrics.Timer
    let commitToPublish: Metrics.Timer
    let published: Counter
    let failed: Counter
    let deadLettered: Counter
    /// Messages tombstoned as expired (past their deliver-by deadline, never published).
    let expired: Counter
    /// How many sequence numbers the writer has dropped to make room in the disk budget, as
    /// `dropped.log` says (the writer's process counts them in `outbox_dropped_total`).
    let dropped: Gauge
    /// 1 while the sink answers, 0 during an outage.
    let sinkAvailable: Gauge
    let outages: Counter
    /// How long the current outage has lasted (0 when there is none).
    let outageSeconds: Gauge
    /// When a batch was last published (Unix seconds).
    let lastPublish: Gauge
    /// Every byte the outbox keeps on disk (what its disk budget counts: segments, tombstones, dead letters,
    /// quarantine), as of the last sweep.
    let diskBytes: Gauge
    /// Messages no route of the relay takes (tombstoned as unrouted, never published).
    let unrouted: Counter
    /// Bytes a route with an uplink cap put on the wire (estimated: ``StoredMessage/wireBytes(framing:)``).
    let uplinkBytes: Counter
    /// A route's period budget (``OutboxRelayConfiguration/uplinkBudget``): spent so far, and when the
    /// period ends (Unix seconds).
    let uplinkBudgetSpent: Gauge
    let uplinkBudgetResets: Gauge

    /// The metrics of the relay of `path`; of one of its routes with `route` (`route="NAME"`).
    init(outbox path: String, route: String? = nil) {
        // What counts the whole outbox carries its label alone; what a route does, the route's too.
        let w = [("outbox", path)]
        let d = w + (route.map { [("route", $0)] } ?? [])
        pending = Gauge(label: "outbox_pending_messages", dimensions: w)
        pendingBytes = Gauge(label: "outbox_pending_held_bytes", dimensions: d)
        oldestPendingAge = Gauge(label: "outbox_oldest_pending_age_seconds", dimensions: w)
        publishLatency = Metrics.Timer(label: "outbox_publish_duration_seconds", dimensions: d)
        commitToPublish = Metrics.Timer(label: "outbox_commit_to_publish_latency_seconds", dimensions: d)
        published = Counter(label: "outbox_published_total", dimensions: d)
        failed = Counter(label: "outbox_publish_failures_total", dimensions: d)
        deadLettered = Counter(label: "outbox_dead_lettered_total", dimensions: d)
        expired = Counter(label: "outbox_expired_total", dimensions: d)
        dropped = Gauge(label: "outbox_dropped_messages", dimensions: w)
        sinkAvailable = Gauge(label: "outbox_sink_available", dimensions: d)
        outages = Counter(label: "outbox_sink_outages_total", dimensions: d)
        outageSeconds = Gauge(label: "outbox_sink_outage_seconds", dimensions: d)
        lastPublish = Gauge(label: "outbox_last_publish_timestamp_seconds", dimensions: d)
        diskBytes = Gauge(label: "outbox_disk_bytes", dimensions: w)
        unrouted = Counter(label: "outbox_unrouted_total", dimensions: w)
        uplinkBytes = Counter(label: "outbox_uplink_bytes_total", dimensions: d)
        uplinkBudgetSpent = Gauge(label: "outbox_uplink_budget_spent_bytes", dimensions: d)
        uplinkBudgetResets = Gauge(label: "outbox_uplink_budget_reset_timestamp_seconds", dimensions: d)
    }
}

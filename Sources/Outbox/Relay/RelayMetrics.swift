import Metrics

/// The relay's metrics, created once (swift-metrics; the application bootstraps the backend).
struct RelayMetrics: Sendable {
    let pending = Gauge(label: "outbox_pending_messages")
    let oldestPendingAge = Gauge(label: "outbox_oldest_pending_age_seconds")
    let publishLatency = Metrics.Timer(label: "outbox_publish_duration")
    let commitToPublish = Metrics.Timer(label: "outbox_commit_to_publish_latency")
    let published = Counter(label: "outbox_published_total")
    let failed = Counter(label: "outbox_publish_failures_total")
    let deadLettered = Counter(label: "outbox_dead_lettered_total")
    /// 1 while the sink answers, 0 during an outage.
    let sinkAvailable = Gauge(label: "outbox_sink_available")
    let outages = Counter(label: "outbox_sink_outages_total")
}

/// How one workload went: how many operations, how long in all, and the latency distribution.
package struct LatencySummary: Sendable {
    package var name: String
    /// Operations (commits for the fsync floor, messages otherwise).
    package var operations: Int
    package var elapsed: Duration
    /// Sorted latencies of the individual operations.
    package var latencies: [Duration]

    package init(name: String, operations: Int, elapsed: Duration, latencies: [Duration]) {
        self.name = name
        self.operations = operations
        self.elapsed = elapsed
        self.latencies = latencies.sorted()
    }

    package var perSecond: Double { Double(operations) / elapsed.seconds }
    package var p50: Duration { percentile(0.50) }
    package var p99: Duration { percentile(0.99) }

    package func percentile(_ q: Double) -> Duration { Self.percentile(latencies, q) }

    /// The `q` quantile (0...1) of `sorted`, or zero when it is empty.
    package static func percentile(_ sorted: [Duration], _ q: Double) -> Duration {
        guard !sorted.isEmpty else { return .zero }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }
}

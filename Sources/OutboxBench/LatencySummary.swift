/// How one workload went: how many operations, how long in all, and the latency distribution.
public struct LatencySummary: Sendable {
    public var name: String
    /// Operations (commits for the fsync floor, messages otherwise).
    public var operations: Int
    public var elapsed: Duration
    /// Sorted latencies of the individual operations.
    public var latencies: [Duration]

    public init(name: String, operations: Int, elapsed: Duration, latencies: [Duration]) {
        self.name = name
        self.operations = operations
        self.elapsed = elapsed
        self.latencies = latencies.sorted()
    }

    public var perSecond: Double { Double(operations) / elapsed.seconds }
    public var p50: Duration { percentile(0.50) }
    public var p99: Duration { percentile(0.99) }

    public func percentile(_ q: Double) -> Duration { Self.percentile(latencies, q) }

    /// The `q` quantile (0...1) of `sorted`, or zero when it is empty.
    public static func percentile(_ sorted: [Duration], _ q: Double) -> Duration {
        guard !sorted.isEmpty else { return .zero }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }
}

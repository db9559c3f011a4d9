/// One run of one workload: how much it did, how long it took, and what it cost the disk.
package struct BenchSample: Sendable {
    /// Messages (or commits, for a floor) done.
    package var operations: Int
    package var elapsed: Duration
    /// Sorted latencies of the individual operations (empty where they are not measured one by one).
    package var latencies: [Duration] = []
    /// `fdatasync` calls the workload made, where counted.
    package var fdatasyncs: Int?
    /// Bytes the disk's block device wrote during the workload, where the device says.
    package var deviceBytes: Int64?
    /// Payload bytes the workload stored.
    package var payloadBytes: Int64?
    /// False where the page cache could not be dropped before a cold measurement.
    package var cold: Bool?
    /// Other figures a scenario reports by name (its goals may judge them: ``Scenario/Goal``).
    package var figures: [String: Double] = [:]

    package init(operations: Int, elapsed: Duration, latencies: [Duration] = [], fdatasyncs: Int? = nil,
                 deviceBytes: Int64? = nil, payloadBytes: Int64? = nil) {
        self.operations = operations
        self.elapsed = elapsed
        self.latencies = latencies.sorted()
        self.fdatasyncs = fdatasyncs
        self.deviceBytes = deviceBytes
        self.payloadBytes = payloadBytes
    }

    package var perSecond: Double { Double(operations) / max(elapsed.seconds, 1e-9) }
    package var p50: Duration? { latencies.isEmpty ? nil : Self.percentile(latencies, 0.5) }
    package var p99: Duration? { latencies.isEmpty ? nil : Self.percentile(latencies, 0.99) }
    /// The `q` quantile (0...1) of `sorted`, or zero when it is empty.
    package static func percentile(_ sorted: [Duration], _ q: Double) -> Duration {
        guard !sorted.isEmpty else { return .zero }
        return sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))]
    }

    /// Operations per counted `fdatasync`.
    package var perSync: Double? { fdatasyncs.map { Double(operations) / Double(max($0, 1)) } }
    /// Device bytes written per payload byte stored.
    package var amplification: Double? {
        guard let deviceBytes, let payloadBytes, payloadBytes > 0 else { return nil }
        return Double(deviceBytes) / Double(payloadBytes)
    }

    /// The figure a scenario compares.
    package func value(_ metric: Scenario.Metric) -> Double {
        switch metric {
        case .rate, .bytesPerSecond: perSecond
        case .seconds: elapsed.seconds
        case .amplification: amplification ?? .nan
        }
    }
}

/// The middle, lowest and highest of several rounds' figures.
package struct Spread: Sendable {
    package var median: Double
    package var min: Double
    package var max: Double

    /// Nil for no finite values.
    package init?(_ values: [Double]) {
        let v = values.filter(\.isFinite).sorted()
        guard !v.isEmpty else { return nil }
        median = v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
        min = v[0]
        max = v[v.count - 1]
    }
}

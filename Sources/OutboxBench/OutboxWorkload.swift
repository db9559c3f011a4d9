import Foundation
import Logging
import Outbox

/// The outbox side: `producers` tasks appending one message per commit, as a service would; concurrent
/// appends share group commits.
enum OutboxWorkload {
    static func outboxPath(in directory: String) -> String { directory + "/outbox" }

    static func measure(in directory: String, messages: Int, producers: Int, payload: [UInt8], logger: Logger) async throws -> (LatencySummary, stored: Int) {
        let path = outboxPath(in: directory)
        let outbox = try await Outbox.open(at: path, logger: logger)
        let clock = ContinuousClock()
        let start = clock.now
        let perProducer = splitEvenly(messages, producers)
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for p in 0..<producers {
                group.addTask {
                    var mine: [Duration] = []
                    mine.reserveCapacity(perProducer[p])
                    for i in 0..<perProducer[p] {
                        let t = clock.now
                        try await outbox.append(OutboxMessage(type: "UserRegistered", key: "user-\((p * perProducer[p] + i) % 64)", payload: payload))
                        mine.append(clock.now - t)
                    }
                    return mine
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = clock.now - start
        try await outbox.close()
        let stored = Int(try OutboxReader(path: path).stats().pending)
        return (LatencySummary(name: "Outbox (group commit)", operations: messages, elapsed: elapsed, latencies: latencies), stored)
    }

    /// Drains the outbox at `path` (every message pending) with a relay publishing to a file sink
    /// (one `write` and one `fdatasync` per batch); the time until nothing is pending.
    static func drain(_ path: String, messages: Int, logger: Logger) async throws -> LatencySummary {
        let sinkPath = path + ".published.jsonl"
        var config = OutboxRelayConfiguration()
        config.batchSize = 500
        let relay = OutboxRelay(path: path, sink: try FileSink(path: sinkPath), configuration: config, logger: logger)
        let clock = ContinuousClock()
        let start = clock.now
        let task = Task { try await relay.run() }
        while try OutboxReader(path: path).stats().pending > 0 {
            try await Task.sleep(for: .milliseconds(2))
        }
        let elapsed = clock.now - start
        task.cancel()
        try await task.value
        return LatencySummary(name: "relay to a file sink (drain)", operations: messages, elapsed: elapsed, latencies: [])
    }
}

import ArgumentParser
import Foundation
import Logging
import Outbox
import OutboxBench

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The main job: producers append UserRegistered events while a relay publishes them to a file; then a summary.")

    @Option(help: "The outbox directory (default: a temporary one, removed afterwards).") var dir: String?
    @Option(parsing: .unconditional, help: "How many messages to append.") var messages: Int = 5000
    @Option(parsing: .unconditional, help: "How many concurrent producers.") var producers: Int = 8
    @Option(parsing: .unconditional, help: "Seconds to wait for the relay to publish everything.") var timeout: Double = 120
    @Option(parsing: .unconditional, help: "Seconds the sink is taken away once a third of the messages are appended (0: no outage).") var outage: Double = 3

    func validate() throws {
        guard messages >= 1, producers >= 1 else { throw ValidationError("--messages and --producers must be at least 1") }
        try RelayCommand.validateSeconds(timeout, "--timeout", allowZero: false)
        try RelayCommand.validateSeconds(outage, "--outage", allowZero: true)
    }

    func run() async throws {
        try await reportingErrors {
            let logger = CLILogging.logger("outbox.demo")
            let temporary = dir == nil ? FileManager.default.temporaryDirectory
                .appendingPathComponent("outbox-demo-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path : nil
            if let temporary { try FileManager.default.createDirectory(atPath: temporary, withIntermediateDirectories: true) }
            defer { if let temporary { try? FileManager.default.removeItem(atPath: temporary) } }
            let outboxPath = dir ?? temporary! + "/outbox"
            let sinkPath = (dir.map { URL(fileURLWithPath: $0).standardizedFileURL.path } ?? temporary! + "/outbox") + ".published.jsonl"
            try? FileManager.default.removeItem(atPath: sinkPath)

            print("outbox:    \(outboxPath)")
            print("sink:      \(sinkPath) (JSON Lines, fdatasynced per batch)")
            print("appending \(messages) UserRegistered events from \(producers) producers; a relay publishes them as they commit")

            let outbox = try await Outbox.open(at: outboxPath, logger: logger)
            let timings = PublishTimings()
            let sink = OutageSink(inner: TimingSink(inner: try FileSink(path: sinkPath), timings: timings))
            var relayConfig = OutboxRelayConfiguration()
            relayConfig.minimumAge = .seconds(5)
            relayConfig.sweepInterval = .seconds(5)
            relayConfig.maxOutageBackoff = .milliseconds(500)
            relayConfig.maxAttempts = 1  // an outage counts no attempt: even one is enough
            let relay = OutboxRelay(path: outboxPath, sink: sink, configuration: relayConfig, outbox: outbox, logger: logger)
            let relayTask = Task { try await relay.run() }

            let total = messages, producerCount = producers
            let started = ContinuousClock.now
            // The uplink goes away once a third is appended, for `outage` seconds, while producers go on.
            let outageLength = Duration.milliseconds(Int64(outage * 1000))
            let outageTask = Task { () -> (Int, Duration)? in
                guard outageLength > .zero else { return nil }
                while timings.committedCount < max(1, total / 3) { try await Task.sleep(for: .milliseconds(1)) }
                print("  the sink goes away for \(String(format: "%.1f", outageLength.seconds)) s (after \(timings.committedCount) appended)")
                let published = timings.publishedCount
                sink.takeDown()
                try await Task.sleep(for: outageLength)
                sink.bringBack()
                print("  the sink is back")
                return (published, outageLength)
            }
            let progress = Task {
                while !Task.isCancelled {
                    try await Task.sleep(for: .milliseconds(500))
                    print("  appended \(timings.committedCount), published \(timings.publishedCount)")
                }
            }
            let appended = try await withThrowingTaskGroup(of: [(UInt64, MessageID)].self) { group in
                for p in 0..<producerCount {
                    group.addTask {
                        var mine: [(UInt64, MessageID)] = []
                        var i = p
                        while i < total {
                            let user = "user-\(i)"
                            // The id is set here (not at append) so that the demo can look for it at the sink.
                            let m = OutboxMessage(
                                id: .v7(), type: "UserRegistered", key: "tenant-\(i % 50)", headers: [.init("source", "outbox-demo")],
                                payload: Array("{\"userId\":\"\(user)\",\"email\":\"\(user)@example.com\"}".utf8))
                            let t0 = ContinuousClock.now
                            let seq = try await outbox.append(m)
                            let t1 = ContinuousClock.now
                            timings.committed(seq, at: t1, latency: t1 - t0)
                            mine.append((seq, m.id))
                            i += producerCount
                        }
                        return mine
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
            let appendSeconds = (ContinuousClock.now - started).seconds
            print("  appended \(appended.count) in \(String(format: "%.2f", appendSeconds)) s; waiting for the relay")

            let deadline = ContinuousClock.now + .milliseconds(Int64(timeout * 1000))
            while timings.publishedCount < total && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            let outageDone = try await outageTask.value
            progress.cancel()
            relayTask.cancel()
            _ = try? await relayTask.value
            try await outbox.close()

            // Check the sink file against what was appended.
            let text = (try? String(contentsOfFile: sinkPath, encoding: .utf8)) ?? ""
            var seen = [String: Int]()
            for line in text.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let id = object["id"] as? String else { continue }
                seen[id, default: 0] += 1
            }
            let ids = Set(appended.map { $0.1.description })
            let lost = ids.subtracting(seen.keys).count
            let duplicates = seen.values.reduce(0) { $0 + max(0, $1 - 1) }
            let stats = try OutboxReader(path: outboxPath).stats()
            let commit = timings.commitLatencies()
            let endToEnd = timings.commitToPublishLatencies()
            print("""

                summary
                  appended:                 \(appended.count)
                  published:                \(seen.count) distinct ids in the sink file
                  lost:                     \(lost)
                  duplicates:               \(duplicates)
                  pending in the outbox:    \(stats.pending)
                  dead-lettered:            \(stats.dead)
                  sink outage:              \(outageDone.map { String(format: "%.1f s, waited out (%d batch(es) and %d probe(s) refused, no attempt counted)", $0.1.seconds, sink.refused.batches, sink.refused.probes) } ?? "none")
                  commit latency:           p50 \(ms(commit, 0.50))  p99 \(ms(commit, 0.99))
                  commit-to-publish:        p50 \(ms(endToEnd, 0.50))  p99 \(ms(endToEnd, 0.99))
                  throughput:               \(Int(Double(appended.count) / max(appendSeconds, 1e-9))) appends/s
                """)
            if lost != 0 || duplicates != 0 || stats.dead != 0 { throw ExitCode(ExitStatus.found) }
        }
    }

    private func ms(_ sorted: [Duration], _ q: Double) -> String {
        sorted.isEmpty ? "-" : String(format: "%.2f ms", BenchSample.percentile(sorted, q).milliseconds)
    }
}

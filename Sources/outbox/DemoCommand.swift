import ArgumentParser
import Foundation
import Logging
import Outbox
import OutboxBench
import ServiceLifecycle

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The main job: producers append UserRegistered events while a relay publishes them to a file; then a summary. SIGTERM or SIGINT stops it early, the relay's batch in flight finished.")

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
            let app = DemoProducers(outbox: outbox, messages: messages, producers: producers, timeout: .milliseconds(Int64(timeout * 1000)),
                                    outage: .milliseconds(Int64(outage * 1000)), sink: sink, timings: timings)
            // The outbox, its relay and the app in one group, as a service embeds them: when the app is
            // done (or on SIGTERM or SIGINT) the group shuts them down in reverse order, so the relay
            // finishes its batch in flight before the outbox closes.
            let group = ServiceGroup(configuration: .init(
                services: [.init(service: outbox), .init(service: relay),
                           .init(service: app, successTerminationBehavior: .gracefullyShutdownGroup)],
                gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            try await group.run()
            let report = app.report

            // Check the sink file against what was appended: each appended message is in it once, or
            // still pending in the outbox (after a shutdown signal).
            let text = (try? String(contentsOfFile: sinkPath, encoding: .utf8)) ?? ""
            var seen = [String: Int]()
            for line in text.split(separator: "\n") {
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let id = object["id"] as? String else { continue }
                seen[id, default: 0] += 1
            }
            let reader = try OutboxReader(path: outboxPath)
            let pending = Set(try reader.pendingMessages().map(\.message.id.description))
            let ids = Set(report.appended.map(\.id.description))
            let lost = ids.subtracting(seen.keys).subtracting(pending).count
            let duplicates = seen.values.reduce(0) { $0 + max(0, $1 - 1) }
            let stats = try reader.stats()
            let commit = timings.commitLatencies()
            let endToEnd = timings.commitToPublishLatencies()
            let appended = report.appended
            print("""

                summary
                  appended:                 \(appended.count)
                  published:                \(seen.count) distinct ids in the sink file
                  lost:                     \(lost)
                  duplicates:               \(duplicates)
                  pending in the outbox:    \(stats.pending)\(stats.pending == 0 ? "" : report.stoppedBySignal ? " (stopped by a signal: the next relay publishes them)" : " (not published within --timeout)")
                  dead-lettered:            \(stats.dead)
                  sink outage:              \(report.outage.map { String(format: "%.1f s, waited out (%d batch(es) and %d probe(s) refused, no attempt counted)", $0.length.seconds, sink.refused.batches, sink.refused.probes) } ?? "none")
                  commit latency:           p50 \(ms(commit, 0.50))  p99 \(ms(commit, 0.99))
                  commit-to-publish:        p50 \(ms(endToEnd, 0.50))  p99 \(ms(endToEnd, 0.99))
                  throughput:               \(Int(Double(appended.count) / max(report.appendSeconds, 1e-9))) appends/s
                """)
            if lost != 0 || duplicates != 0 || stats.dead != 0 || (stats.pending != 0 && !report.stoppedBySignal) { throw ExitCode(ExitStatus.found) }
        }
    }

    private func ms(_ sorted: [Duration], _ q: Double) -> String {
        sorted.isEmpty ? "-" : String(format: "%.2f ms", BenchSample.percentile(sorted, q).milliseconds)
    }
}

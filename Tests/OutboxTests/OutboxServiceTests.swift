import Foundation
import Logging
import ServiceLifecycle
import Testing
@testable import Outbox

/// A sink that holds each batch until the test lets it go, recording what it published.
final class HeldSink: OutboxSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _published: [StoredMessage] = []
    private var _held = 0
    private var open = false

    var published: [StoredMessage] { lock.withLock { _published } }
    /// Batches the sink is holding now.
    var held: Int { lock.withLock { _held } }
    func letGo() { lock.withLock { open = true } }

    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        lock.withLock { _held += 1 }
        while !lock.withLock({ open }) { try? await Task.sleep(for: .milliseconds(1)) }
        lock.withLock {
            _held -= 1
            _published += batch
        }
        return batch.map { _ in .published }
    }
}

/// The app's part of the group: appends typed events until the group shuts down.
struct Producer: Service {
    let outbox: Outbox
    let appended: Shared<[MessageID]>

    func run() async throws {
        var i = 0
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let seq = try await outbox.append(OrderPlaced(orderID: "o-\(i % 9)", cents: i, placedAt: Date(timeIntervalSince1970: 1_780_000_000)))
            if let stored = try OutboxReader(path: outbox.path).messages(from: seq, limit: 1).first { appended.mutate { $0.append(stored.message.id) } }
            i += 1
            try? await Task.sleep(for: .milliseconds(2))
        }
    }
}

@Suite("The outbox as a Service", .serialized)
struct OutboxServiceTests {
    /// The outbox, a relay and an app that appends, in one ServiceGroup: the group's shutdown signal
    /// (SIGUSR2 here, so that the test runner's own SIGTERM handling is not touched; the demo's test in
    /// ProcessTests sends a process running the same group a real SIGTERM) arrives while a
    /// batch is in flight. The app stops, the relay finishes that batch (published and tombstoned), the
    /// outbox closes (its lock released); on restart every appended message is published once, none twice.
    @Test func aShutdownSignalDrainsTheBatchInFlightAndClosesCleanly() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let logger = quietLogger
        let outbox = try await Outbox.open(at: dir, configuration: configuration(), logger: logger)
        let sink = HeldSink()
        var c = relayConfiguration()
        c.batchSize = 20
        let relay = OutboxRelay(path: dir, sink: sink, configuration: c, outbox: outbox, logger: logger)
        let appended = Shared<[MessageID]>([])
        let group = ServiceGroup(configuration: .init(services: [outbox, relay, Producer(outbox: outbox, appended: appended)],
                                                      gracefulShutdownSignals: [.sigusr2], logger: logger))
        let groupTask = Task { try await group.run() }
        try await eventually("a batch in flight") { sink.held == 1 && appended.get().count >= 30 }
        kill(getpid(), SIGUSR2)
        // The producer stops; the relay waits for its batch; the outbox waits for the relay.
        try await eventually("the producer stopped") {
            let n = appended.get().count
            try await Task.sleep(for: .milliseconds(50))
            return appended.get().count == n
        }
        #expect(outbox.relays.count == 1, "the relay is still finishing its batch")
        sink.letGo()
        try await groupTask.value
        #expect(outbox.relays.count == 0)
        await #expect { try await outbox.append(OutboxMessage(type: "Late", payload: [])) } throws: { ($0 as? OutboxError)?.code == .closed }
        let firstBatch = sink.published.map(\.message.id)
        #expect(!firstBatch.isEmpty, "the batch in flight was published")
        let finished = try OutboxReader(path: dir).tombstones().finished
        #expect(sink.published.allSatisfy { finished.contains($0.seq) }, "and tombstoned before the outbox closed")

        // Restart: the rest is published, each message once.
        let again = try await Outbox.open(at: dir, configuration: configuration(), logger: logger)
        let rest = HeldSink()
        rest.letGo()
        let second = OutboxRelay(path: dir, sink: rest, configuration: relayConfiguration(), outbox: again, logger: logger)
        try await running(second) {
            try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
        }
        try await again.close()
        let all = firstBatch + rest.published.map(\.message.id)
        #expect(Set(all).count == all.count, "nothing published twice")
        #expect(Set(all) == Set(appended.get()), "every appended message published: \(Set(appended.get()).subtracting(all).count) missing")
    }

    /// Run alone (the relay listed before it, or none at all), the outbox still closes after its relays.
    @Test func theOutboxWaitsForItsRelaysWhateverTheOrder() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger)
        for i in 0..<50 { try await outbox.append(sampleMessage(i)) }
        let sink = HeldSink()
        let relay = OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)
        let group = ServiceGroup(configuration: .init(services: [relay, outbox], logger: quietLogger))
        let groupTask = Task { try await group.run() }
        try await eventually("a batch in flight") { sink.held == 1 }
        await group.triggerGracefulShutdown()
        try await Task.sleep(for: .milliseconds(100))
        #expect(outbox.relays.count == 1, "the outbox, shut down first, waits for the relay")
        #expect(try await outbox.append(sampleMessage(50)) == 51, "and is not closed yet")
        sink.letGo()
        try await groupTask.value
        let finished = try OutboxReader(path: dir).tombstones().finished
        #expect(!sink.published.isEmpty && sink.published.allSatisfy { finished.contains($0.seq) })
        // The lock is free: the outbox opens again.
        try await Outbox.open(at: dir, configuration: configuration(), logger: quietLogger).close()
    }
}

import Foundation
import Outbox
import OutboxTesting
import Testing

/// The test product an app tests its own outbox use with, used as an app would (public API only).
@Suite("The OutboxTesting product")
struct OutboxTestingTests {
    /// Typed events appended, a relay run to completion into an in-memory sink: what it recorded decodes
    /// back, in order per key; a message the sink fails once is retried; the relay has stopped after.
    @Test func anAppTestsItsOutboxUseWithoutABroker() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-testing-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outbox = try await Outbox.open(at: dir)
        let orders = (1...20).map { OrderPlaced(orderID: "o-\($0 % 4)", cents: $0, placedAt: Date(timeIntervalSince1970: 1_780_000_000)) }
        try await outbox.append(contentsOf: orders)
        let sink = InMemorySink { m, attempt in m.seq == 3 && attempt == 1 ? .failed("once") : .published }
        var config = OutboxRelayConfiguration()
        config.initialBackoff = .milliseconds(1)
        let relay = OutboxRelay(path: dir, sink: sink, configuration: config, outbox: outbox)
        try await relay.runUntilDrained()
        #expect(relay.status == .stopped)
        #expect(Set(try sink.published.map { try $0.decode(as: OrderPlaced.self).cents }) == Set(1...20))
        #expect(sink.attempts(3) == 2)
        for key in Set(orders.map(\.orderID)) {
            let cents = try sink.published.filter { $0.message.key == key }.map { try $0.decode(as: OrderPlaced.self).cents }
            #expect(cents == cents.sorted(), "key \(key) in order")
        }
        try await outbox.close()
    }

    /// A relay that cannot drain says so when the time is up, with what is still pending.
    @Test func aRelayThatCannotDrainTimesOutNamingWhatIsLeft() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outbox-testing-\(UUID())").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let outbox = try await Outbox.open(at: dir)
        try await outbox.append(OutboxMessage(type: "T", payload: [1]))
        let relay = OutboxRelay(path: dir, sink: InMemorySink { _, _ in .unavailable("down") }, outbox: outbox)
        await #expect { try await relay.runUntilDrained(timeout: .milliseconds(300)) } throws: {
            ($0 as? OutboxError)?.message.contains("1 message(s) still pending") == true
        }
        try await outbox.close()
    }
}

import Foundation
import Outbox
import OutboxBrokerTestSupport
import Testing

/// Issue 9's done-when with NATS: `outbox relay --max-attempts 2` while producers append from other
/// processes and nats-server is stopped for a minute (``BrokerOutage``), also with the relay killed in
/// the middle of the outage. The stream must then hold every message exactly once, in key order.
@Suite("outbox relay through a NATS outage")
struct NATSOutageTests {
    @Test(arguments: [false, true])
    func theToolWaitsOutAServerOutageAndStoresEveryMessageOnce(killRelayMidOutage: Bool) async throws {
        let server = try await onOwnThread { try NATSServer() }
        let names = uniqueStream(killRelayMidOutage ? "outkill" : "out")
        let tmp = TemporaryDirectory()
        var scenario = BrokerOutage(sinkSpec: "\(server.url)?stream=\(names.stream)&subject=\(names.subject)&create-stream=true")
        scenario.killRelayMidOutage = killRelayMidOutage
        let result = try await scenario.run(in: tmp.sub("ob"), takeDown: { server.broker.kill() }, bringBack: { try server.broker.start() })
        #expect(result.drainSeconds <= 30, "published within 30 s of the server's return (took \(result.drainSeconds) s)")
        let probe = try JetStreamProbe(url: server.url)
        let stored = try await onOwnThread { probe.messages(names.stream) }
        #expect(stored.count == result.appended, "each message stored exactly once (\(stored.count) for \(result.appended))")
        #expect(Set(stored.compactMap(\.seq)) == Set(1...UInt64(result.appended)))
        #expect(perKeyOrderHolds(stored.map { ($0.headers["Outbox-Key"], $0.seq ?? 0) }), "per-key order in the stream")
    }
}

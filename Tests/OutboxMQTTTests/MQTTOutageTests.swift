import Foundation
import Outbox
import OutboxBrokerTestSupport
import Testing

/// Issue 9's done-when with MQTT: `outbox relay --max-attempts 2` while producers append from other
/// processes and mosquitto is stopped for a minute (``BrokerOutage``). A persistent subscriber must then
/// have every message (at least once: MQTT brokers do not deduplicate), the first copies in key order.
@Suite("outbox relay through an MQTT outage")
struct MQTTOutageTests {
    @Test func theToolWaitsOutABrokerOutageAndDeliversEveryMessage() async throws {
        let broker = try await onOwnThread { try MosquittoBroker() }
        let topic = uniqueTopic("cliout")
        let probe = try await onOwnThread {
            try MQTTProbe(url: broker.url, filter: topic.replacingOccurrences(of: "{type}", with: "+"), persistentSession: true)
        }
        let tmp = TemporaryDirectory()
        let scenario = BrokerOutage(sinkSpec: "\(broker.url)?topic=\(topic)&qos=1")
        let result = try await scenario.run(in: tmp.sub("ob"), takeDown: { broker.broker.kill() }, bringBack: { try broker.broker.start() })
        #expect(result.drainSeconds <= 30, "published soon after the broker's return (took \(result.drainSeconds) s)")
        let all = Set(1...UInt64(result.appended))
        do {
            try await eventually("the subscriber has every message", timeout: .seconds(30)) { Set(probe.received.compactMap(\.seq)) == all }
        } catch {
            let missing = all.subtracting(probe.received.compactMap(\.seq)).sorted()
            Issue.record("\(missing.count) missing at the subscriber: \(missing.prefix(20))... \(probe.received.count) received")
            throw error
        }
        #expect(perKeyOrderHolds(probe.received.map { ($0.properties["outbox-key"], $0.seq ?? 0) }), "per-key order at the subscriber")
    }
}

import CRdKafka
import Foundation
import Outbox
@testable import OutboxKafka
import Testing

@Suite("Kafka sink (librdkafka mock cluster)")
struct KafkaSinkTests {
    private func sink(_ bootstrap: String, topic: String, _ properties: [String: String] = [:]) -> KafkaSink {
        var config = KafkaSinkConfiguration(bootstrapServers: bootstrap)
        config.topic = topic
        config.publishTimeout = .seconds(5)
        config.properties = properties
        return KafkaSink(configuration: config, logger: quietLogger)
    }

    @Test func aRelayPublishesEveryMessageOnceKeyedByItsOrderingKey() async throws {
        let cluster = try MockKafkaCluster()
        cluster.createTopic("orders.OrderPlaced", partitions: 4)
        let sent = try await appendAndRelay(sampleEvents(300, keys: 9, types: ["OrderPlaced"]),
                                            to: sink(cluster.bootstrapServers, topic: "orders.{type}"), timeout: .seconds(60))
        let records = try await onOwnThread { try consumeAll(cluster.bootstrapServers, topic: "orders.OrderPlaced", partitions: 4) }
        #expect(records.count == 300, "each message stored once")
        #expect(Set(records.compactMap(\.seq)) == Set(1...300))
        #expect(Set(records.map(\.partition)).count > 1, "keys spread over partitions")
        #expect(perKeyOrderHolds(records.map { ($0.key, $0.seq ?? 0) }), "per-key order within each partition")
        for r in records {
            let original = try #require(sent[r.seq ?? 0])
            #expect(r.key == original.key, "the record key is the ordering key")
            #expect(r.headers["outbox-id"] == original.id.description)
            #expect(r.headers["tenant"] == original.headers[0].value)
            #expect(r.value == original.payload)
        }
        let partitionsOfKey = Dictionary(grouping: records, by: \.key).mapValues { Set($0.map(\.partition)) }
        #expect(partitionsOfKey.values.allSatisfy { $0.count == 1 }, "one key, one partition")
    }

    @Test func retriableBrokerErrorsAreRetriedWithoutDuplicates() async throws {
        let cluster = try MockKafkaCluster()
        cluster.createTopic("retry.OrderPlaced", partitions: 2)
        cluster.failProduceRequests(Array(repeating: RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, count: 6))
        _ = try await appendAndRelay(sampleEvents(120, keys: 4, types: ["OrderPlaced"]),
                                     to: sink(cluster.bootstrapServers, topic: "retry.{type}"), timeout: .seconds(60))
        let records = try await onOwnThread { try consumeAll(cluster.bootstrapServers, topic: "retry.OrderPlaced", partitions: 2) }
        #expect(records.compactMap(\.seq).sorted() == Array(1...120), "every message exactly once (idempotent producer)")
        #expect(perKeyOrderHolds(records.map { ($0.key, $0.seq ?? 0) }))
    }

    @Test func aMessageTooLargeIsRejectedAndHoldsBackOnlyItsKey() async throws {
        let cluster = try MockKafkaCluster()
        cluster.createTopic("big.TestEvent", partitions: 1)
        let sink = sink(cluster.bootstrapServers, topic: "big.{type}", ["message.max.bytes": "2000"])
        let outcomes = await sink.publish([
            stored(1, key: "a", payload: Array(repeating: 7, count: 5000)),
            stored(2, key: "a"),
            stored(3, key: "b"),
        ])
        guard case .rejected(let why) = outcomes[0] else { Issue.record("\(outcomes[0])"); return }
        #expect(why.contains("Kafka"))
        guard case .failed = outcomes[1] else { Issue.record("message 2 follows a failed message of its key: \(outcomes[1])"); return }
        #expect(outcomes[2] == .published)
    }

    /// Issue 25, item 4: librdkafka's word that every broker is down reaches an idle relay at once (its
    /// error callback, served between publishes), not at the next publish.
    @Test func anIdleRelayShowsEveryBrokerDownAtOnce() async throws {
        let cluster = try MockKafkaCluster()
        cluster.createTopic("idle.E", partitions: 1)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        var relayConfig = brokerRelayConfiguration()
        relayConfig.sweepInterval = .seconds(3600)
        relayConfig.maxOutageBackoff = .seconds(3600)  // only the sink's own word can end or begin the outage quickly
        let relay = OutboxRelay(path: dir, sink: sink(cluster.bootstrapServers, topic: "idle.{type}"), configuration: relayConfig,
                                outbox: outbox, logger: quietLogger)
        let task = Task { try await relay.run() }
        try await outbox.append(OutboxMessage(type: "E", key: "k", payload: [1]))
        // Alone this takes seconds; in a full-suite run on 2 cores it once took more than 30 s. A relay that
        // stopped shows its error here instead of a timeout.
        try await eventually("published", timeout: .seconds(120)) {
            if relay.status == .stopped { try await task.value }
            return try OutboxReader(path: dir).stats().pending == 0
        }
        #expect(relay.status == .active(sinkReachable: true))
        cluster.setBrokers(up: false, count: 3)
        // Without the sink's word, the relay would see it only at its next probe, an hour away.
        try await eventually("the idle relay shows the brokers gone", timeout: .seconds(60)) { relay.status == .active(sinkReachable: false) }
        task.cancel()
        try await task.value
        try await outbox.close()
    }

    @Test func anUnreachableBrokerMakesTheSinkUnavailableNotTheMessagesFailed() async throws {
        let port = try freeLoopbackPort()
        var config = KafkaSinkConfiguration(bootstrapServers: "127.0.0.1:\(port)")
        config.publishTimeout = .seconds(1)
        let sink = KafkaSink(configuration: config, logger: quietLogger)
        let outcomes = await sink.publish([stored(1, key: "a"), stored(2, key: nil)])
        #expect(outcomes.count == 2)
        for o in outcomes {
            guard case .unavailable(let why) = o else { Issue.record("expected the sink to be unavailable, got \(o)"); continue }
            #expect(why.contains("Kafka"), "\(why)")
        }
        await #expect(throws: OutboxError.self) { try await sink.connect() }
        guard case .unavailable = try await sink.checkAvailability() else {
            Issue.record("an unreachable broker is an outage, not a misconfiguration")
            return
        }
    }

    /// librdkafka reconnects without saying so, so during an outage the sink's ``ReconnectWatcher`` tries
    /// ``KafkaHandshake`` (the watcher's logic is tested on its own; the Tansu outage test runs it whole).
    /// Its two answers: silence where nothing listens, an answer from a broker. (The mock cluster's
    /// "broker down" still accepts new connections, so it cannot stand for a broker that is away.)
    @Test func theOutageHandshakeAnswersOnlyWhenABrokerDoes() async throws {
        let port = try freeLoopbackPort()
        let away = try await onOwnThread {
            let h = KafkaHandshake(configuration: KafkaSinkConfiguration(bootstrapServers: "127.0.0.1:\(port)"))
            defer { h.close() }
            return [h.attempt(timeout: .milliseconds(500)), h.attempt(timeout: .milliseconds(500))]
        }
        #expect(away == [false, false], "nothing listens: no answer")
        let cluster = try MockKafkaCluster(brokers: 1)
        let back = try await onOwnThread {
            let h = KafkaHandshake(configuration: KafkaSinkConfiguration(bootstrapServers: cluster.bootstrapServers))
            defer { h.close() }
            return h.attempt(timeout: .seconds(5))
        }
        #expect(back, "a broker answers")
        let sink = KafkaSink(configuration: KafkaSinkConfiguration(bootstrapServers: "127.0.0.1:\(port)"), logger: quietLogger)
        #expect(sink.hasReconnectWatcher, "the Kafka sink watches for the broker's return during an outage")
    }

    @Test func theSinkSpecOfTheToolParses() throws {
        let c = try KafkaSinkConfiguration(parsing: "kafka://k1:9092,k2:9092?topic=orders.{key}")
        #expect(c.bootstrapServers == "k1:9092,k2:9092" && c.topic == "orders.{key}")
        #expect(c.topic(for: stored(1, key: "a/b c")) == "orders.a_b_c")
        #expect(throws: OutboxError.self) { try KafkaSinkConfiguration(parsing: "kafka://") }
        #expect(throws: OutboxError.self, "not a librdkafka property") { try KafkaSinkConfiguration(parsing: "kafka://k:1?partition=3") }
        let secure = try KafkaSinkConfiguration(parsing: "kafka://k:9093?security.protocol=ssl&ssl.ca.location=/etc/ca.pem")
        #expect(secure.properties == ["security.protocol": "ssl", "ssl.ca.location": "/etc/ca.pem"])
    }
}

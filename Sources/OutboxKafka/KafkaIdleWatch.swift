import CRdKafka
import Foundation
import Outbox
import Synchronization

/// Serves a Kafka producer's events while the sink is idle, so that librdkafka's word that every broker
/// is down (`RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN`, through its error callback) reaches the relay at once,
/// not at the next publish. librdkafka calls its callbacks only from `rd_kafka_poll`, which the sink
/// calls while it publishes; between publishes this thread polls, about every 200 ms, never while a
/// round is being published (``whilePublishing(_:)``), and never after ``stop()`` returned.
final class KafkaIdleWatch: @unchecked Sendable {
    private let producer: OpaquePointer
    private let condition = NSCondition()
    private var stopping = false
    private var running = true
    private var publishing = false

    /// Starts polling `producer`, whose error callback reports to `observer`.
    init(producer: OpaquePointer, observer: AvailabilityObserver) {
        self.producer = producer
        KafkaErrorTargets.register(producer, observer)
        let thread = Thread { [self] in loop() }
        thread.name = "outbox-kafka-idle"
        thread.start()
    }

    /// Runs one publish round (the sink's own polling serves its delivery reports meanwhile).
    func whilePublishing<T>(_ body: () -> T) -> T {
        condition.lock()
        publishing = true
        condition.unlock()
        defer {
            condition.lock()
            publishing = false
            condition.unlock()
        }
        return body()
    }

    /// Stops polling and waits until the thread polls no more (before the producer is destroyed).
    func stop() {
        KafkaErrorTargets.remove(producer)
        condition.lock()
        stopping = true
        condition.broadcast()
        while running { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while !stopping {
            if !publishing {
                // Polled under the lock: a round does not start, and stop() does not return, meanwhile.
                rd_kafka_poll(producer, 0)
            }
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.2))
        }
        running = false
        condition.broadcast()
        condition.unlock()
    }
}

/// The observers librdkafka's error callback reports to, by producer handle: the callback gets the
/// handle, and finds an observer only while its producer is registered.
enum KafkaErrorTargets {
    private static let targets = Mutex<[Int: AvailabilityObserver]>([:])

    static func register(_ producer: OpaquePointer, _ observer: AvailabilityObserver) {
        targets.withLock { $0[Int(bitPattern: UnsafeRawPointer(producer))] = observer }
    }

    static func remove(_ producer: OpaquePointer) {
        _ = targets.withLock { $0.removeValue(forKey: Int(bitPattern: UnsafeRawPointer(producer))) }
    }

    static func observer(_ producer: OpaquePointer?) -> AvailabilityObserver? {
        guard let producer else { return nil }
        return targets.withLock { $0[Int(bitPattern: UnsafeRawPointer(producer))] }
    }
}

/// librdkafka's error callback: every broker down is the sink's outage, reported at once.
let kafkaError: @convention(c) (OpaquePointer?, Int32, UnsafePointer<CChar>?, UnsafeMutableRawPointer?) -> Void = { rk, err, reason, _ in
    guard err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN.rawValue else { return }
    let why = reason.map { String(cString: $0) } ?? "all brokers are down"
    KafkaErrorTargets.observer(rk)?.notify(.unavailable("Kafka: \(why)"))
}

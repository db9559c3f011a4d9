import Foundation
import Outbox
import OutboxTestSupport

/// Which messages each of the three routes of ``ThreeBrokerRoutesTests`` takes: `cloud` (NATS) the
/// alarms, `hub` (MQTT) the telemetry, `audit` (a file) those with an `audit` header, about half of
/// either. Every message is taken by one route or two.
struct RouteShares {
    var cloud = Set<UInt64>()
    var hub = Set<UInt64>()
    var audit = Set<UInt64>()
    var appended = 0

    /// A message for 100 keys, an alarm or telemetry, audited or not, at random.
    static func message(using g: inout SeededGenerator) -> OutboxMessage {
        let key = "k\(g.next() % 100)"
        let alarm = g.next() % 2 == 0
        let headers = g.next() % 2 == 0 ? [OutboxMessage.Header("audit", "yes")] : []
        let payload = Array(#"{"reading":\#(g.next() % 10_000),"unit":"mV","note":"three routes over real brokers"}"#.utf8)
        return OutboxMessage(type: alarm ? "AlarmRaised" : "TelemetryReading", key: key, headers: headers, payload: payload)
    }

    /// Records `messages`, appended at `seqs`, and returns the numbers each route takes of them.
    mutating func add(_ messages: [OutboxMessage], at seqs: ClosedRange<UInt64>) -> RouteShares {
        var share = RouteShares()
        for (message, seq) in zip(messages, seqs) {
            if message.type.hasPrefix("Alarm") { share.cloud.insert(seq) } else { share.hub.insert(seq) }
            if message.headers.contains(where: { $0.name == "audit" }) { share.audit.insert(seq) }
        }
        cloud.formUnion(share.cloud)
        hub.formUnion(share.hub)
        audit.formUnion(share.audit)
        appended += messages.count
        share.appended = messages.count
        return share
    }

    /// How long each route took to publish one burst (nil: not measured), and how many it took.
    struct Drain {
        var audit: Duration?
        var hub: Duration?
        var cloud: Duration?
        var share = RouteShares()
    }

    /// Messages over time, summed over bursts, and each burst's own rate.
    struct Rate: CustomStringConvertible {
        var messages = 0
        var time = Duration.zero
        /// Each burst's messages per second.
        var bursts: [Double] = []
        var perSecond: Double {
            let seconds = Double(time.components.seconds) + Double(time.components.attoseconds) / 1e18
            return seconds > 0 ? Double(messages) / seconds : 0
        }
        /// The median burst's rate: one burst that met a scheduling stall (a loaded machine) does not move it.
        var median: Double {
            let sorted = bursts.sorted()
            guard !sorted.isEmpty else { return 0 }
            return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
        }
        mutating func add(_ count: Int, _ duration: Duration?) {
            guard let duration else { return }
            messages += count
            time += duration
            let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
            if seconds > 0 { bursts.append(Double(count) / seconds) }
        }
        var description: String {
            String(format: "%.0f msg/s (%d in %.2f s; median burst %.0f msg/s of %d)", perSecond, messages,
                   Double(time.components.seconds) + Double(time.components.attoseconds) / 1e18, median, bursts.count)
        }
    }

    /// Each route's rate over the bursts of one phase.
    struct Rates {
        var audit = Rate()
        var hub = Rate()
        var cloud = Rate()
        mutating func add(_ d: Drain) {
            audit.add(d.share.audit.count, d.audit)
            hub.add(d.share.hub.count, d.hub)
            cloud.add(d.share.cloud.count, d.cloud)
        }
    }
}

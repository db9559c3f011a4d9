import CMosquitto
import Outbox

/// The handshake ``MQTTSink``'s ``ReconnectWatcher`` tries during an outage: a connection of its own
/// (client id `ID-watch`, so it never takes over the sink's session), made without blocking, that counts
/// as an answer once any CONNACK arrives, even a refusal. It is closed at once and publishes nothing.
final class MQTTHandshake: ReachabilityCheck {
    private let configuration: MQTTSinkConfiguration
    private let state = MQTTSessionState()

    init(configuration: MQTTSinkConfiguration) { self.configuration = configuration }

    func attempt(timeout: Duration) -> Bool {
        guard let c = try? MosquittoPublisher.newClient(configuration, clientID: "\(configuration.clientID)-watch", state: state) else {
            return false
        }
        defer {
            mosquitto_disconnect(c)
            mosquitto_loop_stop(c, true)
            mosquitto_destroy(c)
        }
        // A non-blocking connect (a host whose packets vanish cannot hold this thread), finished by the
        // client's network thread.
        guard mosquitto_connect_bind_async(c, configuration.host, Int32(configuration.port), 5, nil) == success,
              mosquitto_loop_start(c) == success
        else { return false }
        return state.waitForConnack(until: .now + timeout) != nil
    }

    func close() {}
}

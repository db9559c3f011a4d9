/// What a sink's ``OutboxSink/checkAvailability()`` found.
public enum SinkAvailability: Sendable, Equatable {
    /// The sink answers and is configured as it should be.
    case available
    /// The sink cannot be reached now (the reason says why); an outage to wait out, not an error.
    case unavailable(String)
}

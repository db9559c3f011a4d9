import Outbox

/// The event `outbox demo` appends: a typed event, encoded as JSON by the outbox, keyed by tenant (so a
/// tenant's events are published in the order they were appended).
struct DemoUserRegistered: OutboxEvent {
    static let eventType = "UserRegistered"
    var userId: String
    var email: String
    var tenant: String
    var outboxKey: String? { tenant }

    init(number: Int) {
        userId = "user-\(number)"
        email = "user-\(number)@example.com"
        tenant = "tenant-\(number % 50)"
    }
}

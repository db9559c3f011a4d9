import Outbox

/// The typed event of `commit.codable16` and of `outbox demo`: a small Codable struct, its JSON about as
/// long as the byte payloads of the other rows, keyed by user (64 of them), so that each user's events are
/// published in the order they were appended.
package struct SampleUserRegistered: OutboxEvent {
    package static let eventType = "UserRegistered"
    package var userID: String
    package var email: String
    package var plan: String
    package var referrals: Int
    package var outboxKey: String? { userID }

    package init(number: Int) {
        userID = "user-\(number % 64)"
        email = "user-\(number)@example.com"
        plan = number % 3 == 0 ? "pro" : "free"
        referrals = number % 7
    }
}

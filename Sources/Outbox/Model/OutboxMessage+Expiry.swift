import Foundation

extension OutboxMessage {
    /// The header that carries a message's deliver-by deadline: RFC 3339, or Unix seconds.
    public static let deliverByHeader = "outbox-deliver-by"

    /// When the message expires. Past it, no relay publishes the message: it is tombstoned as `expired`
    /// (FORMAT.md §5), during a broker outage too. Kept in the ``deliverByHeader`` header (setting it
    /// replaces that header; nil removes it); nil when the message has none, or one that is not a time.
    /// ``OutboxRelayConfiguration/defaultTimeToLive`` gives messages without one a deadline.
    public var expiresAt: Date? {
        get {
            guard let value = headers.first(where: { $0.name == Self.deliverByHeader })?.value else { return nil }
            if let seconds = Double(value), seconds.isFinite { return Date(timeIntervalSince1970: seconds) }
            let f = ISO8601DateFormatter()
            f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            if let d = f.date(from: value) { return d }
            f.formatOptions = [.withInternetDateTime]
            return f.date(from: value)
        }
        set {
            headers.removeAll { $0.name == Self.deliverByHeader }
            if let newValue { headers.append(Header(Self.deliverByHeader, String(format: "%.6f", newValue.timeIntervalSince1970))) }
        }
    }
}

import Foundation

/// A route's uplink budget for a period: at most ``bytes`` on the wire per hour, day or month (UTC), for
/// a metered link. The spend is kept on disk (FORMAT.md §1d), so a restart does not reset it, and it is
/// recorded before a batch goes, so the budget is never overspent. Once it is spent, the route holds
/// every message until the period ends, or with ``WhenSpent/criticalOnly`` lets lane `critical` through
/// (its bytes are counted, past the budget).
public struct UplinkBudget: Sendable, Equatable, CustomStringConvertible {
    /// How long a budget lasts: from the start of an hour, a day or a month (UTC) to the next.
    public enum Period: String, Sendable, CaseIterable {
        case hour, day, month
    }

    /// What the route does once the budget is spent.
    public enum WhenSpent: String, Sendable, CaseIterable {
        /// Hold every message until the period ends (the default): the budget is never overspent.
        case hold
        /// Hold every message but those of lane `critical`, which go on (past the budget, counted).
        case criticalOnly = "critical-only"
    }

    public var bytes: Int
    public var period: Period
    public var whenSpent: WhenSpent

    public init(bytes: Int, per period: Period, whenSpent: WhenSpent = .hold) {
        self.bytes = bytes
        self.period = period
        self.whenSpent = whenSpent
    }

    /// `BYTES/PERIOD`, as `outbox relay --uplink-budget` takes it (`10485760/day`), and `,critical-only`
    /// with that policy.
    public var description: String { "\(bytes)/\(period.rawValue)" + (whenSpent == .hold ? "" : "," + whenSpent.rawValue) }

    /// The period holding `date`: its start and the next one's.
    public func bounds(of date: Date) -> (start: Date, end: Date) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let component: Calendar.Component = switch period {
        case .hour: .hour
        case .day: .day
        case .month: .month
        }
        guard let interval = calendar.dateInterval(of: component, for: date) else { return (date, date.addingTimeInterval(3600)) }
        return (interval.start, interval.end)
    }
}

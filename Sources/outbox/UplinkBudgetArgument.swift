import ArgumentParser
import Outbox

/// `--uplink-budget SIZE/PERIOD`: a size as ``ByteSize`` reads it, then `/hour`, `/day` or `/month`
/// (`10M/day`).
struct UplinkBudgetArgument: ExpressibleByArgument, Sendable {
    let budget: UplinkBudget

    init?(argument: String) {
        let parts = argument.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2, let size = ByteSize(argument: parts[0]), size.bytes >= 1, size.bytes <= Int64(Int32.max) * 1024,
              let period = UplinkBudget.Period(rawValue: parts[1].lowercased()) else { return nil }
        budget = UplinkBudget(bytes: Int(size.bytes), per: period)
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

extension UplinkBudget.WhenSpent: ExpressibleByArgument {}

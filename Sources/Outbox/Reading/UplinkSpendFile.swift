import Foundation

/// `uplink-NAME.json` (FORMAT.md §1d): what one route of the relay (`default` for a relay of one sink)
/// spent of its uplink budget in the current period. The relay holding `relay.lock` replaces it durably
/// (temporary file, fsync, rename, fsync of the directory) before each batch goes, with that batch
/// counted, so that a crash can only count bytes that never went, never forget bytes that did.
package struct UplinkSpendFile: Sendable, Equatable {
    package var route: String
    package var budget: UplinkBudget
    /// The start of the period the spend is for, in microseconds since the Unix epoch.
    package var periodStartMicros: Int64
    package var spentBytes: Int64

    package init(route: String, budget: UplinkBudget, periodStartMicros: Int64, spentBytes: Int64) {
        (self.route, self.budget, self.periodStartMicros, self.spentBytes) = (route, budget, periodStartMicros, spentBytes)
    }

    package static let prefix = FileNames.uplinkPrefix
    package static func fileName(route: String) -> String { prefix + route + ".json" }

    /// `{"budgetBytes":N,"period":"hour"|"day"|"month","periodStartMicros":N,"route":NAME,"spentBytes":N}`.
    package func encode() -> [UInt8] {
        let object: [String: Any] = ["route": route, "budgetBytes": budget.bytes, "period": budget.period.rawValue,
                                     "periodStartMicros": periodStartMicros, "spentBytes": spentBytes]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return Array(data) + [UInt8(ascii: "\n")]
    }

    package static func decode(_ bytes: [UInt8]) -> UplinkSpendFile? {
        guard let o = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any], let route = o["route"] as? String,
              let budget = (o["budgetBytes"] as? NSNumber)?.intValue, let period = (o["period"] as? String).flatMap(UplinkBudget.Period.init),
              let start = (o["periodStartMicros"] as? NSNumber)?.int64Value, let spent = (o["spentBytes"] as? NSNumber)?.int64Value,
              budget > 0, spent >= 0 else { return nil }
        return UplinkSpendFile(route: route, budget: UplinkBudget(bytes: budget, per: period), periodStartMicros: start, spentBytes: spent)
    }

    /// Replaces the route's file, durably.
    func write(in directory: OutboxDirectory) throws {
        _ = try directory.createFile(Self.fileName(route: route), contents: [encode()])
    }

    /// The spend of `route`, if its file is there and readable (one that is not is as none: a budget
    /// starts over rather than stop a relay).
    static func read(route: String, in directory: OutboxDirectory) -> UplinkSpendFile? {
        guard let file = try? directory.openFile(fileName(route: route), writable: false), let size = try? file.size(), size < 1 << 12,
              let bytes = try? file.read(at: 0, count: Int(size)) else { return nil }
        return decode(bytes)
    }

    /// Every route's spend in `directory`.
    static func all(in directory: OutboxDirectory) -> [UplinkSpendFile] {
        guard let names = try? directory.list() else { return [] }
        return names.filter { $0.hasPrefix(prefix) && $0.hasSuffix(".json") }.sorted().compactMap { name in
            read(route: String(name.dropFirst(prefix.count).dropLast(5)), in: directory)
        }
    }
}

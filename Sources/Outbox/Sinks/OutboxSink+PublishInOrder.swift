extension OutboxSink {
    /// Publishes one message at a time with `publishOne`, skipping (as failed) every later message of an
    /// ordering key once one of that key failed.
    public func publishInOrder(
        _ batch: [StoredMessage], _ publishOne: (StoredMessage) async -> PublishOutcome
    ) async -> [PublishOutcome] {
        var failedKeys = Set<String>()
        var outcomes: [PublishOutcome] = []
        outcomes.reserveCapacity(batch.count)
        var outage: String?
        for m in batch {
            if let outage {
                outcomes.append(.unavailable(outage))
                continue
            }
            if let key = m.orderingKey, failedKeys.contains(key) {
                outcomes.append(.failed("an earlier message of ordering key \(key) failed in this batch"))
                continue
            }
            let outcome = await publishOne(m)
            if case .unavailable(let why) = outcome { outage = why }
            if outcome.holdsBackKey, let key = m.orderingKey { failedKeys.insert(key) }
            outcomes.append(outcome)
        }
        return outcomes
    }
}

/// Which file a frame belongs to: the seed of its checksum (FORMAT.md §3).
package struct FileIdentity: Sendable, Equatable {
    package var outboxID: OutboxID
    package var base: UInt64

    package init(outboxID: OutboxID, base: UInt64) {
        self.outboxID = outboxID
        self.base = base
    }
}

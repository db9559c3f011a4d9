/// The relay's side of the dead-letter file: it appends dead letters (and, if configured, expired
/// messages), marks redriven ones, and turns redrive requests into messages to publish again. The file is
/// listed again only when its size changed since the relay last looked (or wrote it).
final class RelayDeadLetters {
    private let env: RelayEnvironment
    /// Dead letters being republished on request: their outcome is recorded here, not in the tombstones.
    private(set) var redriving = Set<UInt64>()
    /// The route each of those letters names, when it names one: its redriven mark is that route's.
    private var redrivingRoute: [UInt64: String] = [:]
    /// The size of the file when last listed or written; -1 makes the next look list it.
    private var knownSize: Int64 = -1

    init(_ env: RelayEnvironment) { self.env = env }

    /// Appends `letters`, durably (before their messages are tombstoned as dead or expired). A message
    /// being redriven that ends here again gets a new letter.
    func append(_ letters: [DeadLetter]) async throws {
        let (directory, outboxID, maxRecordSize) = (env.directory, env.outboxID, env.maxRecordSize)
        knownSize = try await env.io.run {
            try DeadLetterLog.append(letters, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
            return try DeadLetterLog.size(in: directory)
        }
    }

    /// Forgets these numbers as redriven (they were dead-lettered or expired again).
    func settled(_ seqs: [UInt64]) {
        redriving.subtract(seqs)
        for s in seqs { redrivingRoute.removeValue(forKey: s) }
    }

    /// Splits `published` into the messages to tombstone and the redriven dead letters among them.
    func split(_ published: [UInt64]) -> (plain: [UInt64], redriven: [UInt64]) {
        guard !redriving.isEmpty else { return (published, []) }
        return (published.filter { !redriving.contains($0) }, published.filter { redriving.contains($0) })
    }

    /// Marks republished dead letters as redriven in the file (they were tombstoned as dead already).
    func markRedriven(_ redriven: [UInt64]) async throws {
        guard !redriven.isEmpty else { return }
        redriving.subtract(redriven)
        // A letter that names its route gets that route's mark (another route's letter of the same number
        // stays as it is); one of no route, a plain mark.
        var byRoute: [String?: SequenceRangeSet] = [:]
        for s in redriven { byRoute[redrivingRoute.removeValue(forKey: s), default: SequenceRangeSet()].insert(s) }
        let (directory, outboxID, maxRecordSize, marks) = (env.directory, env.outboxID, env.maxRecordSize, byRoute)
        knownSize = try await env.io.run {
            for (route, seqs) in marks {
                try DeadLetterLog.mark(seqs, .redriven, route: route, in: directory, outboxID: outboxID, maxRecordSize: maxRecordSize)
            }
            return try DeadLetterLog.size(in: directory)
        }
    }

    /// The next look lists the file whatever its size (the sweep's fallback for a request missed
    /// between two looks).
    func forgetSize() { knownSize = -1 }

    /// The dead letters whose redrive was requested and that are neither being redriven nor `held`,
    /// when the file's `size` changed since the last look; they count as redriving from now on.
    func requests(size: Int64, held: Set<UInt64>) async throws -> [StoredMessage] {
        guard size != knownSize else { return [] }
        knownSize = size
        let letters = size == 0 ? [] : try await env.io.run { [env] in try Self.list(env) }
        // With several routes, each republishes the requested letters it gave up on (a letter of no route:
        // those its match takes).
        let (match, route) = (env.match, env.recordsRoute ? env.route : nil)
        let requested = letters.filter { l in
            l.redriveRequested && !redriving.contains(l.seq) && !held.contains(l.seq)
                && (route == nil || (l.route.map { $0 == route } ?? match.matches(l.message)))
        }
        guard !requested.isEmpty else { return [] }
        redriving.formUnion(requested.map(\.seq))
        for l in requested { if let r = l.route { redrivingRoute[l.seq] = r } }
        env.logger.notice("republishing dead letters on request", metadata: [
            "count": "\(requested.count)", "seqs": "\(SequenceRangeSet(requested.map(\.seq)))"])
        return requested.map {
            StoredMessage(seq: $0.seq, message: $0.message, segment: DeadLetterLog.fileName, offset: 0, compressed: false)
        }
    }

    /// Lists the file; with ``DamagePolicy/quarantine`` a damaged one is set aside in quarantine/ with its
    /// valid frames kept (the numbers stay dead; a lost letter can no longer be redriven).
    private static func list(_ env: RelayEnvironment) throws -> [DeadLetter] {
        do { return try DeadLetterLog.list(in: env.directory, outboxID: env.outboxID) } catch let e as OutboxError
            where env.configuration.onDamage == .quarantine && e.code == .corrupt {
            let action = try SegmentSalvage.rebuildOther(DeadLetterLog.fileName, kind: .deadLetters, base: 1, reference: env.outboxID,
                                                         in: env.directory, keep: .quarantine(reason: e.message, offset: e.offset))
            SegmentSalvage.report(quarantined: DeadLetterLog.fileName, because: e, action: action, lost: SequenceRangeSet(),
                                  in: env.directory, logger: env.logger)
            return try DeadLetterLog.list(in: env.directory, outboxID: env.outboxID)
        }
    }
}

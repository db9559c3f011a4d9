import Logging

/// ``DamagePolicy/quarantine`` for walks of the segment chain: a damaged segment is set aside in
/// `quarantine/` and replaced by what it still holds (``SegmentSalvage``), and the walk begins again.
/// The one quarantine of segments: open's recovery and the relay's tail pass it as their
/// ``DamageReporter``.
///
/// Each segment is quarantined at most once per walker: damage that survives its own quarantine is an
/// error. Damage the walk cannot pin on one listed segment is an error too.
final class SegmentQuarantine {
    enum Scope {
        /// The writer at open, alone with the segments: any segment may be quarantined, and a break
        /// between two segments whose headers are sound (a segment missing in between) is filled with a
        /// segment holding a hole.
        case atOpen
        /// A reader next to a live writer: only sealed segments (which the writer never touches again);
        /// damage in the active one stays an error.
        case sealedOnly
    }

    private let directory: OutboxDirectory
    private let logger: Logger
    private let scope: Scope
    private var done: Set<String> = []

    init(_ directory: OutboxDirectory, scope: Scope, logger: Logger) {
        self.directory = directory
        self.scope = scope
        self.logger = logger
    }

    /// The policy to pass to a walk.
    var reporter: DamageReporter { DamageReporter { [self] damage in try quarantine(damage) } }

    private func quarantine(_ damage: SegmentDamage) throws {
        let e = damage.error
        guard !done.contains(damage.name) else { throw e }
        let listing = try FileNames.list(directory)
        guard let i = listing.segments.firstIndex(where: { $0.name == damage.name }) else { throw e }
        if scope == .sealedOnly, i == listing.segments.count - 1 { throw e }
        done.insert(damage.name)
        let action: String
        let lost: SequenceRangeSet
        if scope == .atOpen, damage.atStart, i > 0 {
            // The segment before ends short of this one's base: the segment between is missing.
            guard let filled = try SegmentSalvage.fillGap(after: listing.segments[i - 1], before: damage.base, in: directory) else { throw e }  // an overlap
            (action, lost) = filled
        } else {
            (action, lost) = try SegmentSalvage.salvage(damage.name, in: directory, keep: .quarantine(reason: e.message, offset: e.offset))
        }
        SegmentSalvage.report(quarantined: damage.name, because: e, action: action, lost: lost, in: directory, logger: logger)
    }
}

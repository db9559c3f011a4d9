/// What a frame holds.
package enum FrameKind: UInt16, Sendable {
    /// Message records of one commit (segments).
    case messages = 1
    /// Sequence ranges finished by publishing (tombstone files).
    case published = 2
    /// Sequence ranges finished by dead-lettering (tombstone files).
    case dead = 3
    /// One dead-lettered message record with its reason (dead-letter file).
    case deadLetter = 4
    /// Sequence ranges whose dead letters were redriven (dead-letter file).
    case redriven = 5
    /// Sequence numbers lost to damage, written by `outbox verify --repair` in place of unreadable
    /// frames (segments); the body is a UTF-8 reason.
    case hole = 6
    /// Sequence ranges whose dead letters an operator asked the relay to republish (dead-letter file).
    case redriveRequested = 7
    /// Sequence ranges finished by expiring: past their deliver-by deadline, never published
    /// (tombstone files).
    case expired = 8
    /// Sequence ranges the writer dropped to make room in the disk budget (`drop-oldest`), never
    /// published (the dropped-messages file).
    case dropped = 9
    /// The last frame of a sealed segment (segments, from format version 3): `first` is the number after
    /// the segment's last, `count` the number of frames before it, and the body 8 bytes (the time it was
    /// sealed). Open trusts a sealed segment whose seal checks out without reading its other frames.
    case seal = 10
    /// Sequence ranges one route of the relay finished (tombstone files, from format version 5): the body
    /// names the route and the status (published, dead or expired) before the ranges (FORMAT.md §5c).
    case routeRanges = 11
    /// Sequence ranges that matched no route of the relay: never published (tombstone files, from version 5).
    case unrouted = 12
    /// A route of the relay (tombstone files, from version 5): its name in the body, and in `first` the
    /// first number it serves (a route added "from now" does not serve what was appended before it).
    case routeStart = 13
    /// Message records of one commit whose messages are not all in lane `normal` (segments, from format
    /// version 6): the body begins with the commit's lanes (``LaneSummary``, FORMAT.md §4b).
    case laneMessages = 14

    /// Whether frames of this kind hold message records (kinds 1 and 14).
    package var holdsMessages: Bool { self == .messages || self == .laneMessages }
}

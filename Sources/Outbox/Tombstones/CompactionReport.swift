import Foundation
import Logging

/// What a compaction did.
public struct CompactionReport: Sendable, Equatable {
    /// Segment files removed because every message in them was finished.
    public var removedSegments: [String] = []
    /// The tombstone file written as a checkpoint, if one was.
    public var checkpoint: String?
}

/// An outbox opened once per process: its directory (one descriptor), its identity (found once, by the
/// rule of FORMAT.md §2: the id most of its files carry), and the syscall seam every file
/// operation goes through. ``OutboxReader``, ``TombstoneLog``, ``OutboxRelay`` and ``OutboxInspector``
/// can be built from it, so that a process using the outbox in several ways opens the directory and
/// reads the file headers once. It takes no lock and changes nothing; ``Outbox/opened`` is the writer's.
public final class OpenedOutbox: Sendable {
    /// The outbox directory.
    public let path: String
    /// The outbox's identity (every file header carries it).
    public let id: OutboxID
    package let directory: OutboxDirectory

    /// Opens the outbox at `path`. Throws ``OutboxError/Code/notAnOutbox`` when there is none, and the
    /// header's error when no file names the outbox and its last segment's header is damaged. With
    /// `keys`, its encrypted segments are read with them (FORMAT.md §10); without, reading one throws
    /// ``OutboxError/Code/missingKey``.
    public convenience init(path: String, keys: OutboxKeys? = nil) throws {
        try self.init(path: path, sys: LinuxSystemCalls(), keys: keys)
    }

    package init(path: String, sys: any SystemCalls, keys: OutboxKeys? = nil) throws {
        let directory = try OutboxDirectory.open(path, create: false, sys: sys, keys: keys)
        self.path = path
        self.directory = directory
        id = try FileNames.withListing(directory) { listing in
            guard let last = listing.segments.last else {
                throw OutboxError(.notAnOutbox, "not an outbox directory (no segment files)", path: path)
            }
            if let id = ReferenceOutboxID.find(in: directory, listing) { return id }
            return try SegmentFile.open(last.name, base: last.base, in: directory).header.outboxID  // throws its header's error
        }
    }

    /// The outbox a writer opened (and perhaps created): its directory and the id its recovery found.
    package init(directory: OutboxDirectory, id: OutboxID) {
        self.path = directory.path
        self.directory = directory
        self.id = id
    }
}

import Foundation

extension OutboxInspector {
    /// Which keys the outbox's data needs (``KeyStatus``): one walk of the segments' frames and of the
    /// dead-letter file, reading only what is in clear (no key is needed). Throws
    /// ``OutboxError/Code/corrupt`` where the walk meets damage (`verify` names it).
    public static func keyStatus(path: String) throws -> KeyStatus {
        let reader = try OutboxReader(path: path)
        return try keyStatus(reader)
    }

    static func keyStatus(_ reader: OutboxReader) throws -> KeyStatus {
        let directory = reader.directory
        let ring = try Keyring.read(in: directory)
        var status = KeyStatus()
        var byID: [OutboxKeys.ID: Int] = [:]
        func index(_ id: OutboxKeys.ID) -> Int {
            if let i = byID[id] { return i }
            status.keys.append(KeyStatus.Key(id: id))
            byID[id] = status.keys.count - 1
            return status.keys.count - 1
        }
        for e in ring.entries {
            let i = index(e.id)
            status.keys[i].added = Date(timeIntervalSince1970: Double(e.addedMicros) / 1e6)
            status.keys[i].retired = e.retiredMicros.map { Date(timeIntervalSince1970: Double($0) / 1e6) }
        }
        if let current = ring.current { status.keys[index(current)].writing = true }
        let finished = try reader.tombstones().finished
        let segmentNames = try reader.segmentNames()
        var lastSegment = ""
        var keysOfSegment = Set<OutboxKeys.ID>()
        var lastKeyOfActive: OutboxKeys.ID?
        var plainSegment = ""
        try reader.forEachFrame(from: 1) { segment, frame in
            let name = segment.name
            if name != lastSegment { (lastSegment, keysOfSegment) = (name, []) }
            guard frame.header.kind.holdsMessages else { return true }
            guard segment.header.encrypted else {
                if plainSegment != name { (plainSegment, status.plainSegments) = (name, status.plainSegments + 1) }
                return true
            }
            guard let (_, id, _) = Envelope.peek(frame.body[Envelope.clearPrefix(frame.header.kind, frame.body)...]) else { return true }
            let i = index(id)
            if keysOfSegment.insert(id).inserted { status.keys[i].segments += 1 }
            let first = frame.header.first
            for seq in first..<(first + UInt64(frame.header.count)) where !finished.contains(seq) { status.keys[i].pendingMessages += 1 }
            if name == segmentNames.last { lastKeyOfActive = id }
            return true
        }
        if let id = lastKeyOfActive { status.keys[index(id)].writing = true }
        let letters = try DeadLetterLog.keyUse(in: directory, outboxID: reader.outboxID)
        for (id, n) in letters.letters { status.keys[index(id)].deadLetters += n }
        status.plainDeadLetters = letters.plainLetters
        return status
    }

    /// Marks key `id` retired in the keyring (FORMAT.md §10e): from then on no writer encrypts with it,
    /// and `keys status` shows it retired; destroy it once retired (crypto-shred: data only it encrypted
    /// can no longer be read by anyone). Throws ``OutboxError/Code/keyInUse`` while anything not yet
    /// finished needs it (pending messages, dead letters, the writer encrypting with it), and
    /// ``OutboxError/Code/invalidArgument`` for an id this outbox never used. Retiring a retired key
    /// again changes nothing.
    public static func retireKey(_ id: OutboxKeys.ID, path: String) throws {
        try retireKey(id, reader: OutboxReader(path: path))
    }

    package static func retireKey(_ id: OutboxKeys.ID, reader: OutboxReader) throws {
        let path = reader.path
        let directory = reader.directory
        // The walk runs without the keyring's lock (a writer starting a segment waits on it); no new
        // data can be encrypted with `id` unless a writer makes it current, which is checked under the lock.
        let status = try keyStatus(reader)
        try Keyring.withLock(directory) {
            guard let key = status.keys.first(where: { $0.id == id }) else {
                throw OutboxError(.invalidArgument, "key \(id) is not a key of this outbox (outbox keys status lists them)", path: path)
            }
            guard !key.isNeeded else {
                var needs: [String] = []
                if key.pendingMessages > 0 { needs.append("\(key.pendingMessages) pending messages in \(key.segments) segments") }
                if key.deadLetters > 0 { needs.append("\(key.deadLetters) dead letters (purge or redrive them)") }
                if key.writing { needs.append("the writer encrypts with it (put a new key first in the key file; it applies from the next segment)") }
                throw OutboxError(.keyInUse, "key \(id) is still needed: " + needs.joined(separator: "; "), path: path)
            }
            var ring = try Keyring.read(in: directory)
            if ring.current == id {
                throw OutboxError(.keyInUse, "key \(id) is still needed: the writer encrypts with it (put a new key first in the key file; it applies from the next segment)", path: path)
            }
            if let i = ring.entries.firstIndex(where: { $0.id == id }) {
                guard ring.entries[i].retiredMicros == nil else { return }
                ring.entries[i].retiredMicros = OutboxMessage.micros(Date())
            } else {
                ring.entries.append(Keyring.Entry(id: id, addedMicros: OutboxMessage.micros(Date()), retiredMicros: OutboxMessage.micros(Date())))
            }
            try ring.write(in: directory)
        }
    }
}

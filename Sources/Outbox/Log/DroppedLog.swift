import Foundation

/// `dropped.log` (FORMAT.md §5b): the sequence numbers the writer dropped to make room in a full disk
/// budget (``FullPolicy/dropOldest``). Only the writer, holding `writer.lock`, appends to it: it records
/// the numbers durably, then removes the segments that held them. Readers fold it into the tombstone
/// snapshot (status `dropped`).
enum DroppedLog {
    /// The numbers recorded as dropped (nothing when the file does not exist). A reader stops quietly
    /// before a torn tail; the writer (`repairing`) cuts it.
    static func read(in directory: OutboxDirectory, outboxID: OutboxID, repairing: Bool = false) throws -> SequenceRangeSet {
        let file: OutboxFile
        do { file = try directory.openFile(FileNames.dropped, writable: repairing) } catch let e as OutboxError where e.errno == ENOENT {
            return SequenceRangeSet()
        }
        let log = try LogFile.open(file, kind: .dropped, base: 1, outboxID: outboxID)
        var set = SequenceRangeSet()
        let policy: RecoveryPolicy = repairing ? .truncate(.init(label: "outbox.dropped")) : .stop
        try policy.walk(log.scanner) { frame in
            let ranges = (try? TombstoneCodec.decode(frame.body, count: Int(frame.header.count), first: frame.header.first)) ?? []
            for r in ranges { set.insert(r) }
            return true
        }
        return set
    }

    /// The numbers every intact frame of the file records, skipping damage (for `verify` and repair,
    /// which report the damage on their own): a damaged frame hides only its own ranges, not the others.
    /// Nothing when the file is missing or its header is damaged.
    static func readIntact(in directory: OutboxDirectory, outboxID: OutboxID) -> SequenceRangeSet {
        var set = SequenceRangeSet()
        guard let file = try? directory.openFile(FileNames.dropped, writable: false),
              let log = try? LogFile.open(file, kind: .dropped, base: 1, outboxID: outboxID) else { return set }
        while true {
            switch (try? log.scanner.next()) ?? .end {
            case .end:
                return set
            case .frame(let frame):
                for r in (try? TombstoneCodec.decode(frame.body, count: Int(frame.header.count), first: frame.header.first)) ?? [] { set.insert(r) }
            case .damage(let d):
                guard let next = try? log.scanner.nextValidFrame(after: d.offset) else { return set }
                log.scanner.offset = next
            }
        }
    }

    /// Appends `dropped` (creating the file if needed), durably: one `pwrite`, one `fdatasync`.
    static func append(_ dropped: SequenceRangeSet, in directory: OutboxDirectory, outboxID: OutboxID, maxRecordSize: UInt32) throws {
        guard !dropped.isEmpty else { return }
        let file: OutboxFile
        do { file = try directory.openFile(FileNames.dropped, writable: true) } catch let e as OutboxError where e.errno == ENOENT {
            let header = FileHeader(kind: .dropped, outboxID: outboxID, base: 1, maxRecordSize: maxRecordSize,
                                    createdAtMicros: OutboxMessage.micros(Date()))
            file = try directory.createFile(FileNames.dropped, contents: [header.encode()])
        }
        // Where the valid frames end (a torn tail of an earlier crash is cut first).
        let log = try LogFile.open(file, kind: .dropped, base: 1, outboxID: outboxID)
        let end = try RecoveryPolicy.truncate(.init(label: "outbox.dropped")).walk(log.scanner) { _ in true }
        let frames = TombstoneCodec.frames(dropped, kind: .dropped, maxBody: Int(maxRecordSize), identity: FileIdentity(outboxID: outboxID, base: 1),
                                           offset: end, tag: FrameHeader.writeTag(start: end, version: log.header.version))
        try file.write(frames, at: end)
        try file.dataSync()
    }
}

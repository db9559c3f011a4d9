import Logging

/// `writer.durable` (FORMAT.md §1c): the last sequence number the writer made durable, for a relay in
/// another process, so that it need not `fdatasync` a segment the writer already synced.
///
/// **Advisory, and never above the truth.** The writer writes the mark only after an `fdatasync` covering
/// it returned, and at open lowers a stored mark to the last number recovery found. The file itself is
/// never synced: whatever a crash leaves in it is a mark that was true, zeros or torn bytes, and torn
/// bytes fail the check (the mark is stored with its complement). A missing, short, foreign or torn file
/// reads as 0, which makes a reader sync for itself as it would without the file.
final class DurableMarkFile: @unchecked Sendable {
    static let fileName = "writer.durable"
    static let magic: [UInt8] = Array("OBXMARK1".utf8)
    static let size = 40

    private let file: OutboxFile
    private let outboxID: OutboxID
    private let logger: Logger
    private var mark: UInt64
    private var broken = false

    private init(file: OutboxFile, outboxID: OutboxID, mark: UInt64, logger: Logger) {
        self.file = file
        self.outboxID = outboxID
        self.mark = mark
        self.logger = logger
    }

    /// Opens (or creates) the file for the writer that holds `writer.lock` and whose recovery found
    /// numbers up to `lastRecovered`, and writes the mark it may keep: the stored one if it is valid,
    /// at most `lastRecovered`; otherwise 0. Nil (with a warning) if the file cannot be written: the
    /// outbox works without it.
    static func openForWriting(in directory: OutboxDirectory, outboxID: OutboxID, lastRecovered: UInt64,
                               logger: Logger) -> DurableMarkFile? {
        do {
            let file = try directory.openOrCreateFile(fileName)
            let stored = decode(try file.read(at: 0, count: size), outboxID: outboxID)
            let mark = DurableMarkFile(file: file, outboxID: outboxID, mark: min(stored, lastRecovered), logger: logger)
            try file.write(encode(mark.mark, outboxID: outboxID), at: 0)
            return mark
        } catch {
            logger.warning("cannot keep the durable mark for relays in other processes; they sync for themselves",
                           metadata: ["file": "\(directory.pathOf(fileName))", "error": "\(error)"])
            return nil
        }
    }

    /// Records that every number up to `seq` is durable (call after the `fdatasync` that made it so).
    /// A failed write is logged once and ends the file's updates: its last mark stays true.
    func record(_ seq: UInt64) {
        guard !broken, seq > mark else { return }
        mark = seq
        do { try file.write(Self.markBytes(seq), at: 24) } catch {
            broken = true
            logger.warning("cannot update the durable mark; relays in other processes sync for themselves",
                           metadata: ["file": "\(file.path)", "error": "\(error)"])
        }
    }

    /// The mark in `directory`'s file for the outbox `outboxID`: 0 when there is none to trust.
    static func read(in directory: OutboxDirectory, outboxID: OutboxID) -> UInt64 {
        guard let file = try? directory.openFile(fileName, writable: false),
              let bytes = try? file.read(at: 0, count: size) else { return 0 }
        return decode(bytes, outboxID: outboxID)
    }

    static func encode(_ mark: UInt64, outboxID: OutboxID) -> [UInt8] {
        magic + outboxID.bytes + markBytes(mark)
    }

    /// Bytes 24–39: the mark and its complement (all a commit rewrites).
    private static func markBytes(_ mark: UInt64) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        withUnsafeBytes(of: mark.littleEndian) { out += $0 }
        withUnsafeBytes(of: (~mark).littleEndian) { out += $0 }
        return out
    }

    static func decode(_ bytes: [UInt8], outboxID: OutboxID) -> UInt64 {
        guard bytes.count >= size, Array(bytes[0..<8]) == magic, Array(bytes[8..<24]) == outboxID.bytes else { return 0 }
        var reader = ByteReader(bytes, from: 24, to: size)
        guard let mark = try? reader.u64("mark"), let complement = try? reader.u64("mark complement"),
              complement == ~mark else { return 0 }
        return mark
    }
}

import Foundation
import Logging
import Outbox

/// Entry points for the libFuzzer harnesses in `FuzzTesting/` (not a stable API, and not part of the
/// `Outbox` library: an app links none of it). Each one feeds its input to the library's own decoders,
/// returns normally for any input, and traps only when a property fails (a decode that does not
/// re-encode to the same bytes).
public enum OutboxFuzzing {
    static let identity = FileIdentity(outboxID: OutboxID(bytes: Array(repeating: 7, count: 16)), base: 1)
    /// The key every harness opens with, so that encrypted frames (FORMAT.md §10) are decrypted and their
    /// records reach the decoders: 32 bytes of 0x42 (`scripts/fuzz-seeds.py` seals its seeds with it).
    static let keys = try! OutboxKeys([[UInt8](repeating: 0x42, count: 32)])

    /// Rewrites the header checksum and every frame checksum (walking frames by their declared
    /// lengths), so that mutations reach the decoders behind the checksums. Used for inputs whose first
    /// byte is odd; even ones are decoded as they are.
    static func fixChecksums(_ data: inout [UInt8], identity: FileIdentity) {
        guard data.count >= FileHeader.size else { return }
        for i in 0..<8 { data[32 + i] = i == 0 ? UInt8(truncatingIfNeeded: identity.base) : 0 }
        let headerCRC = CRC32.of(data[0..<60])
        for i in 0..<4 { data[60 + i] = UInt8(truncatingIfNeeded: headerCRC >> (8 * UInt32(i))) }
        var outboxID = identity.outboxID
        let headerBytes = Array(data[0..<FileHeader.size])
        if let h = (try? FileHeader.decode(headerBytes, expecting: .segment)) ?? (try? FileHeader.decode(headerBytes, expecting: .tombstones)) {
            outboxID = h.outboxID
        }
        let id = FileIdentity(outboxID: outboxID, base: identity.base)
        var offset = FileHeader.size
        while offset + FrameHeader.size <= data.count {
            let length = Int(ByteReader.u32(data, at: offset + 4))
            guard length >= 1, offset + FrameHeader.size + length <= data.count else { return }
            let prefix = data[offset..<(offset + FrameHeader.size)].withUnsafeBytes {
                FrameHeader.prefixCRC(identity: id, offset: Int64(offset), header: UnsafeRawBufferPointer($0))
            }
            let body = data[(offset + FrameHeader.size)..<(offset + FrameHeader.size + length)]
            let crc = CRC32.combine(prefix, CRC32.of(body), lengthOfB: length)
            for i in 0..<4 { data[offset + i] = UInt8(truncatingIfNeeded: crc >> (8 * UInt32(i))) }
            offset += FrameHeader.size + length
        }
    }

    /// The input is a segment file: header, then frames.
    public static func segmentFile(_ input: [UInt8]) {
        var data = input
        if let first = data.first, first & 1 == 1 { fixChecksums(&data, identity: identity) }
        let sys = MemoryFileSystem(files: [FileNames.segment(1): data])
        guard let directory = try? OutboxDirectory.open("/fuzz", create: false, sys: sys, keys: keys) else { return }
        if data.count >= FileHeader.size, let h = try? FileHeader.decode(Array(data[0..<FileHeader.size]), expecting: .segment) {
            precondition(h.encode() == Array(data[0..<FileHeader.size]), "a decoded header re-encodes differently")
        }
        guard let segment = try? SegmentFile.open(FileNames.segment(1), base: 1, in: directory, validateBodies: true) else { return }
        _ = try? segment.scanner.walk(tail: .stop) { frame in
            if frame.header.kind.holdsMessages, let messages = try? segment.messages(in: frame),
               let body = segment.header.encrypted ? try? segment.plainBody(of: frame) : frame.body {
                // Re-encoding what was decoded gives the same records (compression aside: a payload
                // stored deflated is compared after inflating).
                // A kind-14 body is its lane summary, then records that index it (FORMAT.md §4b).
                let summary = frame.header.kind == .laneMessages ? try! LaneSummary.decode(frame.body) : nil
                let lanes: MessageCodec.Lanes = summary.map { .table($0.lanes.map { OutboxLane($0) }) } ?? .none
                let prefix = summary.map { Array(frame.body[0..<$0.recordsStart]) } ?? []
                // From version 8 the records follow the commit's clock (FORMAT.md §4c), which every message carries.
                let clock = messages.first?.commitClock
                let again = try! MessageCodec.encode(messages.map(\.message), compressionThreshold: nil, maxBody: Int.max, lanes: lanes, prefix: prefix,
                                                     clock: clock)
                let back = try! MessageCodec.decode(again, count: messages.count, maxBody: Int.max, from: prefix.count, lanes: lanes,
                                                    stamped: clock != nil)
                precondition(back.map(\.message) == messages.map(\.message), "messages do not survive a re-encode")
                if !messages.contains(where: \.compressed) {
                    precondition(again == body, "a decoded frame body re-encodes differently")
                }
            }
            return true
        }
    }

    /// The input is a frame body of tombstone ranges (count taken from the first byte); the same bytes
    /// are also read as a whole tombstone file.
    public static func tombstoneBody(_ input: [UInt8]) {
        guard let count = input.first else { return }
        let body = Array(input.dropFirst())
        var data = input
        if count & 1 == 1 { fixChecksums(&data, identity: identity) }
        var r = ByteReader(body)
        guard let delta = try? r.varint("first") else { return }
        if let ranges = try? TombstoneCodec.decode(body, count: Int(count), first: delta) {
            precondition(TombstoneCodec.encode(ranges[...]) == body, "tombstone ranges re-encode differently")
        }
        // The same body as a route frame's (FORMAT.md §5c): status, name, then ranges from the first one's start.
        if body.count >= 2, 2 + Int(body[1]) <= body.count {
            var ranges = ByteReader(Array(body[(2 + Int(body[1]))...]))
            if let first = try? ranges.varint("first"),
               let decoded = try? RouteTombstoneCodec.decodeRanges(body, count: Int(count), first: first) {
                precondition(RouteTombstoneCodec.encodeRanges(route: decoded.route, status: decoded.status, decoded.ranges[...]) == body,
                              "route ranges re-encode differently")
                precondition(RouteTombstoneCodec.nameProblem(decoded.route) == nil, "a route name that decodes is valid")
            }
        }
        if let route = try? RouteTombstoneCodec.decodeStart(body) {
            precondition(RouteTombstoneCodec.encodeStart(route: route) == body, "a route start re-encodes differently")
        }
        // The whole file path as well: the same bytes as a tombstone file.
        let sys = MemoryFileSystem(files: [FileNames.tombstones(1): data])
        if let directory = try? OutboxDirectory.open("/fuzz", create: false, sys: sys) {
            _ = try? TombstoneFile.load(FileNames.tombstones(1), generation: 1, in: directory, outboxID: identity.outboxID,
                                        writable: false, tail: .stop)
        }
    }

    /// The input becomes the files of an outbox, held in memory: records of
    /// [selector: 1 byte][length: 2 bytes LE][bytes]. Then everything is opened and read (readers,
    /// verification, the raw walk) and, when recovery accepts the files, written: a writer appends a
    /// message, which must then read back, and the tombstone log acknowledges it and compacts.
    /// Returns the sequence number appended, if recovery accepted the files.
    @discardableResult
    /// The error reading every segment from the first number on meets (as the relay's tail reads them), if any.
    private static func readingTheSegments(_ path: String, _ fs: MemoryFileSystem) -> OutboxError? {
        do {
            let directory = try OutboxDirectory.open(path, create: false, sys: fs)
            guard let id = try ReferenceOutboxID.find(in: directory) else { return nil }
            let tail = LogTail(directory: directory, outboxID: id, from: 1)
            while try !tail.read(limit: 1000).isEmpty {}
            return nil
        } catch let e as OutboxError {
            return e
        } catch {
            return nil
        }
    }

    public static func directory(_ data: [UInt8]) -> UInt64? {
        let names = directoryNames
        var i = 0
        var files: [String: [UInt8]] = [:]
        while i + 3 <= data.count {
            let name = names[Int(data[i]) % names.count]
            let length = min(Int(data[i + 1]) | Int(data[i + 2]) << 8, data.count - i - 3)
            files[name, default: []] += data[(i + 3)..<(i + 3 + length)]
            i += 3 + length
        }
        let path = "/fuzz"
        let fs = MemoryFileSystem(files: files)
        let quiet = Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() })
        if let reader = try? OutboxReader(path: path, sys: fs) {
            _ = try? reader.messages()
            _ = try? reader.stats()
            _ = try? reader.deadLetters()
        }
        // What verify says about the segments, before the writer's open may cut a torn tail.
        var segmentVerdict: (verified: Bool, problems: [VerifyProblem]) = (false, [])
        if let directory = try? OutboxDirectory.open(path, create: false, sys: fs), let report = try? OutboxInspector.verify(directory) {
            let problems = report.problems.filter { p in
                FileNames.parseSegment(p.file) != nil && ![.leftoverFile, .tornTail].contains(p.kind)
                    && !(p.kind == .sequenceGap && p.reason.contains("below the first segment"))  // needs the tombstones, which open does not read
            }
            segmentVerdict = (true, problems)
        }
        _ = try? OutboxInspector.rawWalk(path: path, sys: fs)
        var config = OutboxConfiguration()
        config.createIfMissing = false
        config.systemCalls = fs
        var appended: (seq: UInt64, message: OutboxMessage)?
        do {
            let outbox = try Outbox(openingAt: path, configuration: config, logger: quiet)
            if segmentVerdict.verified, let problem = segmentVerdict.problems.first {
                // Open accepted damage it does not read (inside a sealed segment whose seal is sound, or a
                // message body): reading the segments finds it, at the same place (FORMAT.md §7).
                let found = readingTheSegments(path, fs)
                precondition(found?.path?.hasSuffix("/" + problem.file) == true && found?.offset == problem.offset,
                             "open accepted segments verify finds damaged (\(problem)), and reading them says \(found.map { "\($0)" } ?? "nothing")")
            }
            // The id and time are set here, so that what is read back can be compared whole.
            let message = OutboxMessage(id: .v7(), type: "fuzz", payload: [1, 2, 3], createdAt: Date())
            if let seq = try? outbox.appendBlocking(message) { appended = (seq, message) }
            try? outbox.closeBlocking()
        } catch let e as OutboxError {
            // One classifier: what open refuses, verify names at the same segment and offset (open does not
            // read inside a sealed segment whose seal is sound, so verify may name damage before it).
            if segmentVerdict.verified, [.corrupt, .unsupportedVersion].contains(e.code), let file = e.path?.split(separator: "/").last.map(String.init),
               FileNames.parseSegment(file) != nil {
                precondition(segmentVerdict.problems.contains { $0.file == file && $0.offset == e.offset },
                             "open refused \(file) at \(e.offset.map { "\($0)" } ?? "-") (\(e.message)), verify says \(segmentVerdict.problems)")
            }
        } catch {}
        if let (seq, message) = appended {
            // Acknowledged, so it must read back whole.
            let stored = try? OutboxReader(path: path, sys: fs).messages(from: seq, limit: 1).first
            precondition(stored?.seq == seq && stored?.message == message, "an acknowledged append does not read back")
        }
        if let log = try? TombstoneLog(openingAt: path, checkpointBytes: 1 << 20, logger: quiet, sys: fs) {
            if let (seq, _) = appended { try? log.acknowledgeBlocking([seq]) }
            _ = try? log.compactBlocking(forceCheckpoint: true)
            try? log.closeBlocking()
        }
        return appended?.seq
    }

    /// Packs files into the input format of ``directory(_:)`` (names must be among the harness's).
    public static func directoryInput(_ files: [(name: String, bytes: [UInt8])]) -> [UInt8] {
        var out: [UInt8] = []
        for (name, bytes) in files {
            guard let selector = directoryNames.firstIndex(of: name) else { continue }
            var rest = bytes[...]
            repeat {
                let chunk = rest.prefix(0xFFFF)
                rest = rest.dropFirst(chunk.count)
                out += [UInt8(selector), UInt8(chunk.count & 0xFF), UInt8(chunk.count >> 8)] + chunk
            } while !rest.isEmpty
        }
        return out
    }

    static let directoryNames = [FileNames.segment(1), FileNames.segment(5), FileNames.segment(9), FileNames.tombstones(1),
                                 FileNames.tombstones(2), DeadLetterLog.fileName, ".tmp-segment-00000000000000000009.log", "junk"]
}

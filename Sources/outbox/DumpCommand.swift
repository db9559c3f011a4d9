import ArgumentParser
import Foundation
import Outbox

struct DumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "List the messages of an outbox (read-only; safe while a writer and a relay run).")

    @Argument(help: "The outbox directory.") var dir: String
    @Flag(help: "JSON Lines, one object per message.") var json = false
    @Option(parsing: .unconditional, help: "Start at this sequence number.") var from: UInt64 = 1
    @Option(parsing: .unconditional, help: "Stop after this many messages.") var limit: Int?
    @Option(help: "Which messages: pending, published, dead, expired, dropped, unrouted or all.") var status: StatusFilter = .all
    @Option(help: "Only messages of this type.") var type: String?
    @Option(help: "Only messages with this key.") var key: String?
    @Option(help: "Only messages of this lane (critical, normal, bulk or a named lane).") var lane: String?
    @Option(help: "How to show payloads: none, text, hex or base64.") var payload: PayloadDisplay = .none
    @Option(help: "Only messages stored in this segment file (its name).") var segment: String?
    @Option(help: "Statuses as this route of a relay of several sinks sees them (what it published, dead-lettered or has pending).")
    var route: String?
    @OptionGroup var keys: KeyOptions
    @Flag(help: "Walk the frames of every file (or of the one file given) with offsets and checksum status, going on past damage.") var raw = false

    func run() async throws {
        try await reportingErrors {
            _ = CLILogging.bootstrap
            if raw { return try dumpRaw() }
            if let lane, let problem = OutboxLane.nameProblem(lane) { throw OutboxError(.invalidArgument, "--lane \(lane.debugDescription) \(problem)") }
            let reader = try OutboxReader(path: dir, keys: try keys.load())
            if let segment, try !reader.segmentNames().contains(segment) {
                throw OutboxError(.invalidArgument, "--segment \(segment): no such segment in the outbox", path: dir)
            }
            let tombstones = try reader.tombstones()
            var shown = 0
            let limit = self.limit ?? .max
            if !json {
                Output.shared.write(Self.pad("SEQ", 10) + "  " + Self.pad("CREATED", 27) + "  " + Self.pad("TYPE", 20) + "  "
                                    + Self.pad("KEY", 16) + "  " + Self.pad("SIZE", 8) + "  " + Self.pad("LANE", 8) + "  STATUS\n")
            }
            guard limit > 0 else { return }
            // Numbers whose messages are gone are shown as rows in their place: "lost" (a repair took them
            // out: dead, with no dead letter) and "dropped" (the writer dropped them to make room).
            let unfiltered = type == nil && key == nil && segment == nil && route == nil && lane == nil
            var gone: [(range: ClosedRange<UInt64>, status: String)] = []
            if unfiltered, status == .all || status == .dead { gone += try reader.lostSequenceNumbers().ranges.map { ($0, "lost") } }
            if unfiltered, status == .all || status == .dropped {
                gone += tombstones.dropped.subtracting(tombstones.published).ranges.map { ($0, "dropped") }
            }
            var lost = gone.filter { $0.range.upperBound >= from }.sorted { $0.range.lowerBound < $1.range.lowerBound }[...]
            func showLost(before seq: UInt64) {
                while let r = lost.first, r.range.lowerBound < seq, shown < limit {
                    lost = lost.dropFirst()
                    Output.shared.write((json ? Self.goneJSON(r.range, r.status) : Self.goneTableLine(r.range, r.status)) + "\n")
                    shown += 1
                }
            }
            defer { showLost(before: .max) }
            try reader.forEachMessage(from: from) { m in
                showLost(before: m.seq)
                guard shown < limit else { return false }
                let st = route.map { tombstones.status(of: m.seq, route: $0) } ?? tombstones.status(of: m.seq)
                if status != .all && st.rawValue != status.rawValue { return true }
                if let type, m.message.type != type { return true }
                if let key, m.message.key != key { return true }
                if let lane, m.message.lane.name != lane { return true }
                if let segment, m.segment != segment { return true }
                Output.shared.write((json ? Self.jsonLine(m, st, payload: payload) : Self.tableLine(m, st, payload: payload)) + "\n")
                shown += 1
                return shown < limit
            }
        }
    }

    /// Exits 1 when the walk found damage (as `verify` does), after printing everything.
    private func dumpRaw() throws {
        let files = try OutboxInspector.rawWalk(path: dir)
        try printRaw(files)
        let damaged = files.contains { $0.headerProblem != nil || $0.entries.contains { if case .damage = $0 { true } else { false } } }
        if damaged {
            StandardError.line("outbox: damage found (see the DAMAGED lines); `outbox verify` names every problem")
            throw ExitCode(ExitStatus.found)
        }
    }

    private func printRaw(_ files: [RawFileReport]) throws {
        for file in files {
            if json {
                var j = JSONLine()
                j.string("file", file.name)
                j.string("kind", file.kind)
                j.number("size", file.size)
                j.string("header", file.header)
                j.string("headerProblem", file.headerProblem)
                j.number("headerProblemOffset", file.headerProblemOffset)
                Output.shared.write(j.text + "\n")
            } else {
                Output.shared.write("\(file.path) (\(file.kind), \(file.size) bytes)\n")
                if let h = file.header { Output.shared.write("  header: \(h)\n") }
                if let p = file.headerProblem {
                    Output.shared.write("  header DAMAGED\(file.headerProblemOffset.map { " at offset \($0)" } ?? ""): \(p)\n")
                }
            }
            for entry in file.entries {
                switch entry {
                case .frame(let offset, let length, let kind, let first, let count):
                    if json {
                        var j = JSONLine()
                        j.string("file", file.name)
                        j.number("offset", offset)
                        j.number("length", length)
                        j.string("kind", kind)
                        j.number("first", first)
                        j.number("count", count)
                        j.string("status", "ok")
                        Output.shared.write(j.text + "\n")
                    } else if kind == "seal" {
                        Output.shared.write("  offset \(offset): seal after \(count) frame(s), the next segment starts at \(first), \(length) bytes, checksum ok\n")
                    } else {
                        Output.shared.write("  offset \(offset): \(kind) frame, first \(first), count \(count), \(length) bytes, checksum ok\n")
                    }
                case .damage(let offset, let length, let reason, let excerpt, _):
                    let hex = excerpt.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined(separator: " ")
                    if json {
                        var j = JSONLine()
                        j.string("file", file.name)
                        j.number("offset", offset)
                        j.number("length", length)
                        j.string("status", "damaged")
                        j.string("reason", reason)
                        j.string("excerpt", hex)
                        Output.shared.write(j.text + "\n")
                    } else {
                        Output.shared.write("  offset \(offset): DAMAGED, \(length) bytes: \(reason)\n      \(hex)\n")
                    }
                }
            }
            if file.preallocatedBytes > 0 {
                let offset = file.size - file.preallocatedBytes
                if json {
                    var j = JSONLine()
                    j.string("file", file.name)
                    j.number("offset", offset)
                    j.number("length", file.preallocatedBytes)
                    j.string("status", "preallocated")
                    Output.shared.write(j.text + "\n")
                } else {
                    Output.shared.write("  offset \(offset): \(file.preallocatedBytes) zero bytes allocated ahead (the end of the frames)\n")
                }
            }
        }
    }

    private static func payloadText(_ bytes: [UInt8], _ payload: PayloadDisplay) -> String? {
        switch payload {
        case .none: nil
        case .text: String(decoding: bytes, as: UTF8.self)
        case .hex: bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        case .base64: Data(bytes).base64EncodedString()
        }
    }

    static func jsonLine(_ m: StoredMessage, _ status: MessageStatus, payload: PayloadDisplay) -> String {
        var j = JSONLine()
        j.number("seq", m.seq)
        j.string("id", m.message.id.description)
        j.string("type", m.message.type)
        j.string("key", m.message.key)
        j.string("lane", m.message.lane.name)
        j.headers(m.message.headers)
        j.string("createdAt", rfc3339(micros: m.message.createdAtMicros))
        j.number("schemaVersion", m.message.schemaVersion)
        if let c = m.commitClock {
            var clock = JSONLine()
            clock.string("wall", rfc3339(micros: c.wallMicros))
            clock.string("bootID", c.bootID.uuidString.lowercased())
            clock.number("sinceBootMicros", c.bootMicros)
            clock.bool("synchronized", c.wallSynchronized)
            j.raw("commitClock", clock.text)
        } else {
            j.raw("commitClock", "null")
        }
        j.number("payloadSize", m.message.payload.count)
        j.string("status", status.rawValue)
        j.string("segment", m.segment)
        j.number("offset", m.offset)
        j.bool("compressed", m.compressed)
        if let p = payloadText(m.message.payload, payload) { j.string("payload", p) }
        return j.text
    }

    /// Sequence numbers lost to a repair, as `dump` and `dead-letters list` show them.
    static let lostReason = "unreadable, taken out by verify --repair or a quarantine (no dead letter: the content is gone)"

    static let droppedReason = "dropped to make room in the full disk budget (drop-oldest): never published"

    static func lostJSON(_ r: ClosedRange<UInt64>) -> String { goneJSON(r, "lost") }

    /// A row for numbers whose messages are gone: `lost` or `dropped`.
    static func goneJSON(_ r: ClosedRange<UInt64>, _ status: String) -> String {
        var j = JSONLine()
        j.number("seq", r.lowerBound)
        j.number("lastSeq", r.upperBound)
        j.string("status", status)
        j.string("reason", status == "lost" ? lostReason : droppedReason)
        return j.text
    }

    static func lostSpan(_ r: ClosedRange<UInt64>) -> String { r.count == 1 ? "\(r.lowerBound)" : "\(r.lowerBound)...\(r.upperBound)" }

    static func goneTableLine(_ r: ClosedRange<UInt64>, _ status: String) -> String {
        pad(lostSpan(r), 10) + "  " + pad("-", 27) + "  " + pad("-", 20) + "  " + pad("-", 16) + "  " + pad("-", 8) + "  " + pad("-", 8)
            + "  \(status) (\(status == "lost" ? lostReason : droppedReason))"
    }

    static func tableLine(_ m: StoredMessage, _ status: MessageStatus, payload: PayloadDisplay) -> String {
        var line = pad("\(m.seq)", 10) + "  " + pad(rfc3339(micros: m.message.createdAtMicros), 27) + "  "
            + pad(escaped(m.message.type), 20) + "  " + pad(m.message.key.map(escaped) ?? "-", 16) + "  " + pad("\(m.message.payload.count)", 8)
            + "  " + pad(m.message.lane.name, 8) + "  " + status.rawValue
        if let v = m.message.schemaVersion { line += "\n" + String(repeating: " ", count: 12) + "schema version \(v)" }
        for h in m.message.headers { line += "\n" + String(repeating: " ", count: 12) + "\(escaped(h.name)): \(escaped(h.value))" }
        if let p = payloadText(m.message.payload, payload) { line += "\n" + String(repeating: " ", count: 12) + escaped(p) }
        return line
    }

    /// `s` with control characters shown as `\u{…}`, so that stored text can never move the terminal's
    /// cursor or forge a line of the table.
    static func escaped(_ s: String) -> String {
        guard s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { return s }
        return s.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}

import ArgumentParser
import Foundation
import Outbox

enum PayloadDisplay: String, ExpressibleByArgument, CaseIterable {
    case none, text, hex, base64
}

enum StatusFilter: String, ExpressibleByArgument, CaseIterable {
    case pending, published, dead, all
}

struct DumpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dump",
        abstract: "List the messages of an outbox (read-only; safe while a writer and a relay run).")

    @Argument(help: "The outbox directory.") var dir: String
    @Flag(help: "JSON Lines, one object per message.") var json = false
    @Option(help: "Start at this sequence number.") var from: UInt64 = 1
    @Option(help: "Stop after this many messages.") var limit: Int?
    @Option(help: "Which messages: pending, published, dead or all.") var status: StatusFilter = .all
    @Option(help: "Only messages of this type.") var type: String?
    @Option(help: "Only messages with this key.") var key: String?
    @Option(help: "How to show payloads: none, text, hex or base64.") var payload: PayloadDisplay = .none

    func run() async throws {
        try await reportingErrors {
            _ = CLILogging.bootstrap
            let reader = try OutboxReader(path: dir)
            let tombstones = try reader.tombstones()
            var shown = 0
            let limit = self.limit ?? .max
            if !json {
                Output.shared.write(pad("SEQ", 10) + "  " + pad("CREATED", 27) + "  " + pad("TYPE", 20) + "  "
                                    + pad("KEY", 16) + "  " + pad("SIZE", 8) + "  STATUS\n")
            }
            guard limit > 0 else { return }
            try reader.forEachMessage(from: from) { m in
                let st = tombstones.status(of: m.seq)
                if status != .all && st.rawValue != status.rawValue { return true }
                if let type, m.message.type != type { return true }
                if let key, m.message.key != key { return true }
                Output.shared.write((json ? jsonLine(m, st) : tableLine(m, st)) + "\n")
                shown += 1
                return shown < limit
            }
        }
    }

    private func payloadText(_ bytes: [UInt8]) -> String? {
        switch payload {
        case .none: nil
        case .text: String(decoding: bytes, as: UTF8.self)
        case .hex: bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
        case .base64: Data(bytes).base64EncodedString()
        }
    }

    private func jsonLine(_ m: StoredMessage, _ status: MessageStatus) -> String {
        var j = JSONLine()
        j.number("seq", m.seq)
        j.string("id", m.message.id.description)
        j.string("type", m.message.type)
        j.string("key", m.message.key)
        j.raw("headers", "[" + m.message.headers.map { "{\"name\":\(JSONLine.quote($0.name)),\"value\":\(JSONLine.quote($0.value))}" }
            .joined(separator: ",") + "]")
        j.string("createdAt", rfc3339(micros: m.message.createdAtMicros))
        j.number("payloadSize", m.message.payload.count)
        j.string("status", status.rawValue)
        j.string("segment", m.segment)
        j.number("offset", m.offset)
        j.bool("compressed", m.compressed)
        if let p = payloadText(m.message.payload) { j.string("payload", p) }
        return j.text
    }

    private func tableLine(_ m: StoredMessage, _ status: MessageStatus) -> String {
        var line = pad("\(m.seq)", 10) + "  " + pad(rfc3339(micros: m.message.createdAtMicros), 27) + "  "
            + pad(m.message.type, 20) + "  " + pad(m.message.key ?? "-", 16) + "  " + pad("\(m.message.payload.count)", 8)
            + "  " + status.rawValue
        for h in m.message.headers { line += "\n" + String(repeating: " ", count: 12) + "\(h.name): \(h.value)" }
        if let p = payloadText(m.message.payload) { line += "\n" + String(repeating: " ", count: 12) + p }
        return line
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
    }
}

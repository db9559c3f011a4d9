import Foundation
import Testing
@testable import Outbox

/// The outboxes in `Fixtures/outboxes`, each with the outcome its `expected.json` records.
struct Fixture: CustomTestStringConvertible, Sendable {
    let name: String
    let directory: String
    let expected: [String: String]
    var testDescription: String { name }

    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/outboxes").path

    static var all: [Fixture] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root).sorted()) ?? []
        return names.compactMap { name in
            let dir = root + "/" + name
            guard let data = FileManager.default.contents(atPath: dir + "/expected.json"),
                  let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
            return Fixture(name: name, directory: dir + "/outbox", expected: object.mapValues { "\($0)" })
        }
    }

    /// A private copy to open (recovery may truncate, and checkouts may leave the directory group-writable).
    func copy(into tmp: TemporaryDirectory) throws -> String {
        let dir = tmp.sub(name)
        try copyDirectory(directory, dir)
        chmod(dir, 0o700)
        return dir
    }
}

@Suite("Fixtures")
struct FixtureTests {
    @Test func thereAreFixtures() {
        #expect(Fixture.all.count >= 7, "Fixtures/outboxes at \(Fixture.root)")
    }

    @Test(arguments: Fixture.all)
    func openingGivesTheExpectedOutcome(_ fixture: Fixture) async throws {
        let tmp = TemporaryDirectory()
        let dir = try fixture.copy(into: tmp)
        let e = fixture.expected
        if e["open"] == "ok" {
            let outbox = try Outbox(openingAt: dir, logger: quietLogger)
            try outbox.closeBlocking()
            let messages = try OutboxReader(path: dir).messages()
            #expect(messages.map(\.seq) == Array(1...UInt64(Int(e["messages"]!)!)))
            #expect(messages.allSatisfy { (e["kind"] == "routes" || $0.message.type == "FixtureEvent") && $0.message.headers == [.init("source", "fixtures")] })
            if let file = e["file"], let size = e["sizeAfterOpen"] {
                #expect(try fileSize(dir + "/" + file) == Int(size)!)
            }
            if let n = e["segments"] { #expect(try segmentNames(dir).count == Int(n)!) }
        } else {
            let before = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
                .filter { $0 != DurableMarkFile.fileName }.map { ($0, try fileSize(dir + "/" + $0)) }
            // Open for writing, read (dump), tail (the relay, `tail`): the same file and offset.
            for attempt in ["writer", "reader", "tail"] {
                do {
                    switch attempt {
                    case "writer" where e["writer"] == "opens":
                        // Damage inside a sealed segment: open checks that segment by its seal alone.
                        let outbox = try Outbox(openingAt: dir, logger: quietLogger)
                        try outbox.closeBlocking()
                        continue
                    case "writer":
                        _ = try Outbox(openingAt: dir, logger: quietLogger)
                    case _ where attempt != "writer" && e["readers"] != nil:
                        // Readers take a zero frame header in the active segment for the end of what is
                        // written so far, without reading the space after it (FORMAT.md §7): they stop there.
                        let read = try OutboxReader(path: dir).messages().count
                        #expect(read == Int(e["readers"]!)!, "\(attempt) stops before the zeros: \(read) messages")
                        continue
                    case "reader":
                        _ = try OutboxReader(path: dir).messages()
                    default:
                        let reader = try OutboxReader(path: dir)
                        let tail = LogTail(directory: reader.directory, outboxID: reader.outboxID, from: 1)
                        while try !tail.read(limit: 1000).isEmpty {}
                    }
                    Issue.record("\(attempt) opened a damaged outbox")
                } catch let error as OutboxError {
                    #expect(error.code.rawValue == e["code"], "\(attempt): \(error)")
                    #expect(error.path?.hasSuffix("/" + e["file"]!) == true, "\(attempt): \(error)")
                    #expect(error.offset == Int64(e["offset"]!)!, "\(attempt): \(error)")
                }
            }
            // verify names the same problem first.
            let report = try OutboxInspector.verify(path: dir)
            let first = report.problems.first { $0.kind != .leftoverFile }
            #expect(first?.kind.rawValue == e["verifyKind"] && first?.file == e["file"] && first?.offset == Int64(e["offset"]!),
                    "verify: \(report.problems)")
            let after = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
                .filter { $0 != "writer.lock" && $0 != DurableMarkFile.fileName }.map { ($0, try fileSize(dir + "/" + $0)) }
            // (A writer that opens makes its lock and its durable mark, FORMAT.md §1c: neither holds data.)
            #expect(after.map(\.0) == before.map(\.0) && after.map(\.1) == before.map(\.1), "refusing changed nothing")
        }
    }

    /// What a relay of several routes left (FORMAT.md §5c): each message's status for the outbox and for
    /// each route, as `expected.json` lists them (`routeNAMEStatus`: the route's numbers in that status).
    @Test(arguments: Fixture.all.filter { $0.expected["kind"] == "routes" })
    func perRouteTombstonesReadAsWritten(_ fixture: Fixture) async throws {
        let tmp = TemporaryDirectory()
        let dir = try fixture.copy(into: tmp)
        func seqs(_ key: String) -> [UInt64] { (fixture.expected[key] ?? "").split(separator: ",").compactMap { UInt64($0) } }
        let t = try OutboxReader(path: dir).tombstones()
        for status in [MessageStatus.published, .unrouted, .pending] {
            for seq in seqs(status.rawValue) { #expect(t.status(of: seq) == status, "\(seq)") }
        }
        for (key, _) in fixture.expected where key.hasPrefix("route") {
            let rest = key.dropFirst("route".count)
            guard let split = rest.dropFirst().firstIndex(where: \.isUppercase),
                  let status = MessageStatus(rawValue: rest[split...].lowercased()) else { continue }
            let route = rest[..<split].lowercased()
            for seq in seqs(key) { #expect(t.status(of: seq, route: route) == status, "\(route): \(seq)") }
        }
        #expect(try OutboxInspector.verify(path: dir).isClean)
        let unrouted = try await runOutbox(["dump", dir, "--status", "unrouted", "--json"])
        #expect(unrouted.stdout.split(separator: "\n").count == seqs("unrouted").count, "\(unrouted.stdout)")
    }

    /// `verify --repair` on every damaged fixture: it keeps every byte it replaces (as `NAME.broken`, or
    /// `NAME.foreign` for another outbox's file), and leaves an outbox that verifies clean and opens for
    /// writing and reading with the expected messages; or it refuses, changing nothing.
    @Test(arguments: Fixture.all.filter { $0.expected["open"] == "error" })
    func repairKeepsEveryByteAndLeavesAnOutboxThatOpens(_ fixture: Fixture) async throws {
        let tmp = TemporaryDirectory()
        let dir = try fixture.copy(into: tmp)
        let originals = try FileManager.default.contentsOfDirectory(atPath: dir).sorted()
            .map { ($0, FileManager.default.contents(atPath: dir + "/" + $0) ?? Data()) }
        if fixture.expected["repair"] == "refused" {
            await #expect(throws: OutboxError.self) { try await OutboxInspector.repair(path: dir, logger: quietLogger) }
            return
        }
        let result = try await OutboxInspector.repair(path: dir, logger: quietLogger)
        #expect(result.remaining.isEmpty, "clean after repair: \(result.remaining) after \(result.actions)")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir)
        for (name, bytes) in originals {
            let same = FileManager.default.contents(atPath: dir + "/" + name) == bytes
            let kept = names.filter { $0.hasPrefix(name + ".broken") || $0.hasPrefix(name + ".foreign") }
                .contains { FileManager.default.contents(atPath: dir + "/" + $0) == bytes }
            #expect(same || kept, "\(name): changed without a copy of the original (\(result.actions))")
        }
        let messages = try OutboxReader(path: dir).messages()
        #expect(messages.count == Int(fixture.expected["messagesAfterRepair"] ?? "") , "\(result.actions)")
        let outbox = try Outbox(openingAt: dir, logger: quietLogger)
        try outbox.closeBlocking()
    }
}

import Foundation
import Testing
@testable import Outbox
import OutboxFuzzSupport

/// Every input a fuzzer ever crashed on (Fixtures/fuzz-regressions/<harness>/) replayed through the same
/// entry point; the seed inputs run too, so the harnesses' properties are checked on every `swift test`.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/fuzz-regressions").path

    static func inputs(_ harness: String) -> [String] {
        let dir = root + "/" + harness
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { dir + "/" + $0 }
    }

    @Test func segmentInputs() throws {
        let files = Self.inputs("FuzzSegment") + Fixture.all.flatMap { f in
            ((try? segmentNames(f.directory)) ?? []).map { f.directory + "/" + $0 }
        }
        #expect(!files.isEmpty)
        for file in files { OutboxFuzzing.segmentFile(Array(try Data(contentsOf: URL(fileURLWithPath: file)))) }
    }

    @Test func tombstoneInputs() throws {
        for file in Self.inputs("FuzzTombstones") { OutboxFuzzing.tombstoneBody(Array(try Data(contentsOf: URL(fileURLWithPath: file)))) }
        OutboxFuzzing.tombstoneBody([3, 1, 5, 3, 0, 10, 7])
        // Route frames' bodies (FORMAT.md §5c) go through the same harness.
        OutboxFuzzing.tombstoneBody([2] + RouteTombstoneCodec.encodeRanges(route: "cloud", status: .dead, [3...5, 9...9]))
        OutboxFuzzing.tombstoneBody([1] + RouteTombstoneCodec.encodeStart(route: "a.b"))
    }

    @Test func directoryInputs() throws {
        for file in Self.inputs("FuzzDirectory") {
            _ = OutboxFuzzing.directory(Array(try Data(contentsOf: URL(fileURLWithPath: file))))
        }
    }

    /// The directory harness runs on an in-memory file system: a real outbox packed into its input
    /// must recover, take an append that reads back, and be acknowledged and compacted.
    @Test func theDirectoryHarnessWritesToAValidOutbox() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        for i in 1...5 { try await outbox.append(sampleMessage(i)) }
        try await outbox.close()
        let names = try segmentNames(dir)
        #expect(names == [FileNames.segment(1)])
        let input = OutboxFuzzing.directoryInput(try names.map { ($0, Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0)))) })
        #expect(OutboxFuzzing.directory(input) == 6)
        #expect(OutboxFuzzing.directory(Array(input.dropLast())) == 5, "the torn last commit is cut (it never became durable) and the append takes its number")
    }
}

import Foundation
import Testing
@_spi(Fuzzing) @testable import Outbox

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
    }

    @Test func directoryInputs() throws {
        for file in Self.inputs("FuzzDirectory") {
            let tmp = TemporaryDirectory()
            let dir = tmp.sub("ob")
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            OutboxFuzzing.directory(Array(try Data(contentsOf: URL(fileURLWithPath: file))), in: dir)
        }
    }
}

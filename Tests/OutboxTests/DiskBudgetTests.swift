import Foundation
import Testing
@testable import Outbox

/// The disk budget (FORMAT.md §1b): appends stop with `outbox-full` before the budget is passed, nothing
/// acknowledged is lost, and once a relay drains, space comes back and appends succeed again, on the
/// same open outbox.
@Suite("Disk budget")
struct DiskBudgetTests {
    @Test func appendsStopAtTheBudgetAndResumeOnceTheRelayDrainsWithoutAReopen() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var c = OutboxConfiguration()
        c.maxDiskBytes = 1 << 20
        let outbox = try await Outbox.open(at: dir, configuration: c, logger: quietLogger)
        var acknowledged: [UInt64] = []
        var full: OutboxError?
        while full == nil {
            do { acknowledged.append(try await outbox.append(sampleMessage(acknowledged.count, payloadSize: 200))) } catch let e as OutboxError {
                full = e
            }
        }
        #expect(full?.code == .outboxFull && full?.message.contains("1048576-byte disk budget") == true, "\(String(describing: full))")
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        #expect(try DiskBudget.usage(of: directory) <= 1 << 20, "the budget is never passed")
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == acknowledged, "every acknowledged message is there")
        #expect(try OutboxReader(path: dir).stats().maxDiskBytes == 1 << 20, "every process sees the budget")
        await #expect(throws: OutboxError.self) { try await outbox.append(sampleMessage(0, payloadSize: 200)) }
        #expect(try OutboxReader(path: dir).stats().fullSinceMicros != nil, "stats says since when it is full")

        let sink = RecordingSink()
        try await running(OutboxRelay(path: dir, sink: sink, configuration: relayConfiguration(), outbox: outbox, logger: quietLogger)) {
            try await eventually("the backlog drains") { sink.published.count == acknowledged.count }
            // Segments are at most 1/16 of the budget; compaction gives them back as they finish.
            try await eventually("space comes back to within one segment") { try DiskBudget.usage(of: directory) <= (1 << 20) / 16 + (16 << 10) }
            let again = try await outbox.append(sampleMessage(0, payloadSize: 200))
            #expect(again == acknowledged.last! + 1, "appends succeed again without a reopen")
            #expect(try OutboxReader(path: dir).stats().fullSinceMicros == nil, "no longer full")
        }
        try await outbox.close()
    }

    @Test func theToolSetsTheBudgetStopsWithOneLineAndDrains() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let r = try await runOutbox(["append", dir, "--max-disk", "2M", "--count", "1000000", "--payload-size", "200", "--print-ack"])
        #expect(r.status == 75, "EX_TEMPFAIL: \(r.stderr)")
        #expect(r.stderr.hasPrefix("outbox: error [outbox-full]: ") && r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        let acks = r.stdout.split(separator: "\n").compactMap { UInt64($0) }
        #expect(try OutboxReader(path: dir).messages().map(\.seq) == acks, "every acknowledged message is there")
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        #expect(try DiskBudget.usage(of: directory) <= 2 << 20)
        let stats = try await runOutbox(["stats", dir])
        #expect(stats.stdout.contains("of 2.0 MiB used"), "\(stats.stdout)")
        let exact = try await runOutbox(["stats", dir, "--bytes"])
        #expect(exact.stdout.contains("of 2097152 B used"), "\(exact.stdout)")
        #expect(try await runOutbox(["append", dir, "--max-disk", "2X"]).status == 64, "a size it cannot read")
        #expect(try await runOutbox(["append", dir, "--count", "1", "--payload-size", "200"]).status == 75, "the budget is kept in the outbox")
        #expect(try await runOutbox(["append", dir, "--count", "1", "--max-disk", "0"]).status == 0, "0 removes it")
        #expect(try OutboxReader(path: dir).stats().maxDiskBytes == nil)
    }
}

import Foundation
import Testing
@testable import Outbox

@Suite("SIGKILL", .serialized)
struct KillTests {
    /// Starts `outbox append --print-ack`, kills it with SIGKILL once it has acknowledged a seeded number
    /// of messages, and checks after every reopen that each acknowledged sequence number is still there.
    @Test func everyAcknowledgedMessageSurvivesSIGKILL() async throws {
        let seed = testSeed("everyAcknowledgedMessageSurvivesSIGKILL")
        var g = SeededGenerator(seed: seed)
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        var acknowledged = Set<UInt64>()
        let rounds = 6
        for round in 0..<rounds {
            let target = Int.random(in: 50...4000, using: &g)
            let executable = try outboxExecutable()
            // Reading the child's output and waiting for it block, so they run on a thread of their own.
            let (text, killedBySignal, progressed) = try await onOwnThread { () throws -> (String, Bool, Bool) in
                let process = ChildProcess()
                process.executableURL = executable
                process.arguments = ["append", dir, "--count", "1000000", "--concurrency", "8", "--keys", "10",
                                     "--print-ack", "--segment-size", "65536"]
                let out = Pipe()
                process.standardOutput = out
                process.standardError = FileHandle.nullDevice
                try process.run()
                var text = ""
                var seen = 0
                var progressed = true
                let deadline = Date().addingTimeInterval(60)
                while seen < target {
                    let data = out.fileHandleForReading.availableData
                    if data.isEmpty { break }
                    let chunk = String(decoding: data, as: UTF8.self)
                    seen += chunk.filter { $0 == "\n" }.count
                    text += chunk
                    if Date() >= deadline { progressed = false; break }
                }
                kill(process.processIdentifier, SIGKILL)
                text += String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                process.waitUntilExit()
                return (text, process.terminationReason == .uncaughtSignal, progressed)
            }
            #expect(progressed, "round \(round): no progress in 60 s")
            #expect(killedBySignal, "round \(round): the writer was killed")
            let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
            acknowledged.formUnion(lines.compactMap { UInt64($0) })

            // Reopen (recovery runs), then every acknowledged message must be readable, numbering dense.
            let outbox = try Outbox(openingAt: dir, logger: quietLogger)
            try outbox.closeBlocking()
            let stored = try OutboxReader(path: dir).messages().map(\.seq)
            #expect(stored == Array(1...UInt64(stored.count)), "round \(round), seed \(seed): dense from 1")
            let missing = acknowledged.subtracting(stored)
            #expect(missing.isEmpty, "round \(round), seed \(seed): \(missing.count) acknowledged messages lost, e.g. \(missing.sorted().prefix(5))")
        }
        print("[everyAcknowledgedMessageSurvivesSIGKILL] \(rounds) kills, \(acknowledged.count) acknowledged messages checked")
        #expect(acknowledged.count >= rounds * 50)
    }
}

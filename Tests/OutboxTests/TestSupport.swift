import Foundation
import Logging
import Testing
@testable import Outbox

/// A fresh temporary directory, removed when the value is released.
final class TemporaryDirectory: @unchecked Sendable {
    let path: String

    init(_ name: String = "outbox-test") {
        let template = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("\(name)-XXXXXX").path
        var bytes = Array(template.utf8CString)
        let p = mkdtemp(&bytes)!
        path = String(cString: p)
    }

    /// A path inside the directory (not created).
    func sub(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A logger that drops everything (tests assert on results, not on log lines).
let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// A message with every field set, distinguishable by `n`.
func sampleMessage(_ n: Int, key: String? = nil, payloadSize: Int? = nil) -> OutboxMessage {
    OutboxMessage(
        type: "UserRegistered", key: key ?? "user-\(n % 7)",
        headers: [.init("traceparent", "00-\(n)-01"), .init("x-n", "\(n)")],
        payload: payloadSize.map { size in (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ n) } }
            ?? Array("{\"user\":\(n)}".utf8))
}

func configuration(segmentSize: Int = 64 << 20, sys: (any SystemCalls)? = nil) -> OutboxConfiguration {
    var c = OutboxConfiguration()
    c.segmentSize = segmentSize
    if let sys { c.systemCalls = sys }
    return c
}

/// Copies directory `from` to a new directory `to`.
func copyDirectory(_ from: String, _ to: String) throws {
    try FileManager.default.copyItem(atPath: from, toPath: to)
}

func fileSize(_ path: String) throws -> Int {
    (try FileManager.default.attributesOfItem(atPath: path)[.size] as! NSNumber).intValue
}

func segmentNames(_ dir: String) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasPrefix("segment-") }.sorted()
}

/// The `outbox` executable built next to the test bundle.
func outboxExecutable() throws -> URL {
    let start = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = start.deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("outbox")
        if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    throw OutboxError(.invalidArgument, "cannot find the outbox executable near \(start.path); run swift build first")
}

/// Runs blocking work (waiting on a child process, a long CPU-bound enumeration, blocking appends) on a
/// thread of its own. Swift Testing runs tests in parallel on the cooperative pool, which has one thread
/// per core: two on CI. A test that blocks a pool thread for seconds starves every other test's
/// relays and deadlines, so no test body blocks one.
func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Runs the `outbox` tool and returns its exit status, standard output and standard error.
func runOutbox(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runProgram(try outboxExecutable(), arguments)
}

/// Runs a program to its end, on a thread of its own, and returns its exit status, standard output and
/// standard error.
func runProgram(_ executable: URL, _ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await onOwnThread { try runProgramBlocking(executable, arguments) }
}

private func runProgramBlocking(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// A seed for a randomized test: `OUTBOX_TEST_SEED` if set, else random; always printed.
func testSeed(_ name: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["OUTBOX_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
    print("[\(name)] seed \(seed) (rerun with OUTBOX_TEST_SEED=\(seed))")
    return seed
}

/// SplitMix64: a small deterministic generator for seeded tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Waits until `condition` holds, checking every few milliseconds, or fails after `timeout`.
func eventually(_ what: String, timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    if try await condition() { return }
    Issue.record("timed out after \(timeout) waiting for: \(what)")
    throw CancellationError()
}

/// A sink that records what it published and can fail messages on demand.
final class RecordingSink: OutboxSink, @unchecked Sendable {
    private let lock = NSLock()
    private var _published: [StoredMessage] = []
    private var _attempts: [UInt64: Int] = [:]
    /// Decides the outcome of one attempt (the attempt number counts from 1).
    let decide: @Sendable (StoredMessage, Int) -> PublishOutcome

    init(decide: @escaping @Sendable (StoredMessage, Int) -> PublishOutcome = { _, _ in .published }) {
        self.decide = decide
    }

    var published: [StoredMessage] {
        lock.lock()
        defer { lock.unlock() }
        return _published
    }

    func attempts(_ seq: UInt64) -> Int {
        lock.lock()
        defer { lock.unlock() }
        return _attempts[seq] ?? 0
    }

    func publish(_ batch: [StoredMessage]) async -> [PublishOutcome] {
        await publishInOrder(batch) { m in attempt(m) }
    }

    private func attempt(_ m: StoredMessage) -> PublishOutcome {
        lock.withLock {
            _attempts[m.seq, default: 0] += 1
            let outcome = decide(m, _attempts[m.seq]!)
            if outcome == .published { _published.append(m) }
            return outcome
        }
    }
}

/// Checks that, per key, the first time each sequence number was published came in increasing order.
func perKeyOrderHolds(_ seqsByKey: [(key: String?, seq: UInt64)]) -> Bool {
    var seen = Set<UInt64>()
    var last: [String: UInt64] = [:]
    for (key, seq) in seqsByKey {
        guard seen.insert(seq).inserted, let key else { continue }
        if let previous = last[key], previous > seq { return false }
        last[key] = seq
    }
    return true
}

func relayConfiguration(sweep: Duration = .seconds(3600), maxAttempts: Int = 10, sys: (any SystemCalls)? = nil) -> OutboxRelayConfiguration {
    var c = OutboxRelayConfiguration()
    c.sweepInterval = sweep
    c.minimumAge = .zero
    c.maxAttempts = maxAttempts
    c.initialBackoff = .milliseconds(1)
    c.maxBackoff = .milliseconds(20)
    c.standbyPollInterval = .milliseconds(50)
    if let sys { c.systemCalls = sys }
    return c
}

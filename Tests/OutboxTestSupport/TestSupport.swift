import Foundation
import Logging
import Outbox
import Synchronization
import Testing

// Helpers shared by every test target: temporary directories, waiting on a condition with a deadline,
// running blocking work and child processes off the cooperative pool, seeds, order checks.

/// A fresh temporary directory, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    public let path: String

    public init(_ name: String = "outbox-test") {
        let template = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("\(name)-XXXXXX").path
        var bytes = Array(template.utf8CString)
        let p = mkdtemp(&bytes)!
        path = String(cString: p)
    }

    /// A path inside the directory (not created).
    public func sub(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// A logger that drops everything (tests assert on results, not on log lines).
public let quietLogger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

/// The `outbox` executable built next to the test bundle.
public func outboxExecutable() throws -> URL {
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
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        let thread = Thread { continuation.resume(with: Result { try body() }) }
        thread.stackSize = 8 << 20
        thread.start()
    }
}

/// Runs the `outbox` tool and returns its exit status, standard output and standard error; one still
/// running after `timeout` is killed (SIGKILL, status 9 with a line saying so on standard error), so that
/// a command that should have ended cannot hang the run.
public func runOutbox(_ arguments: [String], timeout: Duration = .seconds(600)) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await runProgram(try outboxExecutable(), arguments, timeout: timeout)
}

/// Runs a program to its end (killed after `timeout`), on a thread of its own, and returns its exit
/// status, standard output and standard error.
public func runProgram(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                       timeout: Duration = .seconds(600)) async throws -> (status: Int32, stdout: String, stderr: String) {
    try await onOwnThread { try runProgramBlocking(executable, arguments, environment: environment, timeout: timeout) }
}

private func runProgramBlocking(_ executable: URL, _ arguments: [String], environment: [String: String],
                                timeout: Duration) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = ChildProcess()
    process.executableURL = executable
    process.arguments = arguments
    if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // A watchdog of its own (a thread, not a dispatch worker: those may all be busy waiting).
    let done = Shared(false), killed = Shared(false)
    let pid = process.processIdentifier
    let watchdog = Thread {
        let deadline = ContinuousClock.now + timeout
        while !done.get() {
            if ContinuousClock.now >= deadline {
                killed.set(true)
                kill(pid, SIGKILL)
                return
            }
            usleep(50_000)
        }
    }
    watchdog.start()
    // Standard error is read on a thread of its own, so that a child filling one pipe while this thread
    // reads the other cannot block both.
    let errorOutput = ResultBox<Data>()
    Thread { errorOutput.set(.success(err.fileHandleForReading.readDataToEndOfFile())) }.start()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = (try? errorOutput.wait().get()) ?? Data()
    process.waitUntilExit()
    done.set(true)
    let stderr = String(decoding: e, as: UTF8.self) + (killed.get() ? "\n[killed: still running after \(timeout)]\n" : "")
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), stderr)
}

/// A seed for a randomized test: `OUTBOX_TEST_SEED` if set, else random; always printed.
public func testSeed(_ name: String) -> UInt64 {
    let seed = ProcessInfo.processInfo.environment["OUTBOX_TEST_SEED"].flatMap(UInt64.init) ?? UInt64.random(in: 1...UInt64.max)
    print("[\(name)] seed \(seed) (rerun with OUTBOX_TEST_SEED=\(seed))")
    return seed
}

/// SplitMix64: a small deterministic generator for seeded tests.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Waits until `condition` holds, checking every few milliseconds, or fails after `timeout` (60 s unless
/// given: with every suite at once on two cores, a condition that takes a second alone can take half a minute).
public func eventually(_ what: String, timeout: Duration = .seconds(60), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    if try await condition() { return }
    Issue.record("timed out after \(timeout) waiting for: \(what)")
    throw CancellationError()
}

/// Checks that, per key, the first time each sequence number was published came in increasing order.
public func perKeyOrderHolds(_ seqsByKey: [(key: String?, seq: UInt64)]) -> Bool {
    var seen = Set<UInt64>()
    var last: [String: UInt64] = [:]
    for (key, seq) in seqsByKey {
        guard seen.insert(seq).inserted, let key else { continue }
        if let previous = last[key], previous > seq { return false }
        last[key] = seq
    }
    return true
}


/// A stored message as the relay would hand it to a sink (payload: the sequence number in decimal).
public func stored(_ seq: UInt64, key: String?, type: String = "TestEvent", headers: [OutboxMessage.Header] = [], payload: [UInt8]? = nil) -> StoredMessage {
    let message = OutboxMessage(id: .v7(), type: type, key: key, headers: headers, payload: payload ?? Array("\(seq)".utf8))
    return StoredMessage(seq: seq, message: message, segment: "test", offset: 0, compressed: false)
}

/// A relay configuration for the broker tests: quick sweeps and retries, and no dead letters (a broker
/// down for a while must only delay messages).
public func brokerRelayConfiguration() -> OutboxRelayConfiguration {
    var c = OutboxRelayConfiguration()
    c.sweepInterval = .milliseconds(200)
    c.minimumAge = .zero
    c.initialBackoff = .milliseconds(20)
    c.maxBackoff = .milliseconds(200)
    c.maxAttempts = 1000
    return c
}

/// `count` events cycling through `types`, over `keys` keys, each with a `tenant` header; their ids are
/// set here (not at append), so that a test can look for them at the broker.
public func sampleEvents(_ count: Int, keys: Int, types: [String] = ["OrderPlaced", "UserRegistered"]) -> [OutboxMessage] {
    (1...count).map { i in
        OutboxMessage(id: .v7(), type: types[i % types.count], key: "k\(i % keys)", headers: [.init("tenant", "t\(i % 3)")],
                      payload: Array("event \(i)".utf8))
    }
}

/// Appends `messages` to a new outbox, one commit each, and runs a relay (in the same process) to
/// `sink` until nothing is pending; returns what was appended, by sequence number.
public func appendAndRelay(_ messages: [OutboxMessage], to sink: any OutboxSink, timeout: Duration = .seconds(30)) async throws -> [UInt64: OutboxMessage] {
    let tmp = TemporaryDirectory()
    let dir = tmp.sub("ob")
    let outbox = try await Outbox.open(at: dir, logger: quietLogger)
    var sent: [UInt64: OutboxMessage] = [:]
    for m in messages { sent[try await outbox.append(m)] = m }
    let relay = OutboxRelay(path: dir, sink: sink, configuration: brokerRelayConfiguration(), outbox: outbox, logger: quietLogger)
    let task = Task { try await relay.run() }
    try await eventually("every message published", timeout: timeout) { try OutboxReader(path: dir).stats().pending == 0 }
    task.cancel()
    try await task.value
    try await outbox.close()
    return sent
}

/// `GET url` through Python's urllib (no HTTP client library in the tests): the status and the body.
public func httpGet(_ url: String, method: String = "GET") async throws -> (status: Int, body: String) {
    let script = """
        import sys, urllib.request, urllib.error
        try:
            req = urllib.request.Request(sys.argv[1], method=sys.argv[2], data=b"" if sys.argv[2] == "POST" else None)
            r = urllib.request.urlopen(req, timeout=5); status, body = r.status, r.read()
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        sys.stdout.write(str(status) + "\\n" + body.decode())
        """
    let r = try await runProgram(URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-c", script, url, method])
    guard r.status == 0, let newline = r.stdout.firstIndex(of: "\n"), let status = Int(r.stdout[..<newline]) else {
        throw OutboxError(.io, "GET \(url) failed: \(r.stderr)")
    }
    return (status, String(r.stdout[r.stdout.index(after: newline)...]))
}

/// Counts calls from any thread (an observer a library calls back).
public final class CallCounter: Sendable {
    private let calls = Mutex(0)
    public init() {}
    public func increment() { calls.withLock { $0 += 1 } }
    public var count: Int { calls.withLock { $0 } }
}

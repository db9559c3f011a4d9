import Foundation
import Outbox
import Synchronization

/// A program a test starts (the `outbox` tool, a broker, a reader in Python), in place of Foundation's
/// `Process`, which the tests used to start them with and which let them hang:
///
/// - A child of `Process` inherits every descriptor opened between another launch's look at the open
///   descriptors and its spawn, on any thread: the pipes of a tool another test runs, and the socket by
///   which `Process` learns that that tool exited. A broker started in that window keeps the tool looking
///   alive (its output never ends, `isRunning` stays true) until the broker stops, and a wait for it on the
///   cooperative pool holds a pool thread that long: with two threads, every in-process relay stalls, and
///   a second such wait stops the run. Here the child closes every descriptor but 0, 1 and 2 as it starts
///   (`posix_spawn_file_actions_addclosefrom_np`), whatever other threads open meanwhile.
/// - Its exit is read with `waitpid` when asked (``isRunning``), not by a thread `Process` shares among all
///   its children.
/// - It starts with no signal blocked and every signal at its default action, as from a shell or systemd
///   (a child of `Process` inherits the starting thread's mask, in which the test runner blocks nearly
///   every signal).
///
/// The properties a test sets before ``run()`` and reads after mirror `Process`'s.
public final class ChildProcess: @unchecked Sendable {
    public enum TerminationReason: Sendable { case exit, uncaughtSignal }

    public var executableURL: URL?
    public var arguments: [String] = []
    /// The child's environment; `nil` (the default) passes this process's.
    public var environment: [String: String]?
    /// Where the child's standard output goes: a `FileHandle` (`FileHandle.nullDevice` for nowhere), the
    /// writing end of a `Pipe`, or `nil` for this process's own. Standard input is always /dev/null.
    public var standardOutput: Any?
    /// Where the child's standard error goes, as ``standardOutput``.
    public var standardError: Any?

    private struct State {
        var pid: pid_t = 0
        var status: Int32?
    }
    private let state = Mutex(State())

    public init() {}

    /// The child's pid (0 before ``run()``).
    public var processIdentifier: Int32 { state.withLock { $0.pid } }

    /// Starts the program; throws (naming it) if it cannot be spawned.
    public func run() throws {
        guard let path = executableURL?.path else { throw OutboxError(.invalidArgument, "a child process needs an executable") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        try redirect(1, to: standardOutput, in: &actions)
        try redirect(2, to: standardError, in: &actions)
        let closing = addCloseFrom(&actions, 3)
        guard closing == 0 else { throw OutboxError(.io, "posix_spawn cannot close inherited descriptors", errno: closing) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), every = sigset_t()
        sigemptyset(&none)
        sigfillset(&every)
        sigdelset(&every, SIGKILL)
        sigdelset(&every, SIGSTOP)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &every)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + env { free(p) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, path, &actions, &attributes, argv, env)
        guard rc == 0 else { throw OutboxError(.io, "cannot start \(path)", errno: rc) }
        state.withLock { $0.pid = pid }
        // The child has its own copies of the pipes' writing ends: without closing ours, a reader of the
        // pipe would never see its end.
        for case let pipe as Pipe in [standardOutput, standardError] { try? pipe.fileHandleForWriting.close() }
    }

    private func redirect(_ fd: Int32, to target: Any?, in actions: inout posix_spawn_file_actions_t) throws {
        switch target {
        case nil:
            return
        case let pipe as Pipe:
            posix_spawn_file_actions_adddup2(&actions, pipe.fileHandleForWriting.fileDescriptor, fd)
        case let handle as FileHandle where handle === FileHandle.nullDevice || handle.fileDescriptor < 0:
            posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_WRONLY, 0)
        case let handle as FileHandle:
            posix_spawn_file_actions_adddup2(&actions, handle.fileDescriptor, fd)
        default:
            throw OutboxError(.invalidArgument, "a child's output goes to a FileHandle or a Pipe, not \(type(of: target!))")
        }
    }

    /// Whether the child has not exited yet (once it has, it is reaped and its status kept).
    public var isRunning: Bool {
        state.withLock { s in
            guard s.pid > 0, s.status == nil else { return false }
            var status: Int32 = 0
            let r = waitpid(s.pid, &status, WNOHANG)
            if r == s.pid { s.status = status } else if r < 0 && errno == ECHILD { s.status = 0 }
            return s.status == nil
        }
    }

    /// Blocks until the child has exited (polling every 2 ms): call it off the cooperative pool.
    public func waitUntilExit() {
        while isRunning { usleep(2_000) }
    }

    /// Sends the child SIGTERM.
    public func terminate() {
        let pid = processIdentifier
        if pid > 0 { kill(pid, SIGTERM) }
    }

    /// The exit status, or the number of the signal that ended the child (after it has exited).
    public var terminationStatus: Int32 {
        let status = state.withLock { $0.status } ?? 0
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    /// Whether the child exited or a signal ended it (after it has exited).
    public var terminationReason: TerminationReason {
        (state.withLock { $0.status } ?? 0) & 0x7f == 0 ? .exit : .uncaughtSignal
    }
}

/// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34 and later; its header declares it only for
/// `_GNU_SOURCE`), looked up at run time: 0, or an error number (ENOSYS where the C library lacks it).
private func addCloseFrom(_ actions: inout posix_spawn_file_actions_t, _ from: Int32) -> Int32 {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return ENOSYS }
    return unsafeBitCast(symbol, to: AddCloseFrom.self)(&actions, from)
}

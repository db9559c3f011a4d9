#if canImport(Glibc)
import Glibc
#endif
import Logging

/// Which of the files a relay follows changed (``DirectoryWatcher``): with an overflow of the event
/// queue, all of them.
struct DirectoryChanges: OptionSet, Sendable {
    let rawValue: UInt8
    /// A segment (a commit, a roll).
    static let segments = DirectoryChanges(rawValue: 1)
    /// The dead-letter file (where redrive requests arrive).
    static let deadLetters = DirectoryChanges(rawValue: 2)
    /// `dropped.log` (the writer dropped messages to make room).
    static let dropped = DirectoryChanges(rawValue: 4)
    static let all: DirectoryChanges = [.segments, .deadLetters, .dropped]
}

/// Watches the outbox directory with inotify and says which of its followed files (segments, the
/// dead-letter file, `dropped.log`) were written or created, from any process. All events read in one go
/// become one call.
///
/// A ``BlockingExecutor`` of its own blocks in `poll` on the inotify descriptor (and a pipe used to stop
/// it), so nothing blocks on Swift's cooperative pool.
final class DirectoryWatcher: @unchecked Sendable {
    private let inotifyFD: Int32
    private let stopRead: Int32
    private let stopWrite: Int32
    private let stopped = Shared(false)
    private let onChange: @Sendable (DirectoryChanges) -> Void
    private let executor = BlockingExecutor(name: "outbox-inotify")

    /// Starts watching `path`, calling `onChange` (on the watcher's thread) after each burst of events
    /// that concern a followed file, with what changed; nil (with a warning logged) when inotify is
    /// unavailable, for example when the per-user watch limit is reached.
    init?(path: String, logger: Logger, onChange: @escaping @Sendable (DirectoryChanges) -> Void) {
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else {
            logger.warning("inotify is unavailable; the relay works by sweeping alone",
                           metadata: ["errno": "\(errno)", "path": "\(path)"])
            return nil
        }
        let mask = UInt32(IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE)
        guard inotify_add_watch(fd, path, mask) >= 0 else {
            logger.warning("cannot watch the outbox directory; the relay works by sweeping alone",
                           metadata: ["errno": "\(errno)", "path": "\(path)"])
            close(fd)
            return nil
        }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            return nil
        }
        inotifyFD = fd
        stopRead = pipeFDs[0]
        stopWrite = pipeFDs[1]
        _ = fcntl(stopRead, F_SETFD, FD_CLOEXEC)
        _ = fcntl(stopWrite, F_SETFD, FD_CLOEXEC)
        self.onChange = onChange
        // The watch is the executor's only job; the executor's thread ends with it.
        executor.start { [self] in loop() }
    }

    private func loop() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        var fds = [pollfd(fd: inotifyFD, events: Int16(POLLIN), revents: 0), pollfd(fd: stopRead, events: Int16(POLLIN), revents: 0)]
        while true {
            let rc = poll(&fds, 2, -1)
            if rc < 0 {
                if errno == EINTR { continue }
                break
            }
            if fds[1].revents != 0 { break }
            guard fds[0].revents != 0 else { continue }
            var changes: DirectoryChanges = []
            while true {
                let n = buffer.withUnsafeMutableBytes { read(inotifyFD, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                changes.formUnion(Self.changes(in: buffer, count: n))
            }
            if !changes.isEmpty { onChange(changes) }
        }
        close(inotifyFD)
        close(stopRead)
        executor.finishQueued()
    }

    /// The followed files the events in `buffer` name (all of them after an overflow).
    static func changes(in buffer: [UInt8], count: Int) -> DirectoryChanges {
        var changes: DirectoryChanges = []
        var i = 0
        let headerSize = 16
        while i + headerSize <= count {
            let mask = ByteReader.u32(buffer, at: i + 4)
            let length = Int(ByteReader.u32(buffer, at: i + 12))
            if mask & UInt32(IN_Q_OVERFLOW) != 0 { return .all }
            let nameStart = i + headerSize
            let nameEnd = min(count, nameStart + length)
            let name = buffer[nameStart..<nameEnd].prefix { $0 != 0 }
            if name.starts(with: Array(FileNames.segmentPrefix.utf8)) { changes.insert(.segments) }
            else if name.elementsEqual(FileNames.deadLetters.utf8) { changes.insert(.deadLetters) }
            else if name.elementsEqual(FileNames.dropped.utf8) { changes.insert(.dropped) }
            i = nameStart + length
        }
        return changes
    }

    /// Stops the watch (idempotent); its thread ends once `poll` returns.
    func stop() {
        var first = false
        stopped.mutate { s in
            first = !s
            s = true
        }
        guard first else { return }
        var one: UInt8 = 1
        _ = write(stopWrite, &one, 1)
        close(stopWrite)
    }
}

import Foundation

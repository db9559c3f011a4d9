#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// Random bits for new message ids, drawn 4 KiB at a time, so that making a message costs no system
/// call (one `arc4random_buf` per 256 ids instead of a `getrandom` per random word).
///
/// A forked child must not hand out the same bits as its parent: a fork handler bumps a generation
/// number, and the pool refills when the generation it was filled in is not the current one.
enum RandomPool {
    private struct State {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512
        var generation: UInt64 = 0
    }

    private static let forks = Atomic<UInt64>(0)
    private static let state: Mutex<State> = {
        pthread_atfork(nil, nil, { RandomPool.forks.add(1, ordering: .relaxed) })
        return Mutex(State())
    }()

    /// Two fresh random words.
    static func twoWords() -> (UInt64, UInt64) {
        let generation = forks.load(ordering: .relaxed)
        return state.withLock { s in
            if s.next + 2 > s.words.count || s.generation != generation {
                refill(&s.words)
                s.next = 0
                s.generation = generation
            }
            defer { s.next += 2 }
            return (s.words[s.next], s.words[s.next + 1])
        }
    }

    /// One `arc4random_buf` call (glibc: the kernel's `getrandom`, or a generator it seeds).
    private static func refill(_ words: inout [UInt64]) {
        words.withUnsafeMutableBytes { arc4random_buf($0.baseAddress!, $0.count) }
    }
}

#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// Where the outbox reads the time: the wall clock, the boot's id and the time since boot, in one
/// ``ClockReading``.
///
/// ``system`` reads the machine's clocks; a test (an app's too) can give the writer
/// (``OutboxConfiguration/clock``) and the relay (``OutboxRelayConfiguration/clock``) a clock of its own
/// to make the wall clock jump.
public struct OutboxClock: Sendable {
    private let read: @Sendable () -> ClockReading

    /// A clock that reads with `read`.
    public init(_ read: @escaping @Sendable () -> ClockReading) { self.read = read }

    /// The clocks now.
    public func now() -> ClockReading { read() }

    /// The machine's clocks: `CLOCK_REALTIME`, `/proc/sys/kernel/random/boot_id` (read once),
    /// `CLOCK_BOOTTIME`, and whether the kernel says the wall clock is synchronized (`adjtimex(2)`, asked
    /// at most once a second).
    public static let system = OutboxClock { SystemClock.shared.read() }
}

/// The machine's clocks, behind ``OutboxClock/system``.
private final class SystemClock: Sendable {
    static let shared = SystemClock()

    let bootID: UUID
    /// `adjtimex(2)`, found at run time (Swift's Glibc module does not bring `<sys/timex.h>`).
    private let adjtimex: (@convention(c) (UnsafeMutableRawPointer) -> Int32)?
    /// When synchronization was last asked (time since boot, µs) and the answer, in one word: the time
    /// shifted left by one, the answer in bit 0.
    private let synchronized = Atomic<Int64>(-1)

    private init() {
        let text = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)) ?? ""
        bootID = UUID(uuidString: text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? ClockReading.unknownBoot
        #if canImport(Glibc)
        adjtimex = dlsym(dlopen(nil, RTLD_NOW), "adjtimex").map { unsafeBitCast($0, to: (@convention(c) (UnsafeMutableRawPointer) -> Int32).self) }
        #else
        adjtimex = nil
        #endif
    }

    func read() -> ClockReading {
        var wall = timespec(), boot = timespec()
        clock_gettime(CLOCK_REALTIME, &wall)
        #if canImport(Glibc)
        clock_gettime(CLOCK_BOOTTIME, &boot)
        #else
        clock_gettime(CLOCK_MONOTONIC, &boot)
        #endif
        let bootMicros = Int64(boot.tv_sec) * 1_000_000 + Int64(boot.tv_nsec) / 1000
        return ClockReading(wallMicros: Int64(wall.tv_sec) * 1_000_000 + Int64(wall.tv_nsec) / 1000, bootID: bootID,
                            bootMicros: bootMicros, wallSynchronized: isSynchronized(at: bootMicros))
    }

    private func isSynchronized(at bootMicros: Int64) -> Bool {
        let last = synchronized.load(ordering: .relaxed)
        if last >= 0, bootMicros - (last >> 1) < 1_000_000 { return last & 1 == 1 }
        guard let adjtimex else { return false }
        // struct timex is 208 bytes on 64-bit Linux; `modes` 0 only reads. The result is the clock state:
        // TIME_ERROR (5) while the clock is not synchronized (STA_UNSYNC), -1 on failure.
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 16)
        defer { buffer.deallocate() }
        buffer.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        let state = adjtimex(buffer)
        let answer = state >= 0 && state != 5
        synchronized.store(bootMicros << 1 | (answer ? 1 : 0), ordering: .relaxed)
        return answer
    }
}

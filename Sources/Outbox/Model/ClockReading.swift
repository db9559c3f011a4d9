import Foundation

/// The clocks at one instant: the wall clock, which boot of the machine it was, and the time since that
/// boot (FORMAT.md §4c).
///
/// The wall clock can be wrong (a gateway without a real-time clock boots in 1970 or 2000 and runs for
/// minutes before NTP sets it) and can jump, forwards or back, by years. The time since boot
/// (`CLOCK_BOOTTIME`: it counts while the machine is suspended, too) never jumps, but means something only
/// within one boot. Every commit records both, with the boot's id, so that elapsed time is measured by
/// the clock that cannot jump whenever it can be: ``elapsed(since:)``.
public struct ClockReading: Sendable, Equatable, Hashable {
    /// The wall clock, in microseconds since the Unix epoch.
    public var wallMicros: Int64
    /// The boot's id (Linux: `/proc/sys/kernel/random/boot_id`, new at every boot); all zeros when unknown.
    public var bootID: UUID
    /// Microseconds since that boot (`CLOCK_BOOTTIME`).
    public var bootMicros: Int64
    /// Whether the kernel said the wall clock was synchronized (by NTP or the like) when it was read:
    /// `adjtimex(2)` without `STA_UNSYNC`. A wall time read while it was not may be off by anything.
    public var wallSynchronized: Bool

    /// The id of no boot: a reading that carries it is never on the same boot as another.
    public static let unknownBoot = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    public init(wallMicros: Int64, bootID: UUID, bootMicros: Int64, wallSynchronized: Bool) {
        (self.wallMicros, self.bootID, self.bootMicros, self.wallSynchronized) = (wallMicros, bootID, bootMicros, wallSynchronized)
    }

    /// The wall clock as a date.
    public var wall: Date { Date(timeIntervalSince1970: Double(wallMicros) / 1_000_000) }

    /// Whether both readings were taken in one boot of a known machine, so that their times since boot
    /// can be compared.
    public func sameBoot(as other: ClockReading) -> Bool { bootID == other.bootID && bootID != Self.unknownBoot }

    /// The microseconds from `earlier` to this reading, measured so that no jump of the wall clock moves
    /// it: within one boot, by the time since boot (exact); across boots, at least the time since this
    /// boot began, and the wall clocks' difference when both were synchronized and it is larger (a
    /// lower bound, so nothing counted from `earlier` ends early, and it grows with this boot, so
    /// nothing waits forever). When either boot is unknown (no boot id), whether they are one cannot be
    /// told: the wall clocks' difference.
    public func elapsed(since earlier: ClockReading) -> Int64 {
        if bootID == Self.unknownBoot || earlier.bootID == Self.unknownBoot { return wallMicros &- earlier.wallMicros }
        if sameBoot(as: earlier) { return bootMicros - earlier.bootMicros }
        let lowerBound = max(0, bootMicros)
        guard wallSynchronized, earlier.wallSynchronized else { return lowerBound }
        return max(lowerBound, wallMicros &- earlier.wallMicros)
    }

    /// This reading's instant as this boot's wall clock reads now (`now`): the wall time the instant had,
    /// corrected by any jump of the wall clock since, when both readings are of one boot; else nil (no
    /// correction can be known).
    public func wallMicros(asOf now: ClockReading) -> Int64? {
        guard sameBoot(as: now) else { return nil }
        return now.wallMicros &- (now.bootMicros &- bootMicros)
    }
}

/// What a walk over a file's frames meets next, with damage judged by the one rule of FORMAT.md §7.
enum WalkEvent {
    /// A valid frame (the scanner has moved past it).
    case frame(Frame)
    /// The end of what the file holds: its end, or zeros from a frame boundary to its end (space the
    /// writer allocated ahead), which then begin at `zerosFrom`.
    case end(zerosFrom: Int64?)
    /// Damage that nothing valid follows: a torn tail if ``FrameDamage/canBeTorn`` and the file is active.
    case damageAtEnd(FrameDamage)
    /// The last write cut short (FORMAT.md §7): the damage and the valid frames after it, to the end of
    /// the file, are one torn tail (the reason says so).
    case tornLastWrite(FrameDamage)
    /// Damage followed by a valid frame at `resume`: corruption, wherever it is.
    case corrupt(FrameDamage, resume: Int64)
}

/// One walk over a file's frames from the scanner's offset: every walk that judges damage (open's
/// recovery, the readers, the relay's tail, `verify`'s raw walk) takes its events from here, so they
/// name the same damage for the same bytes. It never changes the file and never moves past damage
/// itself: a caller that lists damage sets the scanner's offset to the resume point.
struct FrameWalk {
    let scanner: FrameScanner
    /// A reader of an active file takes a zero header for the end of what is written so far, without
    /// reading the zeros after it (damage hidden behind them is found by the writer's recovery, by
    /// `verify`, or by the strict walk once the segment is sealed).
    let trustingZeroHeader: Bool
    /// Damage judged again on fresh bytes (a frame a live writer was writing when it was read), once per
    /// offset.
    private var judgedAgain: Int64?

    init(_ scanner: FrameScanner, trustingZeroHeader: Bool = false) {
        self.scanner = scanner
        self.trustingZeroHeader = trustingZeroHeader
    }

    mutating func next() throws -> WalkEvent {
        while true {
            switch try scanner.next() {
            case .end:
                return .end(zerosFrom: nil)
            case .frame(let frame):
                return .frame(frame)
            case .damage(let damage):
                // Zeros to the end of the file: space allocated ahead of the frames, not damage.
                if damage.zeroHeader, try trustingZeroHeader || scanner.isZeroToEnd(from: damage.offset) {
                    return .end(zerosFrom: damage.offset)
                }
                guard let following = try scanner.nextValidFrame(after: damage.offset) else { return .damageAtEnd(damage) }
                // A frame still being written when its bytes were read, and a later one written since: the
                // writer writes in order, so fresh bytes show the first one whole.
                if damage.canBeTorn, judgedAgain != damage.offset {
                    judgedAgain = damage.offset
                    if case .success = try scanner.checkFresh(at: damage.offset) { continue }
                }
                // The last write, cut short with some of its later pages on disk and earlier ones not: a
                // torn tail, however many of its frames survived.
                if try scanner.isTornLastWrite(damage, following: following) {
                    var torn = damage
                    torn.reason += "; the valid frames after it, to the end of the file, are of the same write, cut short"
                    return .tornLastWrite(torn)
                }
                return .corrupt(damage, resume: following)
            }
        }
    }
}

extension FrameScanner {
    /// Calls `body` for every valid frame from ``offset`` on, going on past damage at the next valid
    /// frame (salvage: what a damaged file still holds), until `body` returns false or the file ends.
    func forEachValidFrame(_ body: (Frame) throws -> Bool) throws {
        while true {
            switch try next() {
            case .end:
                return
            case .frame(let frame):
                if try !body(frame) { return }
            case .damage(let damage):
                guard let following = try nextValidFrame(after: damage.offset) else { return }
                offset = following
            }
        }
    }
}

import Crypto
import Synchronization

/// Where the writer expects the next frames of an encrypted active segment (FORMAT.md §10), so that an
/// appender seals its commit's records itself, on its own thread and in parallel with the others, before
/// it queues the commit: a group commit then only lays the sealed bodies out.
///
/// An appender **reserves** the next offset and sequence numbers (the plan moves past them) and seals at
/// that place. The writer uses a sealed body only where the frame really lands at the place it was sealed
/// for (same segment, epoch, key, offset and first number); any other commit it seals itself. Before it
/// seals anything itself under an epoch the plan handed out, it draws a new epoch, so that no two
/// different records are ever sealed at one (data key, nonce), not even in memory (a reservation that
/// was not used is dropped unwritten).
final class SealPlan: Sendable {
    /// The next place, and what a body sealed there is sealed with.
    struct Place: Sendable {
        let identity: FileIdentity
        let epoch: UInt64
        let keyID: OutboxKeys.ID
        let dataKey: SymmetricKey
        let cipher: Envelope.Cipher
        let file: String
        /// Where a frame may end at most (the writer rolls past it).
        let limit: Int64
        var offset: Int64
        var seq: UInt64
    }

    /// A body sealed by its appender at a reserved place.
    struct Sealed: Sendable {
        let base: UInt64
        let epoch: UInt64
        let keyID: OutboxKeys.ID
        let offset: Int64
        let seq: UInt64
        /// The frame's body: clear prefix, then envelope; and its CRC.
        let body: [UInt8]
        let bodyCRC: UInt32
    }

    private let next = Mutex<Place?>(nil)

    /// Sets where the next frame goes (nil: appenders do not seal).
    func expect(_ place: Place?) { next.withLock { $0 = place } }

    /// Whether appenders may seal now.
    var isOpen: Bool { next.withLock { $0 != nil } }

    /// Reserves the place of a frame of `frameLength` bytes holding `count` numbers, if the plan is open
    /// and the frame fits before the writer rolls.
    func reserve(frameLength: Int, count: UInt32) -> Place? {
        next.withLock { place in
            guard var p = place, p.offset + Int64(frameLength) <= p.limit else { return nil }
            let reserved = p
            p.offset += Int64(frameLength)
            p.seq += UInt64(count)
            place = p
            return reserved
        }
    }

    /// Seals `body` (its first `prefixLength` bytes stay in clear) for a frame of kind `kind` holding
    /// `count` numbers at a reserved place: nil when there is none (the writer seals it then).
    func seal(_ body: [UInt8], prefixLength: Int, kind: FrameKind, count: UInt32) -> Sealed? {
        let bodyLength = body.count + Envelope.overhead
        guard let p = reserve(frameLength: FrameHeader.size + bodyLength, count: count) else { return nil }
        let header = FrameHeader(bodyLength: UInt32(bodyLength), first: p.seq, count: count, kind: kind, flags: 0)
        let place = Envelope.Place(outboxID: p.identity.outboxID, kind: .segment, base: p.identity.base, offset: p.offset, file: p.file)
        guard let envelope = try? Envelope.seal(body[prefixLength...], dataKey: p.dataKey, keyID: p.keyID, cipher: p.cipher, epoch: p.epoch,
                                                place: place, header: header, prefix: body[..<prefixLength]) else { return nil }
        let sealed = prefixLength == 0 ? envelope : Array(body[..<prefixLength]) + envelope
        return Sealed(base: p.identity.base, epoch: p.epoch, keyID: p.keyID, offset: p.offset, seq: p.seq, body: sealed, bodyCRC: CRC32.of(sealed))
    }
}

import Crypto
import Foundation

/// The encrypted form of a frame's records in an encrypted file (FORMAT.md §10): the cipher, the master
/// key's id and the writer's epoch in clear, then the records sealed with the file's data key for that
/// epoch, at a nonce made of the frame's offset, authenticating where the frame is (outbox, file kind,
/// base, offset), its header fields and any clear prefix (a kind-14 frame's lane summary).
///
/// ```
/// offset size field
///      0    1 cipher       1 AES-256-GCM, 2 ChaCha20-Poly1305
///      1    8 key id       the master key's id (OutboxKeys.ID, big-endian)
///      9    8 epoch        the writer's epoch (little-endian): random, new at every open and after a
///                          failed write
///     17    n ciphertext   the records, as the plain frame's body (after its prefix) would hold them
///   17+n   16 tag
/// ```
package enum Envelope {
    /// An authenticated cipher.
    package enum Cipher: UInt8, Sendable {
        case aesGCM = 1
        case chaChaPoly = 2

        /// AES-256-GCM where the CPU has AES instructions, else ChaCha20-Poly1305.
        package static let preferred: Cipher = CPUFeatures.hasAES ? .aesGCM : .chaChaPoly

        package var name: String { self == .aesGCM ? "AES-256-GCM" : "ChaCha20-Poly1305" }
    }

    static let headerSize = 17
    static let tagSize = 16
    /// Bytes an envelope adds to the records it holds.
    package static let overhead = headerSize + tagSize

    /// Where a frame is: what its associated data binds it to.
    struct Place {
        var outboxID: OutboxID
        var kind: FileHeader.Kind
        var base: UInt64
        var offset: Int64
        /// The file, for errors.
        var file: String
    }

    /// The data key of a file and epoch: HKDF-SHA256 of the master key, salted with the outbox id, for
    /// the info `outbox v7 data key` || magic || base (8, LE) || epoch (8, LE); 32 bytes.
    static func dataKey(_ key: OutboxKeys.Key, in keys: OutboxKeys, place: Place, epoch: UInt64) -> SymmetricKey {
        let magic = place.kind.magic
        let name = DataKeyCache.Name(key: key.id, kind: magic.reduce(0) { $0 << 8 | UInt64($1) }, base: place.base, epoch: epoch)
        return keys.dataKeys.key(name) {
            var info = Array("outbox v7 data key".utf8) + magic
            withUnsafeBytes(of: place.base.littleEndian) { info += $0 }
            withUnsafeBytes(of: epoch.littleEndian) { info += $0 }
            return HKDF<SHA256>.deriveKey(inputKeyMaterial: key.material, salt: place.outboxID.bytes, info: info, outputByteCount: 32)
        }
    }

    /// The 12-byte nonce of a frame at `offset`: the offset (8, LE), then 4 zero bytes.
    static func nonce(_ offset: Int64) -> [UInt8] {
        var n = [UInt8](repeating: 0, count: 12)
        withUnsafeBytes(of: UInt64(offset).littleEndian) { for i in 0..<8 { n[i] = $0[i] } }
        return n
    }

    /// The associated data: outbox id (16) || magic (8) || base (8, LE) || offset (8, LE) || the frame
    /// header's bytes 4 ..< 22 (body length, first, count, kind: not the write tag, which depends on the
    /// write the frame joins, unknown to an appender that seals before it queues) || the clear prefix of
    /// the body.
    static func associatedData(_ place: Place, header: FrameHeader, prefix: ArraySlice<UInt8>) -> [UInt8] {
        var out = place.outboxID.bytes + place.kind.magic
        out.reserveCapacity(60 + prefix.count)
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        put(place.base)
        put(UInt64(place.offset))
        put(header.bodyLength)
        put(header.first)
        put(header.count)
        put(header.kind.rawValue)
        out.append(contentsOf: prefix)
        return out
    }

    /// The envelope of `records` for a frame whose header is `header` (its body length counting the
    /// prefix and this envelope) at `place`, under `key` (the current one if not given).
    static func seal(_ records: ArraySlice<UInt8>, keys: OutboxKeys, key chosen: OutboxKeys.Key? = nil, cipher: Cipher, epoch: UInt64, place: Place,
                     header: FrameHeader, prefix: ArraySlice<UInt8>) throws -> [UInt8] {
        let key = chosen ?? keys.current
        return try seal(records, dataKey: dataKey(key, in: keys, place: place, epoch: epoch), keyID: key.id, cipher: cipher, epoch: epoch,
                        place: place, header: header, prefix: prefix)
    }

    /// ``seal(_:keys:key:cipher:epoch:place:header:prefix:)`` with the data key derived already (a writer
    /// derives it once per file and epoch): the envelope alone, in one array.
    static func seal(_ records: ArraySlice<UInt8>, dataKey: SymmetricKey, keyID: OutboxKeys.ID, cipher: Cipher, epoch: UInt64, place: Place,
                     header: FrameHeader, prefix: ArraySlice<UInt8>) throws -> [UInt8] {
        let aad = associatedData(place, header: header, prefix: prefix)
        var out: [UInt8] = []
        out.reserveCapacity(overhead + records.count)
        out.append(cipher.rawValue)
        withUnsafeBytes(of: keyID.value.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: epoch.littleEndian) { out.append(contentsOf: $0) }
        do {
            switch cipher {
            case .aesGCM:
                let box = try AES.GCM.seal(records, using: dataKey, nonce: try AES.GCM.Nonce(data: nonce(place.offset)), authenticating: aad)
                box.ciphertext.withUnsafeBytes { out.append(contentsOf: $0) }
                box.tag.withUnsafeBytes { out.append(contentsOf: $0) }
            case .chaChaPoly:
                let box = try ChaChaPoly.seal(records, using: dataKey, nonce: try ChaChaPoly.Nonce(data: nonce(place.offset)), authenticating: aad)
                box.ciphertext.withUnsafeBytes { out.append(contentsOf: $0) }
                box.tag.withUnsafeBytes { out.append(contentsOf: $0) }
            }
        } catch {
            throw OutboxError(.io, "encrypting a frame failed (\(cipher.name))", path: place.file)
        }
        return out
    }

    /// What an envelope names in clear: its cipher and key id (nil when it is too short to hold them).
    static func peek(_ envelope: ArraySlice<UInt8>) -> (cipher: UInt8, key: OutboxKeys.ID, epoch: UInt64)? {
        guard envelope.count >= overhead else { return nil }
        let s = envelope.startIndex
        let epoch = envelope[(s + 9)..<(s + 17)].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return (envelope[s], OutboxKeys.ID(bytes: envelope[(s + 1)..<(s + 9)]), epoch)
    }

    /// The records of `envelope`, the body (after `prefix`) of the frame `header` at `place`.
    ///
    /// Throws ``OutboxError/Code/missingKey`` without keys, ``OutboxError/Code/wrongKey`` when none of
    /// `keys` is the one it names (neither is damage: the frame may be whole), and
    /// ``OutboxError/Code/corrupt`` when the right key does not authenticate it (it was changed, or
    /// moved from another place) or its cipher is unknown.
    static func open(_ envelope: ArraySlice<UInt8>, keys: OutboxKeys?, place: Place, header: FrameHeader,
                     prefix: ArraySlice<UInt8>) throws -> [UInt8] {
        guard let (cipherByte, id, epoch) = peek(envelope) else {
            throw OutboxError(.corrupt, "an encrypted frame's body is \(envelope.count) bytes, shorter than its envelope (\(overhead))",
                              path: place.file, offset: place.offset)
        }
        guard let cipher = Cipher(rawValue: cipherByte) else {
            throw OutboxError(.corrupt, "an encrypted frame names cipher \(cipherByte), which is not one", path: place.file, offset: place.offset)
        }
        guard let keys else {
            throw OutboxError(.missingKey, "the frame is encrypted with key \(id) and no key was given (--key-file)",
                              path: place.file, offset: place.offset)
        }
        guard let key = keys.key(id) else {
            throw OutboxError(.wrongKey, "the frame is encrypted with key \(id), which is not among the keys given (\(keys))",
                              path: place.file, offset: place.offset)
        }
        let dataKey = dataKey(key, in: keys, place: place, epoch: epoch)
        let aad = associatedData(place, header: header, prefix: prefix)
        let s = envelope.startIndex + headerSize
        let ciphertext = envelope[s..<(envelope.endIndex - tagSize)]
        let tag = envelope[(envelope.endIndex - tagSize)...]
        do {
            switch cipher {
            case .aesGCM:
                let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: nonce(place.offset)), ciphertext: ciphertext, tag: tag)
                return Array(try AES.GCM.open(box, using: dataKey, authenticating: aad))
            case .chaChaPoly:
                let box = try ChaChaPoly.SealedBox(nonce: try ChaChaPoly.Nonce(data: nonce(place.offset)), ciphertext: ciphertext, tag: tag)
                return Array(try ChaChaPoly.open(box, using: dataKey, authenticating: aad))
            }
        } catch {
            throw OutboxError(.corrupt, "an encrypted frame does not authenticate under key \(id) (\(cipher.name)): it was changed, or moved from another file or offset",
                              path: place.file, offset: place.offset)
        }
    }
}

extension Envelope {
    /// The kinds whose records an encrypted file holds in envelopes (FORMAT.md §10).
    static func sealsRecords(_ kind: FrameKind) -> Bool { kind == .messages || kind == .laneMessages || kind == .deadLetter }

    /// How many bytes at the start of a `kind` frame's body stay in clear: a kind-14 frame's lane summary.
    static func clearPrefix(_ kind: FrameKind, _ body: [UInt8]) -> Int {
        kind == .laneMessages ? (try? LaneSummary.decode(body).recordsStart) ?? 0 : 0
    }

    /// A whole frame (header, then body) at `place`, part of a write tagged `tag`, whose body is
    /// `prefix` then `records`: in an encrypted file (`keys` given) the records go into an envelope under
    /// the current key and `epoch`; otherwise as they are.
    static func frame(kind: FrameKind, first: UInt64, count: UInt32, prefix: ArraySlice<UInt8>, records: ArraySlice<UInt8>,
                      place: Place, tag: UInt16, keys: OutboxKeys?, cipher: Cipher = .preferred, epoch: UInt64) throws -> [UInt8] {
        let identity = FileIdentity(outboxID: place.outboxID, base: place.base)
        guard let keys, sealsRecords(kind) else {
            return FrameHeader.frame(kind: kind, first: first, count: count, body: Array(prefix) + records, identity: identity,
                                     offset: place.offset, tag: tag)
        }
        let header = FrameHeader(bodyLength: UInt32(prefix.count + records.count + overhead), first: first, count: count, kind: kind, flags: tag)
        let body = Array(prefix) + (try seal(records, keys: keys, cipher: cipher, epoch: epoch, place: place, header: header, prefix: prefix))
        var out: [UInt8] = []
        out.reserveCapacity(FrameHeader.size + body.count)
        header.append(to: &out, identity: identity, offset: place.offset, bodyCRC: CRC32.of(body))
        return out + body
    }

    /// `frame`, read at `from` in a file that is `encrypted` or not, as a whole frame at `to` (same kind,
    /// numbers and body), part of a write tagged `tag`: an envelope is opened and sealed again for its new
    /// place (its associated data binds the old one) under the current key and `epoch`, which needs the
    /// keys (``OutboxError/Code/missingKey`` or ``OutboxError/Code/wrongKey`` otherwise); any other body is
    /// copied as it is. Salvage, quarantine and drop-oldest's rewrites move frames this way.
    static func reframe(_ frame: Frame, from: Place, to: Place, encrypted: Bool, tag: UInt16, keys: OutboxKeys?, epoch: UInt64) throws -> [UInt8] {
        let h = frame.header
        guard encrypted, sealsRecords(h.kind) else {
            return FrameHeader.frame(kind: h.kind, first: h.first, count: h.count, body: frame.body,
                                     identity: FileIdentity(outboxID: to.outboxID, base: to.base), offset: to.offset, tag: tag)
        }
        let split = clearPrefix(h.kind, frame.body)
        let records = try open(frame.body[split...], keys: keys, place: from, header: h, prefix: frame.body[..<split])
        let cipher = Cipher(rawValue: frame.body[split]) ?? .preferred
        return try Self.frame(kind: h.kind, first: h.first, count: h.count, prefix: frame.body[..<split], records: records[...], place: to,
                              tag: tag, keys: keys, cipher: cipher, epoch: epoch)
    }
}

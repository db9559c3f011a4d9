/// A route's uplink rate cap (``OutboxRelayConfiguration/maxBytesPerSecond``): a token bucket counting
/// wire bytes. It fills at the cap up to its size (the burst); a batch takes what it holds, and a batch
/// bigger than what is left (one message larger than the bucket) leaves it in debt, paid back before the
/// next. Between batches the route waits until the bucket holds a batch's worth: all it has queued, or
/// the whole bucket.
struct UplinkBucket {
    /// Bytes per second.
    let rate: Double
    /// The most it holds: the burst after an idle spell.
    let size: Double
    private(set) var tokens: Double
    private var last: ContinuousClock.Instant

    /// A full bucket at `now`.
    init(bytesPerSecond: Int, burst: Int?, now: ContinuousClock.Instant) {
        rate = Double(max(1, bytesPerSecond))
        size = Double(max(1, burst ?? bytesPerSecond))
        tokens = size
        last = now
    }

    private mutating func refill(_ now: ContinuousClock.Instant) {
        guard now > last else { return }
        let seconds = Double((now - last).components.seconds) + Double((now - last).components.attoseconds) / 1e18
        tokens = min(size, tokens + seconds * rate)
        last = now
    }

    /// How long to wait before a batch of up to `queued` bytes may go (zero: now), and then how many bytes
    /// it may take.
    mutating func allowance(queued: Int, now: ContinuousClock.Instant) -> (wait: Duration, bytes: Int) {
        refill(now)
        let wanted = min(size, Double(max(1, queued)))
        guard tokens >= wanted else {
            let seconds = (wanted - tokens) / rate
            return (.nanoseconds(Int64((seconds * 1e9).rounded(.up))), 0)
        }
        return (.zero, Int(tokens))
    }

    /// A batch of `bytes` went out.
    mutating func spend(_ bytes: Int, now: ContinuousClock.Instant) {
        refill(now)
        tokens -= Double(bytes)
    }
}

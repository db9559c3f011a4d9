extension OutboxMessage {
    /// Why `text` cannot be stored as a type, key, header name or header value, if it cannot: a control
    /// character (a line break splits a broker's header, a record's line or a log line) or U+FFFD (the
    /// mark of bytes that were not UTF-8, so the text is not what the caller had).
    public static func textProblem(_ text: String) -> String? {
        for scalar in text.unicodeScalars {
            if scalar.value < 0x20 || scalar.value == 0x7F { return "holds a control character" }
            if scalar.value == 0xFFFD { return "holds U+FFFD, the mark of bytes that are not UTF-8" }
        }
        return nil
    }

    /// Why a header of this name cannot be appended, if it cannot: an empty name, a name that is not
    /// text (``textProblem(_:)``), or a reserved one: `nats-*` headers steer JetStream, and `outbox-*`
    /// headers are set by the outbox and its sinks (only ``deliverByHeader`` is the caller's, through
    /// ``expiresAt``).
    public static func headerNameProblem(_ name: String) -> String? {
        if name.isEmpty { return "is empty" }
        if let problem = textProblem(name) { return problem }
        if name == deliverByHeader { return nil }
        let lower = name.lowercased()
        if lower.hasPrefix("nats-") || lower.hasPrefix("outbox-") {
            return "is reserved (Nats-* headers steer JetStream; outbox-* are set by the outbox and its sinks)"
        }
        return nil
    }

    /// Why this message cannot be appended, if it cannot, in a phrase naming the field: what the
    /// command-line tool refuses, the library refuses too, before anything is written (a message that
    /// would only be dead-lettered at publish time is refused at append).
    public var problem: String? {
        if type.isEmpty { return "its type is empty" }
        if let p = Self.textProblem(type) { return "its type \(p)" }
        if let key, let p = Self.textProblem(key) { return "its key \(p)" }
        if let p = OutboxLane.nameProblem(lane.name) { return "its lane \(lane.name.debugDescription) \(p)" }
        if let v = schemaVersion, !(0...Int(UInt32.max)).contains(v) { return "its schema version \(v) is not within 0 ... 4294967295" }
        for h in headers {
            if let p = Self.headerNameProblem(h.name) { return "header name \(h.name.debugDescription) \(p)" }
            if let p = Self.textProblem(h.value) { return "the value of header \(h.name) \(p)" }
            if h.name == Self.deliverByHeader && expiresAt == nil {
                return "header \(Self.deliverByHeader) is not a time (RFC 3339, or Unix seconds): \(h.value.debugDescription)"
            }
        }
        return nil
    }
}

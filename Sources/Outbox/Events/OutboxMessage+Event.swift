extension OutboxMessage {
    /// The message that carries `event`: its type is `Event.eventType`, its schema version
    /// `Event.schemaVersion`, its payload `coder`'s encoding of it, its key `key` or else the event's
    /// (``OutboxEvent/outboxKey``), and the coder's media type in a `content-type` header after `headers`.
    /// Throws ``OutboxError/Code/eventEncoding`` when the coder cannot encode it.
    public init<Event: OutboxEvent>(
        _ event: Event, key: String? = nil, headers: [Header] = [], id: MessageID? = nil, lane: OutboxLane = .normal,
        coder: any OutboxEventCoder = JSONEventCoder()
    ) throws {
        let payload: [UInt8]
        do {
            payload = try coder.encode(event)
        } catch {
            throw OutboxError(.eventEncoding, "an event of type \(Event.eventType) could not be encoded: \(error)")
        }
        var headers = headers
        if let contentType = coder.contentType, !headers.contains(where: { $0.name.lowercased() == Self.contentTypeHeader }) {
            headers.append(Header(Self.contentTypeHeader, contentType))
        }
        self.init(id: id, type: Event.eventType, key: key ?? event.outboxKey, headers: headers, payload: payload, lane: lane,
                  schemaVersion: Event.schemaVersion)
    }

    /// The header that names the payload's media type (``OutboxEventCoder/contentType``).
    public static let contentTypeHeader = "content-type"

    /// This message's payload decoded as `Event`, by `coder` (JSON unless given): when it was written at
    /// `Event.schemaVersion`, directly; at an older schema version, by the upgrade `upgrades` registers
    /// from it. A message that states no schema version is of version 1.
    ///
    /// Throws ``OutboxError/Code/eventDecoding`` for a message of another event type, a schema version
    /// newer than `Event`'s or with no upgrade registered, or a payload the coder refuses.
    public func decode<Event: OutboxEvent>(as event: Event.Type, upgrades: OutboxEventUpgrades = OutboxEventUpgrades(),
                                           coder: any OutboxEventCoder = JSONEventCoder()) throws -> Event {
        guard type == Event.eventType else {
            throw OutboxError(.eventDecoding, "message \(id) is of type \(type.debugDescription), not \(Event.eventType.debugDescription)")
        }
        let version = schemaVersion ?? 1
        do {
            if version == Event.schemaVersion { return try coder.decode(Event.self, from: payload) }
        } catch {
            throw OutboxError(.eventDecoding, "message \(id) (\(type), schema version \(version)) does not decode: \(error)")
        }
        guard version < Event.schemaVersion else {
            throw OutboxError(.eventDecoding,
                              "message \(id) is of schema version \(version) of \(type), newer than the \(Event.schemaVersion) this app decodes")
        }
        guard let upgrade = upgrades.upgrade(type, from: version) else {
            let known = upgrades.versions(of: type)
            throw OutboxError(.eventDecoding,
                              "message \(id) is of schema version \(version) of \(type), and no upgrade to \(Event.schemaVersion) is registered from it"
                                + (known.isEmpty ? "" : " (only from \(known.map(String.init).joined(separator: ", ")))"))
        }
        do {
            guard let upgraded = try upgrade(payload, coder) as? Event else {
                throw OutboxError(.eventDecoding, "the upgrade of \(type) from schema version \(version) did not make a \(Event.self)")
            }
            return upgraded
        } catch let e as OutboxError {
            throw e
        } catch {
            throw OutboxError(.eventDecoding, "message \(id) (\(type), schema version \(version)) does not upgrade: \(error)")
        }
    }
}

extension StoredMessage {
    /// The stored message's payload decoded as `Event` (``OutboxMessage/decode(as:upgrades:coder:)``).
    public func decode<Event: OutboxEvent>(as event: Event.Type, upgrades: OutboxEventUpgrades = OutboxEventUpgrades(),
                                           coder: any OutboxEventCoder = JSONEventCoder()) throws -> Event {
        try message.decode(as: event, upgrades: upgrades, coder: coder)
    }
}

import Foundation

/// The JSON Lines record the built-in sinks write for a message.
///
/// `{"id":…,"seq":…,"type":…,"key":…|null,"headers":[{"name":…,"value":…}],"createdAt":"RFC 3339",`
/// `"payload":"base64"}`
public enum SinkRecord {
    public static func json(_ m: StoredMessage) -> String {
        var j = JSONLine()
        j.string("id", m.message.id.description)
        j.number("seq", m.seq)
        j.string("type", m.message.type)
        j.string("key", m.message.key)
        j.headers(m.message.headers)
        j.string("createdAt", rfc3339(micros: m.message.createdAtMicros))
        j.string("payload", Data(m.message.payload).base64EncodedString())
        return j.text
    }
}

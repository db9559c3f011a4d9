/// The files a broker sink uses to speak TLS: the certificate authorities to verify the broker with,
/// and optionally a client certificate and its key (PEM).
public struct TLSFiles: Sendable, Equatable {
    /// CA certificates (PEM) that must have signed the broker's certificate; nil means the system's.
    public var caFile: String?
    /// The client certificate (PEM), for brokers that authenticate clients by certificate.
    public var certificateFile: String?
    /// The client certificate's private key (PEM).
    public var keyFile: String?

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
    }

    /// Applies a sink-spec option (`ca`, `cert`, `key`); false if `name` is none of them.
    package mutating func apply(_ name: String, _ value: String) -> Bool {
        switch name {
        case "ca": caFile = value
        case "cert": certificateFile = value
        case "key": keyFile = value
        default: return false
        }
        return true
    }

    /// Refuses a certificate without its key or a key without its certificate.
    package func validated() throws -> TLSFiles {
        guard (certificateFile == nil) == (keyFile == nil) else {
            throw OutboxError(.invalidArgument, "a TLS client certificate needs its key, and a key its certificate (cert= and key=)")
        }
        return self
    }
}

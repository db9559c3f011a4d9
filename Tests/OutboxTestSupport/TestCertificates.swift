import Foundation
import Outbox

/// A throwaway certificate authority and a server certificate for 127.0.0.1 it signed (PEM files made
/// with the `openssl` tool), for TLS tests against local brokers.
public final class TestCertificates: @unchecked Sendable {
    private let dir = TemporaryDirectory("outbox-certs")
    public var caFile: String { dir.sub("ca.pem") }
    public var serverCertificate: String { dir.sub("server.pem") }
    public var serverKey: String { dir.sub("server.key") }

    public init() throws {
        let script = """
            set -e
            cd "$0"
            openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=outbox-test-ca 2>/dev/null
            openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1 2>/dev/null
            printf 'subjectAltName=IP:127.0.0.1\\n' > san.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null
            """
        let p = ChildProcess()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script, dir.path]
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw OutboxError(.invalidArgument, "openssl could not make test certificates") }
    }
}

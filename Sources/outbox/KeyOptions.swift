import ArgumentParser
import Outbox

/// Where a command finds the keys of an encrypted outbox (FORMAT.md §10): a key file, an environment
/// variable or a systemd credential; at most one. The keys themselves never reach a log line or an error.
struct KeyOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The encryption key file: 32 bytes, or text with one key per line (64 hex digits or base64); the first key encrypts new segments, the others are older keys still read.",
                               valueName: "path"))
    var keyFile: String?
    @Option(help: ArgumentHelp("Read the encryption keys from this environment variable (as --key-file's text; several separated by commas).",
                               valueName: "name"))
    var keyEnv: String?
    @Option(help: ArgumentHelp("Read the encryption keys from this systemd credential ($CREDENTIALS_DIRECTORY/NAME; LoadCredentialEncrypted= seals it to the TPM).",
                               valueName: "name"))
    var keyCredential: String?

    func validate() throws {
        if [keyFile, keyEnv, keyCredential].compactMap({ $0 }).count > 1 {
            throw ValidationError("give one of --key-file, --key-env and --key-credential")
        }
    }

    /// The keys, if a source was given; a source that holds none is one error line (never its content).
    func load() throws -> OutboxKeys? {
        if let keyFile { return try OutboxKeys.load(file: keyFile) }
        if let keyEnv { return try OutboxKeys.load(environment: keyEnv) }
        if let keyCredential { return try OutboxKeys.load(credential: keyCredential) }
        return nil
    }
}

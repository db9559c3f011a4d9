import ArgumentParser

/// How `dump` shows payloads (`--payload`).
enum PayloadDisplay: String, ExpressibleByArgument, CaseIterable {
    case none, text, hex, base64
}

import Foundation
import Outbox

/// `outbox relay --config FILE` (or `OUTBOX_CONFIG`): the relay's options from a JSON object of option
/// names (as on the command line, without `--`) to values: strings, numbers, or `true`/`false` for the
/// flags. An option given on the command line or in the environment is not taken from the file.
///
/// A file that cannot be read, is not a JSON object, names an unknown option or gives a value of the
/// wrong kind is refused with one line naming the file and the option (exit 78, `EX_CONFIG`). Its
/// `routes` (several sinks) are read by ``RelayRoutesFile``.
enum RelayConfigFile {
    /// The path `arguments` (those after `relay`) or the environment name, if any.
    static func path(in arguments: [String], environment: [String: String]) throws -> String? {
        for (i, a) in arguments.enumerated() {
            if a == "--config" {
                guard i + 1 < arguments.count else { throw OutboxError(.invalidArgument, "--config needs a file") }
                return arguments[i + 1]
            }
            if a.hasPrefix("--config=") { return String(a.dropFirst("--config=".count)) }
        }
        return environment["OUTBOX_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// One value in the file.
    private enum Setting: Decodable {
        case flag(Bool)
        case text(String)
        case number(Double)
        case other

        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let b = try? c.decode(Bool.self) { self = .flag(b) } else if let t = try? c.decode(String.self) {
                self = .text(t)
            } else if let n = try? c.decode(Double.self) { self = .number(n) } else { self = .other }
        }
    }

    /// The largest file read: options take a few hundred bytes.
    static let maxSize = 1 << 20

    /// The option values the file at `path` holds.
    static func values(at path: String) throws -> [String: String] {
        let bytes: [UInt8]?
        do { bytes = try BoundedFile.read(path, limit: maxSize) } catch let e as OutboxError {
            throw OutboxError(.invalidArgument, "--config \(path): cannot be read: \(e.errno.map { String(cString: strerror($0)) } ?? e.message)")
        }
        guard let bytes else {
            throw OutboxError(.invalidArgument, "--config \(path): more than \(maxSize >> 10) KiB, too large for a file of options")
        }
        let data = Data(bytes)
        let object: [String: Setting]
        do { object = try JSONDecoder().decode([String: Setting].self, from: data) } catch {
            // JSONSerialization says where the text stops being JSON.
            let why: String
            do { _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]); why = Self.reason(error) } catch {
                why = (error as NSError).userInfo[NSDebugDescriptionErrorKey].map { "\($0)" } ?? "not valid JSON"
            }
            throw OutboxError(.invalidArgument, "--config \(path): must hold one JSON object of option names to values (\(why))")
        }
        let flags = Set(RelayCommand.settableFlags), options = Set(RelayCommand.settableOptions)
        var values: [String: String] = [:]
        // `routes` is read by RelayRoutesFile.
        for (name, value) in object.sorted(by: { $0.key < $1.key }) where name != "routes" {
            switch (value, flags.contains(name), options.contains(name)) {
            case (.flag(let on), true, _): values[name] = on ? "true" : "false"
            case (_, true, _): throw OutboxError(.invalidArgument, "--config \(path): \"\(name)\" must be true or false")
            case (.text(let text), _, true): values[name] = text
            case (.number(let n), _, true): values[name] = n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
            case (_, _, true): throw OutboxError(.invalidArgument, "--config \(path): \"\(name)\" must be a string or a number")
            default:
                let known = (RelayCommand.settableOptions + RelayCommand.settableFlags).sorted().joined(separator: ", ")
                throw OutboxError(.invalidArgument, "--config \(path): unknown option \"\(name)\" (known: \(known))")
            }
        }
        return values
    }

    /// The arguments the file named in `arguments` or the environment adds (after the environment's).
    static func arguments(_ arguments: [String], environment: [String: String]) throws -> [String] {
        guard let path = try path(in: arguments, environment: environment) else { return [] }
        return RelayCommand.settingArguments(try values(at: path), over: arguments)
    }

    private static func reason(_ error: Error) -> String {
        if case DecodingError.typeMismatch = error { return "it holds another kind of JSON value" }
        return "\(error)"
    }
}

import Foundation
import OutboxBench
import Testing
@testable import Outbox

@Suite("Processes and the command-line tool")
struct ProcessTests {
    @Test func aSecondWriterProcessIsRefusedNamingTheHolder() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        try await outbox.append(sampleMessage(1))
        let refused = try await runOutbox(["append", dir, "--count", "1"])
        #expect(refused.status == 75, "locked: EX_TEMPFAIL")
        #expect(refused.stderr.hasPrefix("outbox: error [locked]: "), "the code is printed: \(refused.stderr)")
        #expect(refused.stderr.contains("already open for writing by pid \(getpid())"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "one line: \(refused.stderr)")

        // Readers need no lock, even while the writer holds it.
        let dump = try await runOutbox(["dump", dir, "--json"])
        #expect(dump.status == 0)
        #expect(dump.stdout.split(separator: "\n").count == 1)
        try await outbox.close()

        let accepted = try await runOutbox(["append", dir, "--count", "2", "--print-ack"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stdout == "2\n3\n")
    }

    @Test func closingAnotherDescriptorOfTheLockFileKeepsTheLock() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let outbox = try await Outbox.open(at: dir, logger: quietLogger)
        let fd = open(dir + "/writer.lock", O_RDONLY)
        #expect(fd >= 0)
        close(fd)
        await #expect { try await Outbox.open(at: dir, logger: quietLogger) } throws: { ($0 as? OutboxError)?.code == .locked }
        try await outbox.close()
    }

    @Test func appendDumpAndStatsAgree() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let append = try await runOutbox(["append", dir, "--count", "500", "--concurrency", "8", "--keys", "5", "--batch", "3",
                                    "--header", "a=1", "--header", "b=x=y", "--type", "UserRegistered", "--print-ack"])
        #expect(append.status == 0, "\(append.stderr)")
        let acks = append.stdout.split(separator: "\n").compactMap { UInt64($0) }
        #expect(acks.sorted() == Array(1...500))

        let dump = try await runOutbox(["dump", dir, "--json", "--payload", "text"])
        #expect(dump.status == 0)
        let lines = dump.stdout.split(separator: "\n")
        #expect(lines.count == 500)
        var seqs: [UInt64] = []
        for line in lines {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            seqs.append((object["seq"] as! NSNumber).uint64Value)
            #expect(object["status"] as? String == "pending")
            #expect(object["type"] as? String == "UserRegistered")
            #expect((object["key"] as? String)?.hasPrefix("key-") == true)
            let headers = object["headers"] as! [[String: String]]
            #expect(headers == [["name": "a", "value": "1"], ["name": "b", "value": "x=y"]])
            for field in ["id", "createdAt", "payloadSize", "segment", "offset", "payload"] { #expect(object[field] != nil) }
        }
        #expect(seqs == Array(1...500))

        let stats = try await runOutbox(["stats", dir, "--json"])
        let s = try #require(try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [String: Any])
        #expect((s["pending"] as! NSNumber).intValue == 500)
        #expect((s["lastSeq"] as! NSNumber).intValue == 500)
        #expect((s["published"] as! NSNumber).intValue == 0)
        #expect(s["oldestPendingAgeSeconds"] is NSNumber)
    }

    @Test func badInputGetsOneClearLineAndANonZeroExit() async throws {
        let tmp = TemporaryDirectory()
        let missing = try await runOutbox(["dump", tmp.sub("nope")])
        #expect(missing.status == 66, "missing: EX_NOINPUT")
        #expect(missing.stderr == "outbox: error [not-an-outbox]: \(tmp.sub("nope")): no such directory\n")
        let empty = try await runOutbox(["stats", tmp.path])
        #expect(empty.status == 66)
        #expect(empty.stderr.contains("not an outbox directory"))
        _ = FileManager.default.createFile(atPath: tmp.sub("file"), contents: Data("x".utf8))
        let notDir = try await runOutbox(["dump", tmp.sub("file")])
        #expect(notDir.status == 66)
        #expect(notDir.stderr.contains("not a directory"))
    }
}

@Suite("The demo and the relay command", .serialized)
struct CommandTests {
    /// Issue 11's table of bad input: each case gets a clear line and a documented non-zero status, and
    /// none traps (a trap is a signal, status 128 or more, with a backtrace).
    @Test func badInputNeverTrapsAndGetsADocumentedStatus() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "2"]).status == 0)
        let tool = try outboxExecutable().path
        let cases: [(args: [String], status: Int32, says: String)] = [
            (["relay", dir, "--sink", "stdout", "--sweep-interval", "inf"], 64, "--sweep-interval"),
            (["relay", dir, "--sink", "stdout", "--min-age", "1e30"], 64, "--min-age"),
            (["demo", "--timeout", "inf"], 64, "--timeout"),
            (["bench", "--publish-timeout", "1e30"], 64, "--publish-timeout"),
            (["relay", dir, "--sink", "nats://127.0.0.1:notaport"], 64, "port"),
            (["relay", dir, "--sink", "nats://127.0.0.1:99999"], 64, "port"),
            (["append", dir, "--payload-size", "10000000000"], 65, "max record size"),
            (["append", dir, "--payload-size", "5000000"], 65, "--payload-size 5000000"),
            (["append", dir, "--payload-file", tmp.sub("missing")], 74, "No such file or directory"),
            (["append", dir, "--header", "nl=a\nb"], 64, "control character"),
            (["append", dir, "--header", "Nats-Msg-Id=x"], 64, "reserved"),
            (["append", dir, "--header", "=v"], 64, "name is empty"),
            (["append", dir, "--count", "1000000000", "--batch", "1000000000"], 65, "max record size"),
            (["append", dir, "--type", ""], 64, "--type"),
            (["append", dir, "--count", "-1"], 64, "--count must be 0 or more"),
            (["append", tmp.sub("missing/ob")], 66, "its parent directory \(tmp.sub("missing")) does not exist"),
            (["dump", dir, "--segment", "nope.log"], 78, "no such segment"),
            (["dump", "--raw", "/etc/passwd"], 1, "damage found"),
        ]
        for c in cases {
            let r = try await runOutbox(c.args)
            #expect(r.status == c.status, "\(c.args): status \(r.status): \(r.stderr)")
            #expect(r.stderr.contains(c.says), "\(c.args): \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("outbox: "), "\(c.args): one line: \(r.stderr)")
            #expect(!r.stderr.contains("Fatal error") && !r.stderr.contains("runtime failure") && !r.stderr.contains("Backtrace"),
                    "\(c.args) trapped: \(r.stderr)")
        }
        // Bytes that are not UTF-8 (the shell passes them as they are), and a payload from standard input.
        let raw = try await runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", "\"$0\" append \"$1\" --key \"$(printf 'k\\200')\"", tool, dir])
        #expect(raw.status == 64 && raw.stderr == "outbox: error: the value of --key is not valid UTF-8\n", "\(raw.stderr)")
        let piped = try await runProgram(URL(fileURLWithPath: "/bin/sh"), ["-c", "echo hello | \"$0\" append \"$1\" --payload-file -", tool, dir])
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(try OutboxReader(path: dir).messages().last?.message.payload == Array("hello\n".utf8))
        // Control characters in stored text are escaped in the table, never printed raw.
        try await storeUnchecked(OutboxMessage(type: "T\u{1b}[31m", headers: [.init("h", "a\nb")], payload: []), in: dir)
        let table = try await runOutbox(["dump", dir])
        #expect(!table.stdout.contains("\u{1b}") && table.stdout.contains("T\\u{1b}[31m") && table.stdout.contains("a\\u{a}b"), "\(table.stdout)")
        let version = try await runOutbox(["--version"])
        #expect(version.status == 0 && version.stdout.contains("file format version \(OutboxConfiguration.formatVersion)"), "\(version.stdout)")
    }

    /// systemd's notification protocol: the relay sends READY=1 once active, then WATCHDOG=1 at half the
    /// interval asked for; SIGHUP does not kill it; SIGTERM ends it cleanly.
    @Test func theRelayNotifiesSystemdAndSurvivesSIGHUP() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "3"]).status == 0)
        let listener = try NotifyListener(path: tmp.sub("notify.sock"))
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--sink", "file:" + tmp.sub("out.jsonl")]
        relay.environment = ProcessInfo.processInfo.environment.merging(
            ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "200000"]) { $1 }
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        let first = try await onOwnThread { listener.receive(until: { $0.contains("WATCHDOG=1") }, timeout: 10) }
        #expect(first.first?.contains("READY=1") == true, "READY=1 comes first: \(first)")
        #expect(first.first?.contains("STATUS=active") == true, "\(first)")
        #expect(first.last == "WATCHDOG=1", "\(first)")
        // The test's threads block most signals and a child inherits that mask, so the SIGHUP below would
        // not reach a relay that forgot to ignore it: the kernel's view of its dispositions is the check.
        let status = try String(contentsOfFile: "/proc/\(relay.processIdentifier)/status", encoding: .utf8)
        let ignored = status.split(separator: "\n").first { $0.hasPrefix("SigIgn:") }
            .flatMap { UInt64($0.dropFirst("SigIgn:".count).trimmingCharacters(in: .whitespaces), radix: 16) } ?? 0
        #expect(ignored & (1 << (UInt64(SIGHUP) - 1)) != 0, "the relay ignores SIGHUP (SigIgn \(String(ignored, radix: 16)))")
        kill(relay.processIdentifier, SIGHUP)
        let after = try await onOwnThread { listener.receive(until: { $0 == "WATCHDOG=1" }, timeout: 10) }
        #expect(after.last == "WATCHDOG=1", "alive after SIGHUP: \(after)")
        #expect(relay.isRunning)
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(relay.terminationReason == .exit && relay.terminationStatus == 0)
    }

    /// Options from the environment and the sink spec from a file (no secret in argv); JSON log lines;
    /// no timestamps when journald receives the log.
    @Test func theRelayTakesItsConfigurationFromTheEnvironmentAndLogsAsAsked() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "5"]).status == 0)
        let out = tmp.sub("out.jsonl")
        try "file:\(out)\n".write(toFile: tmp.sub("sink.conf"), atomically: true, encoding: .utf8)
        func relay(_ environment: [String: String], _ arguments: [String] = []) throws -> (ChildProcess, String) {
            try startRelay(dir, in: tmp, environment: environment, arguments: arguments)
        }
        let (first, firstLog) = try relay(["OUTBOX_SINK_FILE": tmp.sub("sink.conf"), "OUTBOX_LOG_FORMAT": "json"])
        try await eventually("published through the sink named in the file") {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count == 5
        }
        first.terminate()
        try await onOwnThread { first.waitUntilExit() }
        #expect(first.terminationStatus == 0)
        let lines = try String(contentsOfFile: firstLog, encoding: .utf8).split(separator: "\n")
        let active = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            .first { $0["message"] as? String == "relay active" }
        #expect(active?["level"] as? String == "notice" && (active?["sink"] as? String)?.contains("file:") == true,
                "JSON log lines: \(lines)")
        #expect(lines.allSatisfy { $0.hasPrefix("{") }, "every line is JSON: \(lines)")

        // journald adds its own timestamps: text lines carry none.
        let (second, secondLog) = try relay(["JOURNAL_STREAM": "8:1234"], ["--sink", "file:" + out])
        try await eventually("the startup line") {
            ((try? String(contentsOfFile: secondLog, encoding: .utf8)) ?? "").contains("relay active")
        }
        second.terminate()
        try await onOwnThread { second.waitUntilExit() }
        let text = try String(contentsOfFile: secondLog, encoding: .utf8)
        #expect(text.split(separator: "\n").allSatisfy { $0.hasPrefix("notice ") || $0.hasPrefix("warning ") || $0.hasPrefix("info ") },
                "no timestamp under journald: \(text)")
        // The command line beats the environment; two sinks at once are refused.
        let both = try await runProgram(try outboxExecutable(), ["relay", dir, "--sink", "stdout", "--sink-file", tmp.sub("sink.conf")])
        #expect(both.status == 64 && both.stderr.contains("exactly one"), "\(both.stderr)")
    }

    /// `outbox relay DIR ARGUMENTS` with `environment` (and no OUTBOX_LOG_LEVEL), its standard error
    /// going to a new file in `tmp`: the process and that file's path.
    private func startRelay(_ dir: String, in tmp: TemporaryDirectory, environment: [String: String],
                            arguments: [String]) throws -> (ChildProcess, String) {
        let log = tmp.sub("relay-\(UInt32.random(in: 0...UInt32.max)).log")
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let p = ChildProcess()
        p.executableURL = try outboxExecutable()
        p.arguments = ["relay", dir] + arguments
        p.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }.filter { $0.key != "OUTBOX_LOG_LEVEL" }
        p.standardError = FileHandle(forWritingAtPath: log)
        try p.run()
        return (p, log)
    }

    /// `--config FILE` (or OUTBOX_CONFIG): options from a JSON file, below the environment and the
    /// command line; a bad file is one line naming it, exit 78.
    @Test func theRelayTakesOptionsFromAConfigFileBelowTheEnvironmentAndTheCommandLine() async throws {
        let tmp = TemporaryDirectory()
        /// Appends 5 messages to a new outbox, runs the relay until they are in `out`, stops it; its log.
        func publishOnce(_ name: String, environment: [String: String], arguments: [String], out: String) async throws -> String {
            let dir = tmp.sub(name)
            #expect(try await runOutbox(["append", dir, "--count", "5"]).status == 0)
            let (relay, log) = try startRelay(dir, in: tmp, environment: environment, arguments: arguments)
            defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
            try await eventually("\(name): published to \(out)") {
                ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count == 5
            }
            relay.terminate()
            try await onOwnThread { relay.waitUntilExit() }
            #expect(relay.terminationStatus == 0)
            return try String(contentsOfFile: log, encoding: .utf8)
        }
        let good = tmp.sub("good.json"), bad = tmp.sub("bad.json")
        try #"{"sink": "file:\#(tmp.sub("one.jsonl"))", "batch": 2, "max-attempts": 3, "strict-order": true}"#
            .write(toFile: good, atomically: true, encoding: .utf8)
        // A sink that cannot parse, and JSON log lines: whatever the file says that is not overridden applies.
        try #"{"sink": "nats://127.0.0.1:notaport", "log-format": "json"}"#.write(toFile: bad, atomically: true, encoding: .utf8)
        _ = try await publishOnce("a", environment: [:], arguments: ["--config", good], out: tmp.sub("one.jsonl"))
        let overridden = try await publishOnce("b", environment: ["OUTBOX_CONFIG": bad], arguments: ["--sink", "file:" + tmp.sub("two.jsonl")],
                                               out: tmp.sub("two.jsonl"))
        #expect(overridden.split(separator: "\n").allSatisfy { $0.hasPrefix("{") }, "the file's log-format applies: \(overridden)")
        _ = try await publishOnce("c", environment: ["OUTBOX_SINK": "file:" + tmp.sub("three.jsonl")], arguments: ["--config", bad],
                                  out: tmp.sub("three.jsonl"))
        let alone = try await runOutbox(["relay", tmp.sub("a"), "--config", bad])
        #expect(alone.status == 78 && alone.stderr.contains("notaport") && alone.stderr.contains(bad),
                "the file's sink when nothing overrides it, its error naming the file: \(alone.stderr)")

        let cases: [(String, String)] = [
            (#"{"sinkk": "stdout"}"#, #"unknown option "sinkk""#),
            (#"{"sink": "stdout","#, "must hold one JSON object"),
            (#"["stdout"]"#, "must hold one JSON object"),
            (#"{"strict-order": "yes"}"#, #""strict-order" must be true or false"#),
            (#"{"sink": ["stdout"]}"#, #""sink" must be a string or a number"#),
        ]
        for (i, (text, expected)) in cases.enumerated() {
            let file = tmp.sub("case\(i).json")
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let r = try await runOutbox(["relay", tmp.sub("a"), "--config", file])
            #expect(r.status == 78 && r.stderr.contains(expected) && r.stderr.contains(file), "\(text): \(r.status) \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "one line: \(r.stderr)")
        }
        let missing = try await runOutbox(["relay", tmp.sub("a"), "--config", tmp.sub("nope.json")])
        #expect(missing.status == 78 && missing.stderr.contains("No such file or directory"), "\(missing.stderr)")
        // Issue 25, item 8: /dev/zero was read until memory ran out; sizes are bounded before reading.
        for endless in ["/dev/zero", "/dev/urandom"] {
            let r = try await runOutbox(["relay", tmp.sub("a"), "--config", endless])
            #expect(r.status == 78 && r.stderr.contains("too large for a file of options"), "\(endless): \(r.status) \(r.stderr)")
            let sinkFile = try await runOutbox(["relay", tmp.sub("a"), "--sink-file", endless])
            #expect(sinkFile.status == 64 && sinkFile.stderr.contains("larger than 64 KiB"), "\(endless): \(sinkFile.status) \(sinkFile.stderr)")
        }
        let directory = try await runOutbox(["relay", tmp.sub("a"), "--config", tmp.path])
        #expect(directory.status == 78 && directory.stderr.contains("Is a directory"), "\(directory.stderr)")
    }

    /// Issue 25, item 10: expiry could not be set from the command line. `--default-ttl` expires what is
    /// older (never published); `--dead-letter-expired` also keeps a copy in the dead-letter file.
    @Test func theRelaySetsExpiryFromTheCommandLine() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "4"]).status == 0)
        try await eventually("a second old") { (try OutboxReader(path: dir).stats().oldestPendingAgeSeconds ?? 0) >= 1 }
        let out = tmp.sub("out.jsonl")
        let (relay, _) = try startRelay(dir, in: tmp, environment: [:],
                                        arguments: ["--sink", "file:" + out, "--default-ttl", "0.5", "--dead-letter-expired"])
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        try await eventually("expired, not published") { try OutboxReader(path: dir).stats().expired == 4 }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").isEmpty)
        #expect(try OutboxReader(path: dir).deadLetters().count == 4, "copies kept as dead letters")
        #expect(try await runOutbox(["relay", dir, "--sink", "stdout", "--default-ttl", "0"]).status == 64)
    }

    /// Issue 25, item 9: parsing surprises. Negative numbers got "Missing value"; a value from `--config`
    /// named a flag and exited 64; IPv6 addresses in brackets were refused.
    @Test func numbersAddressesAndConfigValuesParseAsAUserExpects() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "1"]).status == 0)
        for (args, says) in [(["dump", dir, "--from", "-1"], "'-1' is invalid for '--from"), (["relay", dir, "--sink", "stdout", "--batch", "-1"], "--batch must be at least 1"),
                             (["check", dir, "--max-pending-age", "-5"], "--max-pending-age must be"),
                             (["relay", dir, "--sink", "stdout", "--max-bytes-per-second", "0"], "--max-bytes-per-second must be"),
                             (["relay", dir, "--sink", "stdout", "--burst-bytes", "4K"], "--burst-bytes needs --max-bytes-per-second"),
                             (["relay", dir, "--sink", "stdout", "--lanes", "critical=8,critical=1"], "names lane critical twice"),
                             (["relay", dir, "--sink", "stdout", "--lanes", "bulk"], "\"bulk\" is not NAME=WEIGHT"),
                             (["relay", dir, "--sink", "stdout", "--lanes", "Big=2"], "lane \"Big\" holds a character"),
                             (["relay", dir, "--sink", "stdout", "--when-budget-spent", "critical-only"], "--when-budget-spent needs --uplink-budget"),
                             (["relay", dir, "--sink", "stdout", "--live-share", "0.3"], "--live-share needs --live-within"),
                             (["relay", dir, "--sink", "stdout", "--live-within", "60", "--live-share", "1.5"], "--live-share must be more than 0 and less than 1"),
                             (["relay", dir, "--sink", "stdout", "--live-within", "60", "--strict-order"], "cannot be used with --strict-order")] {
            let r = try await runOutbox(args)
            #expect(r.status == 64 && r.stderr.contains(says) && !r.stderr.contains("Missing value"), "\(args): \(r.stderr)")
        }
        let env = try await runProgram(try outboxExecutable(), ["relay", dir, "--sink", "stdout"], environment: ["OUTBOX_BATCH": "-1"])
        #expect(env.status == 64 && env.stderr.contains("--batch must be at least 1"), "\(env.stderr)")
        let file = tmp.sub("config.json")
        try #"{"sink": "stdout", "batch": -5}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let fromFile = try await runOutbox(["relay", dir, "--config", file])
        #expect(fromFile.status == 78 && fromFile.stderr.contains(file) && fromFile.stderr.contains("\"batch\""), "\(fromFile.stderr)")
        let metrics = try await runOutbox(["relay", dir, "--sink", "stdout", "--metrics", "[::1"])
        #expect(metrics.status == 64 && metrics.stderr.contains("[IPv6]:PORT"), "\(metrics.stderr)")
        #expect(try SinkSpec.hostAndPort("[::1]:9464", what: "t") == ("::1", 9464))
        #expect(try SinkSpec.hostAndPort("[::1]", what: "t") == ("::1", nil))
        #expect(try SinkSpec.hostAndPort("broker", what: "t") == ("broker", nil))
        #expect(throws: OutboxError.self) { try SinkSpec.hostAndPort("::1:9464", what: "t") }
        // Sink options are percent-decoded, and one given twice is refused.
        let spec = try SinkSpec("nats://h:1?subject=ev%2E%7Btype%7D&stream=S", schemes: ["nats"], form: "nats://")
        #expect(spec.options.map(\.value) == ["ev.{type}", "S"])
        #expect { try SinkSpec("nats://h:1?stream=A&stream=B", schemes: ["nats"], form: "nats://") } throws: {
            "\($0)".contains("stream is given twice")
        }
    }

    /// Issue 25 (smaller points): stored text a dead letter shows is escaped, never printed raw.
    @Test func deadLettersListEscapesStoredText() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "1"]).status == 0)
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        let id = try OutboxReader(path: dir).outboxID
        let letter = DeadLetter(seq: 1, message: OutboxMessage(type: "T\u{1b}[31m", key: "a\nb", payload: []), reason: "rejected",
                                lastError: "bad\nheader", attempts: 1, deadAtMicros: 1, redriven: false)
        try DeadLetterLog.append([letter], in: directory, outboxID: id, maxRecordSize: 1 << 20)
        let r = try await runOutbox(["dead-letters", dir, "list"])
        #expect(r.status == 0 && r.stdout.contains("key=a\\u{a}b") && !r.stdout.contains("\u{1b}"), "\(r.stdout)")
        #expect(r.stdout.split(separator: "\n").count == 1, "one line: \(r.stdout)")
    }

    /// `outbox check`: each exit status of the monitoring-plugin convention, with one line.
    @Test func checkExitsOkWarningCriticalOrUnknown() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        #expect(try await runOutbox(["append", dir, "--count", "0"]).status == 0)
        let ok = try await runOutbox(["check", dir, "--max-pending-age", "300"])
        #expect(ok.status == 0 && ok.stdout.hasPrefix("OUTBOX OK - 0 pending"), "\(ok.stdout)")
        #expect(try await runOutbox(["append", dir, "--count", "10"]).status == 0)
        let warning = try await runOutbox(["check", dir, "--max-pending", "100"])
        #expect(warning.status == 1 && warning.stdout.contains("no relay is running"), "\(warning.stdout)")
        let tooMany = try await runOutbox(["check", dir, "--max-pending", "5"])
        #expect(tooMany.status == 2 && tooMany.stdout.hasPrefix("OUTBOX CRITICAL - 10 pending > 5"), "\(tooMany.stdout)")
        try await eventually("the messages are a second old") { (try OutboxReader(path: dir).stats().oldestPendingAgeSeconds ?? 0) >= 1 }
        let tooOld = try await runOutbox(["check", dir, "--max-pending-age", "0.5"])
        #expect(tooOld.status == 2 && tooOld.stdout.contains("oldest pending"), "\(tooOld.stdout)")
        let unknown = try await runOutbox(["check", tmp.sub("missing")])
        #expect(unknown.status == 3 && unknown.stdout.hasPrefix("OUTBOX UNKNOWN - "), "\(unknown.stdout)")
        // Issue 25, item 5: with no options, pending messages and no relay are a warning, then critical.
        let noOptions = try await runOutbox(["check", dir])
        #expect(noOptions.status == 1 && noOptions.stdout.contains("no relay is running"), "\(noOptions.stdout)")
        let noRelay = try await runOutbox(["check", dir, "--max-no-relay", "0.5"])
        #expect(noRelay.status == 2 && noRelay.stdout.contains("no relay is running, oldest pending"), "\(noRelay.stdout)")
        // A relay whose sink has been unreachable for 400 s (its status file, while it holds relay.lock).
        let directory = try OutboxDirectory.open(dir, create: false, sys: LinuxSystemCalls())
        let lock = try FileLock.acquire(FileLock.relayLockName, in: directory, role: "relaying")
        let since = OutboxMessage.micros(Date().addingTimeInterval(-400))
        try RelayStatusFile(pid: getpid(), state: "active", sinkReachable: false, lastError: "connection refused\n(again)",
                            lastPublishMicros: nil, unreachableSinceMicros: since).write(in: directory)
        let down = try await runOutbox(["check", dir])
        #expect(down.status == 2 && down.stdout.contains("sink unreachable for 40") && down.stdout.contains("> 300 s: connection refused (again)"),
                "\(down.stdout)")
        let shortly = try await runOutbox(["check", dir, "--max-sink-down", "1000"])
        #expect(shortly.status == 1 && shortly.stdout.contains("sink unreachable for"), "\(shortly.stdout)")
        lock.release()
        // Valid performance data after `|`: space-separated 'label=value[unit];warn;crit;min'.
        for r in [ok, warning, tooMany, tooOld, noOptions, noRelay, down, shortly] {
            #expect(r.stdout.split(separator: "\n").count == 1)
            let perf = try #require(r.stdout.split(separator: "|", maxSplits: 1).last).trimmingCharacters(in: .whitespacesAndNewlines)
            let labels = perf.split(separator: " ").map { item -> String in
                let ok = item.wholeMatch(of: /([a-z_]+)=(\d+(\.\d+)?)(s)?;(\d+(\.\d+)?)?;(\d+(\.\d+)?)?;0/) != nil
                #expect(ok, "performance data item \(item) in \(r.stdout)")
                return String(item.prefix { $0 != "=" })
            }
            #expect(labels == ["pending", "oldest_pending_age", "dead_letters", "sink_down"], "\(r.stdout)")
        }
    }

    @Test func theRelayRefusesAPathThatIsNoOutboxWithOneLine() async throws {
        let tmp = TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: tmp.sub("afile"), contents: Data("x".utf8))
        try FileManager.default.createDirectory(atPath: tmp.sub("empty"), withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        for path in [tmp.sub("afile"), tmp.sub("missing"), tmp.sub("empty")] {
            let r = try await runOutbox(["relay", path, "--sink", "stdout"])
            #expect(r.status == 66, "\(path): \(r.stderr)")
            let lines = r.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].hasPrefix("outbox: error [not-an-outbox]: \(path)"), "one line naming the path: \(r.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.sub("empty")).isEmpty, "no relay.lock left behind")
        let noSink = try await runOutbox(["relay", tmp.sub("empty")])
        #expect(noSink.status == 64 && noSink.stderr.contains("--sink"), "--sink is required: \(noSink.stderr)")
        for spec in ["nats://127.0.0.1:notaport", "nats://u:s3cret@127.0.0.1:99999", "mqtt://h:0", "kafka://h:x", "tls://", "amqp://h"] {
            let r = try await runOutbox(["relay", tmp.sub("empty"), "--sink", spec])
            #expect(r.status == 64, "\(spec) is refused when parsed: \(r.stderr)")
            #expect(!r.stderr.contains("s3cret"), "no password in the error: \(r.stderr)")
        }
        for bad in ["inf", "1e30", "nan", "-1"] {
            #expect(try await runOutbox(["relay", tmp.sub("empty"), "--sink", "stdout", "--sweep-interval", bad]).status == 64, "\(bad)")
        }
    }

    @Test func theDemoReportsNothingLostAndNoDuplicates() async throws {
        let tmp = TemporaryDirectory()
        let result = try await runOutbox(["demo", "--dir", tmp.sub("ob"), "--messages", "2000", "--producers", "8"])
        #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
        #expect(result.stdout.contains("appended:                 2000"))
        #expect(result.stdout.contains("lost:                     0"))
        #expect(result.stdout.contains("duplicates:               0"))
        #expect(result.stdout.contains("pending in the outbox:    0"))
        #expect(result.stdout.contains("dead-lettered:            0"))
        #expect(result.stdout.contains("sink outage:              3.0 s, waited out"), "the demo takes the sink away: \(result.stdout)")
        #expect(result.stderr.split(separator: "\n").filter { $0.contains("sink unreachable") }.count == 1, "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").filter { $0.contains("sink reachable again") }.count == 1, "\(result.stderr)")
        let published = try String(contentsOfFile: tmp.sub("ob") + ".published.jsonl", encoding: .utf8)
        #expect(published.split(separator: "\n").count == 2000)
        // The demo appends typed events: their JSON, stamped with type, schema version and content type.
        let first = try OutboxReader(path: tmp.sub("ob")).messages(limit: 1)[0]
        #expect(first.message.type == "UserRegistered" && first.message.schemaVersion == 1)
        #expect(first.message.headers.contains { $0.name == "content-type" && $0.value == "application/json" })
        let event = try first.decode(as: DemoEvent.self)
        #expect(event.email.hasPrefix("user-") && first.message.key == event.userID, "\(event)")
    }

    /// The demo's event as an app that reads it back declares it.
    private struct DemoEvent: OutboxEvent {
        static let eventType = "UserRegistered"
        var userID: String
        var email: String
        var plan: String
        var referrals: Int
    }

    /// The demo runs the outbox, its relay and its producers in one ServiceGroup, as a service embeds
    /// them: SIGTERM while the producers append and the relay publishes stops the producers, lets the
    /// relay finish its batch in flight and closes the outbox (exit 0, its locks released, nothing lost);
    /// a relay started afterwards publishes the rest, and every appended message reaches a sink once.
    @Test func sigtermStopsTheDemoWithNothingLostAndTheNextRelayPublishesTheRest() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let (firstSink, restSink, out) = (dir + ".published.jsonl", tmp.sub("rest.jsonl"), tmp.sub("demo.out"))
        FileManager.default.createFile(atPath: out, contents: nil)
        let demo = ChildProcess()
        demo.executableURL = try outboxExecutable()
        // One producer (each append waits for its commit): the demo runs beside every other suite, and four
        // producers appending flat out until the signal took the disk from their relays.
        demo.arguments = ["demo", "--dir", dir, "--messages", "1000000", "--producers", "1", "--outage", "0"]
        demo.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
        demo.standardError = FileHandle.nullDevice
        try demo.run()
        defer { if demo.isRunning { kill(demo.processIdentifier, SIGKILL) } }
        try await eventually("the demo's relay published 100") { publishedIDs(firstSink).count >= 100 }
        demo.terminate()
        try await eventually("the demo exited after SIGTERM") { !demo.isRunning }
        let stdout = try String(contentsOfFile: out, encoding: .utf8)
        #expect(demo.terminationReason == .exit && demo.terminationStatus == 0, "\(stdout)")
        #expect(stdout.contains("a shutdown signal stopped the producers"), "\(stdout)")
        #expect(stdout.contains("lost:                     0") && stdout.contains("duplicates:               0"), "\(stdout)")
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.writerPid == nil && stats.relayPid == nil, "the outbox closed and the relay stopped")
        let appended = try OutboxReader(path: dir).messages().map(\.message.id.description)
        #expect(stdout.contains("appended:                 \(appended.count)\n"), "every append that returned is in the outbox")

        // The next relay publishes what the signal left pending.
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--sink", "file:" + restSink]
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        defer { if relay.isRunning { kill(relay.processIdentifier, SIGKILL) } }
        try await eventually("nothing pending") { try OutboxReader(path: dir).stats().pending == 0 }
        relay.terminate()
        try await eventually("the relay exited") { !relay.isRunning }
        let published = publishedIDs(firstSink) + publishedIDs(restSink)
        #expect(Set(published).count == published.count, "nothing published twice")
        #expect(Set(published) == Set(appended), "every appended message published: \(Set(appended).subtracting(published).count) missing")
    }

    /// The ids in a file sink's JSON lines.
    private func publishedIDs(_ path: String) -> [String] {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["id"] as? String
        }
    }

    @Test func sigtermStopsTheRelayGracefully() async throws {
        let tmp = TemporaryDirectory()
        let dir = tmp.sub("ob")
        let out = tmp.sub("out.jsonl")
        #expect(try await runOutbox(["append", dir, "--count", "100"]).status == 0)
        let relay = ChildProcess()
        relay.executableURL = try outboxExecutable()
        relay.arguments = ["relay", dir, "--sink", "file:" + out]
        relay.standardError = FileHandle.nullDevice
        try relay.run()
        try await eventually("all 100 published") {
            ((try? String(contentsOfFile: out, encoding: .utf8)) ?? "").split(separator: "\n").count == 100
        }
        relay.terminate()
        try await onOwnThread { relay.waitUntilExit() }
        #expect(relay.terminationReason == .exit && relay.terminationStatus == 0, "a clean exit after SIGTERM")
        let stats = try OutboxReader(path: dir).stats()
        #expect(stats.pending == 0 && stats.relayPid == nil)
    }
}

@Suite("outbox bench")
struct BenchTests {
    /// The benchmark runs every scenario for each round, with its baselines, and reports medians, ranges,
    /// ratios and goals under stable names. (Its numbers are for people to read; no test asserts a speed.)
    @Test func benchRunsEveryScenarioAgainstItsBaselinesInRounds() async throws {
        let tmp = TemporaryDirectory()
        let result = try await runOutbox(["bench", "--dir", tmp.path, "--quick", "--scale", "0.002", "--rounds", "2", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(report["mode"] as? String == "quick" && (report["rounds"] as? NSNumber)?.intValue == 2)
        let scenarios = try #require(report["scenarios"] as? [String: [String: Any]])
        let expected: [String: [String]] = [
            "commit.single": ["floor.append", "floor.preallocated", "floor.handoff"], "commit.concurrent4": ["sqlite", "floor.append"],
            "commit.concurrent16": ["sqlite", "floor.append"], "commit.concurrent64": ["sqlite", "floor.append"],
            "commit.codable16": ["commit.concurrent16"],
            "commit.batch100": ["floor.append×100", "sqlite"], "relay.drain.keyed": ["sqlite.drain", "sqlite.drain1000"], "relay.drain.keyless": ["sqlite.drain", "sqlite.drain1000"],
            "relay.live": [], "open.1M": ["read.all"], "writeAmplification.1": ["sqlite", "floor.pages"], "writeAmplification.16": ["sqlite", "floor.pages"],
            "relay.routes3": ["relay.route1", "floor.sinks3", "floor.sink1"], "lanes.outage": [],
            "encrypted.commit.concurrent16": ["plain", "floor.seal"], "encrypted.commit.batch100": ["plain"], "encrypted.relay.drain.keyed": ["plain"],
        ]
        #expect(Set(scenarios.keys) == Set(expected.keys), "quick mode has no open.5M: \(scenarios.keys.sorted())")
        for (name, baselines) in expected {
            let s = try #require(scenarios[name], "\(name)")
            let outbox = try #require(s["outbox"] as? [String: Any], "\(name)")
            #expect((outbox["values"] as? [Any])?.count == 2, "one figure per round: \(name)")
            if name.hasPrefix("writeAmplification") && DeviceCounter(directory: tmp.path) == nil { continue }
            #expect(((outbox["median"] as? NSNumber)?.doubleValue ?? 0) > 0, "\(name)")
            let got = try #require(s["baselines"] as? [String: [String: Any]], "\(name)")
            #expect(Set(got.keys) == Set(baselines), "\(name): \(got.keys.sorted())")
            let ratios = try #require(s["ratios"] as? [String: [String: Any]], "\(name)")
            #expect(Set(ratios.keys) == Set(baselines), "a ratio for every baseline: \(name)")
        }
        let single = try #require(scenarios["commit.single"]?["outbox"] as? [String: Any])
        #expect((single["messagesPerFdatasync"] as? NSNumber)?.doubleValue == 1, "one producer: one counted fdatasync per commit")
        let goals = try #require(scenarios["commit.concurrent16"]?["goals"] as? [[String: Any]])
        #expect(goals.count == 2 && goals.allSatisfy { $0["met"] is Bool && $0["value"] is NSNumber })
        // lanes.outage (issue 28): the critical lane's p99 and the five properties, judged.
        let lanes = try #require(scenarios["lanes.outage"]?["outbox"] as? [String: Any])
        #expect(lanes["p99Ms"] is NSNumber && lanes["linkUse"] is NSNumber && lanes["orderViolations"] is NSNumber, "\(lanes)")
        let laneGoals = try #require(scenarios["lanes.outage"]?["goals"] as? [[String: Any]])
        #expect(laneGoals.count == 5 && laneGoals.allSatisfy { $0["met"] is Bool && $0["value"] is NSNumber })
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp.path).isEmpty, "the scratch directory is removed")

        let only = try await runOutbox(["bench", "--dir", tmp.path, "--quick", "--scale", "0.002", "--rounds", "1", "--only", "commit.single,open", "--markdown"])
        #expect(only.status == 0, "\(only.stderr)")
        let rows = only.stdout.split(separator: "\n").filter { $0.hasPrefix("| `") }.map { $0.split(separator: "`")[1] }
        #expect(rows == ["commit.single", "open.1M"], "\(only.stdout)")
        let bad = try await runOutbox(["bench", "--dir", tmp.sub("missing")])
        #expect(bad.status != 0 && bad.stderr.split(separator: "\n").count == 1, "\(bad.stderr)")
        let unreachable = try await runOutbox(["bench", "--dir", tmp.path, "--quick", "--scale", "0.001", "--only", "relay.sink.drain.keyed",
                                               "--sink", "mqtt://127.0.0.1:1", "--publish-timeout", "1"])
        #expect(unreachable.status != 0 && unreachable.stderr.contains("the relay published 0 of 50 messages to mqtt://127.0.0.1:1"),
                "a sink that cannot publish fails the benchmark: \(unreachable.stderr)")
        let none = try await runOutbox(["bench", "--dir", tmp.path, "--only", "nothing"])
        #expect(none.status != 0 && none.stderr.contains("no scenario matches --only nothing"), "\(none.stderr)")
        for sink in ["stdout", "amqp://localhost", "nats://localhost?stream=S&bogus=1"] {
            let refused = try await runOutbox(["bench", "--sink", sink])
            let first = refused.stderr.split(separator: "\n").first.map(String.init) ?? ""
            #expect(refused.status == 64 && first.hasPrefix("outbox: error: ") && first.contains("sink"), "\(sink): \(refused.stderr)")
        }
    }
}

/// A unix datagram socket that receives sd_notify messages, as systemd's NOTIFY_SOCKET would.
final class NotifyListener: @unchecked Sendable {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw OutboxError(.io, "cannot bind the notify socket", path: path, errno: errno) }
        var timeout = timeval(tv_sec: 0, tv_usec: 200_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// The messages received until one satisfies `done` (included) or `timeout` seconds passed.
    func receive(until done: (String) -> Bool, timeout: Double) -> [String] {
        var out: [String] = []
        let deadline = Date().addingTimeInterval(timeout)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { continue }
            let text = String(decoding: buffer[0..<n], as: UTF8.self)
            out.append(text)
            if done(text) { break }
        }
        return out
    }
}

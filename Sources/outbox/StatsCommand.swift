import ArgumentParser
import Foundation
import Outbox

struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Summarize an outbox: pending, published, sizes, ages (read-only).")

    @Argument(help: "The outbox directory.") var dir: String
    @Flag(help: "One JSON object.") var json = false
    @Flag(help: "Sizes in exact bytes (the default shows them in KiB, MiB, GiB).") var bytes = false
    @Option(help: "Only this route (a relay of several sinks): its pending messages, sink and last publish.") var route: String?
    @Flag(help: "Also each lane's pending messages and oldest (reads every pending message).") var lanes = false
    @OptionGroup var keys: KeyOptions

    func run() async throws {
        try await reportingErrors {
            _ = CLILogging.bootstrap
            let s = try OutboxReader(path: dir, keys: try keys.load()).stats(perRoute: true, perLane: lanes)
            if let route {
                guard let r = s.routes.first(where: { $0.name == route }) else {
                    throw OutboxError(.invalidArgument, "no route \(route) in the running relay's status"
                                      + (s.routes.isEmpty ? " (it has no routes, or no relay runs)" : " (it has \(s.routes.map(\.name).joined(separator: ", ")))"),
                                      path: dir)
                }
                return Output.shared.write(json ? Self.routeJSON(r) + "\n" : """
                    route:              \(r.name)
                    pending:            \(r.pending.map(String.init) ?? "-")
                    oldest pending:     \(Self.oldest(r.oldestPendingAgeSeconds, r.oldestPendingSeq))
                    sink:               \(r.sinkReachable ? "reachable" : "unreachable: " + (r.sinkError ?? ""))
                    unreachable since:  \(r.sinkUnreachableSinceMicros.map(rfc3339(micros:)) ?? "-")
                    last publish:       \(r.lastPublishMicros.map(rfc3339(micros:)) ?? "-")

                    """)
            }
            if json {
                var j = JSONLine()
                j.number("pending", s.pending)
                j.number("published", s.published)
                j.number("dead", s.dead)
                j.number("expired", s.expired)
                j.number("dropped", s.dropped)
                j.number("unrouted", s.unrouted)
                j.number("segments", s.segments)
                j.number("tombstoneFiles", s.tombstoneFiles)
                j.number("quarantinedFiles", s.quarantinedFiles)
                j.number("bytesOnDisk", s.bytesOnDisk)
                j.number("usedBytes", s.usedBytes)
                j.number("maxDiskBytes", s.maxDiskBytes)
                j.string("fullSince", s.fullSinceMicros.map(rfc3339(micros:)))
                j.number("firstSeq", s.firstSeq)
                j.number("lastSeq", s.lastSeq)
                j.number("oldestPendingSeq", s.oldestPendingSeq)
                j.double("oldestPendingAgeSeconds", s.oldestPendingAgeSeconds)
                j.string("lastCompaction", s.lastCompactionMicros.map(rfc3339(micros:)))
                j.number("writerPid", s.writerPid)
                j.number("relayPid", s.relayPid)
                j.raw("sinkReachable", s.sinkReachable.map { $0 ? "true" : "false" } ?? "null")
                j.string("sinkError", s.sinkError)
                j.string("lastPublish", s.lastPublishMicros.map(rfc3339(micros:)))
                j.raw("routes", "[" + s.routes.map(Self.routeJSON).joined(separator: ",") + "]")
                j.raw("uplink", "[" + s.uplink.map(Self.uplinkJSON).joined(separator: ",") + "]")
                if lanes { j.raw("lanes", "[" + s.lanes.map(Self.laneJSON).joined(separator: ",") + "]") }
                Output.shared.write(j.text + "\n")
            } else {
                Output.shared.write("""
                    pending:            \(s.pending)
                    published:          \(s.published)
                    dead-lettered:      \(s.dead)
                    expired:            \(s.expired)
                    dropped:            \(s.dropped)
                    unrouted:           \(s.unrouted)
                    sequence numbers:   \(s.firstSeq)...\(s.lastSeq) stored
                    oldest pending:     \(Self.oldest(s.oldestPendingAgeSeconds, s.oldestPendingSeq))
                    segments:           \(s.segments)
                    tombstone files:    \(s.tombstoneFiles)
                    quarantined files:  \(s.quarantinedFiles == 0 ? "0" : "\(s.quarantinedFiles) (in \(dir)/quarantine/; outbox verify lists them)")
                    bytes on disk:      \(size(s.usedBytes)) (segments and tombstones \(size(s.bytesOnDisk)))
                    full since:         \(s.fullSinceMicros.map(rfc3339(micros:)) ?? "-")
                    disk budget:        \(s.maxDiskBytes.map { "\(size(s.usedBytes)) of \(size($0)) used (\(Int((Double(s.usedBytes) / Double($0) * 100).rounded()))%)" } ?? "none")
                    last compaction:    \(s.lastCompactionMicros.map(rfc3339(micros:)) ?? "never")
                    writer pid:         \(s.writerPid.map(String.init) ?? "-")
                    relay pid:          \(s.relayPid.map(String.init) ?? "-")
                    sink:               \(s.sinkReachable.map { $0 ? "reachable" : "unreachable: " + (s.sinkError ?? "") } ?? "-")
                    last publish:       \(s.lastPublishMicros.map(rfc3339(micros:)) ?? "-")

                    """ + s.routes.map { r in
                        "route \(r.name):".padding(toLength: 20, withPad: " ", startingAt: 0)
                            + "\(r.pending.map(String.init) ?? "-") pending, oldest \(Self.oldest(r.oldestPendingAgeSeconds, r.oldestPendingSeq)); sink "
                            + (r.sinkReachable ? "reachable" : "unreachable: " + (r.sinkError ?? ""))
                            + "; last publish \(r.lastPublishMicros.map(rfc3339(micros:)) ?? "-")\n"
                    }.joined() + s.lanes.map { l in
                        "lane \(l.name):".padding(toLength: 20, withPad: " ", startingAt: 0)
                            + "\(l.pending) pending, oldest \(Self.oldest(l.oldestPendingAgeSeconds, l.oldestPendingSeq))\n"
                    }.joined() + s.uplink.map { u in
                        "uplink \(u.route):".padding(toLength: 20, withPad: " ", startingAt: 0)
                            + "\(size(u.spentBytes)) of \(size(u.budgetBytes)) this \(u.period), whole again \(rfc3339(micros: u.resetsMicros))\n"
                    }.joined())
            }
        }
    }

    /// The oldest pending message's age and number (`-` when none is pending).
    static func oldest(_ age: Double?, _ seq: UInt64?) -> String {
        guard let age, let seq else { return "-" }
        return String(format: "%.1f s ago (seq \(seq))", age)
    }

    /// One lane's backlog as a JSON object.
    static func laneJSON(_ l: OutboxStats.Lane) -> String {
        var j = JSONLine()
        j.string("lane", l.name)
        j.number("pending", l.pending)
        j.number("oldestPendingSeq", l.oldestPendingSeq)
        j.double("oldestPendingAgeSeconds", l.oldestPendingAgeSeconds)
        return j.text
    }

    /// One route's uplink budget and spend as a JSON object.
    static func uplinkJSON(_ u: OutboxStats.Uplink) -> String {
        var j = JSONLine()
        j.string("route", u.route)
        j.number("budgetBytes", u.budgetBytes)
        j.string("period", u.period)
        j.number("spentBytes", u.spentBytes)
        j.string("resets", rfc3339(micros: u.resetsMicros))
        return j.text
    }

    /// One route's status as a JSON object.
    static func routeJSON(_ r: OutboxStats.Route) -> String {
        var j = JSONLine()
        j.string("name", r.name)
        j.number("pending", r.pending)
        j.number("oldestPendingSeq", r.oldestPendingSeq)
        j.double("oldestPendingAgeSeconds", r.oldestPendingAgeSeconds)
        j.raw("sinkReachable", r.sinkReachable ? "true" : "false")
        j.string("sinkError", r.sinkError)
        j.string("unreachableSince", r.sinkUnreachableSinceMicros.map(rfc3339(micros:)))
        j.string("lastPublish", r.lastPublishMicros.map(rfc3339(micros:)))
        return j.text
    }

    /// A size as `stats` shows it: exact with `--bytes`, otherwise in the largest unit of 1024 that keeps it at 1 or more.
    private func size(_ n: Int64) -> String {
        if bytes || n < 1024 { return "\(n) B" }
        var value = Double(n)
        var unit = "B"
        for u in ["KiB", "MiB", "GiB", "TiB"] where value >= 1024 {
            value /= 1024
            unit = u
        }
        return String(format: "%.1f \(unit)", value)
    }
}

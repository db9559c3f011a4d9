import CSQLite
import Foundation
import Outbox

/// The baseline: the usual SQLite outbox, lean. One table (the rowid is the sequence number, nothing
/// else indexed), WAL journal, `synchronous=FULL` (a commit is durable when it returns, like an outbox
/// append); each producer thread has its own connection.
enum SQLiteOutbox {
    static let schema = """
        CREATE TABLE outbox (seq INTEGER PRIMARY KEY, id BLOB NOT NULL, type TEXT NOT NULL, key TEXT,
          payload BLOB NOT NULL, created_at INTEGER NOT NULL)
        """

    /// `producers` threads insert `messages` in all, `perCommit` rows per transaction, into a fresh
    /// database: each transaction's latency, and the device bytes written.
    static func commit(in directory: String, messages: Int, producers: Int, perCommit: Int, payload: [UInt8]) async throws -> BenchSample {
        let path = directory + "/outbox-\(UInt32.random(in: 0...UInt32.max)).sqlite"
        defer { remove(path) }
        try await onDedicatedThread("outbox-bench-sqlite") { try Connection(path).exec(schema) }
        let device = DeviceCounter.start(in: directory)
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for (p, count) in splitEvenly(messages, producers).enumerated() {
                group.addTask {
                    try await onDedicatedThread("outbox-bench-sqlite") {
                        try insert(count, perCommit: perCommit, into: path, producer: p, payload: payload)
                    }
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = clock.now - start
        let deviceBytes = device?.end()
        let rows = try await onDedicatedThread("outbox-bench-sqlite") { try Connection(path).count("SELECT count(*) FROM outbox") }
        guard rows == messages else { throw OutboxError(.io, "SQLite holds \(rows) rows of \(messages)", path: path) }
        return BenchSample(operations: messages, elapsed: elapsed, latencies: latencies,
                           deviceBytes: deviceBytes, payloadBytes: Int64(messages * payload.count))
    }

    /// A relay's work on SQLite: a table of `rows` pending messages is drained `batch` at a time, each
    /// batch one transaction that selects the oldest rows (reading every column) and deletes them.
    static func drain(in directory: String, rows: Int, batch: Int, keyed: Bool, payload: [UInt8]) async throws -> BenchSample {
        let path = directory + "/drain-\(UInt32.random(in: 0...UInt32.max)).sqlite"
        defer { remove(path) }
        return try await onDedicatedThread("outbox-bench-sqlite") {
            let db = try Connection(path)
            try db.exec(schema)
            try db.exec("BEGIN")
            try fill(db, rows, keyed: keyed, payload: payload)
            try db.exec("COMMIT")
            let select = try db.prepare("SELECT seq, id, type, key, payload, created_at FROM outbox ORDER BY seq LIMIT ?")
            let delete = try db.prepare("DELETE FROM outbox WHERE seq <= ?")
            defer {
                sqlite3_finalize(select)
                sqlite3_finalize(delete)
            }
            let clock = ContinuousClock()
            let start = clock.now
            var drained = 0
            var bytes = 0
            while true {
                try db.exec("BEGIN IMMEDIATE")
                sqlite3_reset(select)
                sqlite3_bind_int(select, 1, Int32(batch))
                var last: Int64 = -1
                while sqlite3_step(select) == SQLITE_ROW {
                    last = sqlite3_column_int64(select, 0)
                    // Every column is read, as a relay building its records would.
                    bytes += Int(sqlite3_column_bytes(select, 1)) + Int(sqlite3_column_bytes(select, 2))
                        + Int(sqlite3_column_bytes(select, 3)) + Int(sqlite3_column_bytes(select, 4))
                    if let blob = sqlite3_column_blob(select, 4) { bytes += Int(blob.load(as: UInt8.self)) }
                    _ = sqlite3_column_int64(select, 5)
                    drained += 1
                }
                if last < 0 {
                    try db.exec("COMMIT")
                    break
                }
                sqlite3_reset(delete)
                sqlite3_bind_int64(delete, 1, last)
                guard sqlite3_step(delete) == SQLITE_DONE else { throw db.error("delete") }
                try db.exec("COMMIT")
            }
            let elapsed = clock.now - start
            guard drained == rows, bytes > 0 else { throw OutboxError(.io, "SQLite drained \(drained) rows of \(rows)", path: path) }
            return BenchSample(operations: rows, elapsed: elapsed)
        }
    }

    private static func fill(_ db: Connection, _ rows: Int, keyed: Bool, payload: [UInt8]) throws {
        let insert = try db.prepare("INSERT INTO outbox (id, type, key, payload, created_at) VALUES (?, ?, ?, ?, ?)")
        defer { sqlite3_finalize(insert) }
        for i in 0..<rows {
            try bind(insert, i, key: keyed ? "user-\(i % 64)" : nil, payload: payload)
            guard sqlite3_step(insert) == SQLITE_DONE else { throw db.error("insert") }
        }
    }

    private static func bind(_ insert: OpaquePointer, _ i: Int, key: String?, payload: [UInt8]) throws {
        let id = MessageID.v7().bytes
        sqlite3_reset(insert)
        _ = id.withUnsafeBytes { sqlite3_bind_blob(insert, 1, $0.baseAddress, Int32($0.count), sqliteTransient) }
        sqlite3_bind_text(insert, 2, "UserRegistered", -1, sqliteTransient)
        if let key { sqlite3_bind_text(insert, 3, key, -1, sqliteTransient) } else { sqlite3_bind_null(insert, 3) }
        _ = payload.withUnsafeBytes { sqlite3_bind_blob(insert, 4, $0.baseAddress, Int32($0.count), sqliteTransient) }
        sqlite3_bind_int64(insert, 5, Int64(Date().timeIntervalSince1970 * 1_000_000))
    }

    private static func insert(_ count: Int, perCommit: Int, into path: String, producer: Int, payload: [UInt8]) throws -> [Duration] {
        let db = try Connection(path)
        let insert = try db.prepare("INSERT INTO outbox (id, type, key, payload, created_at) VALUES (?, ?, ?, ?, ?)")
        defer { sqlite3_finalize(insert) }
        let clock = ContinuousClock()
        var latencies: [Duration] = []
        latencies.reserveCapacity(count / perCommit + 1)
        var i = 0
        while i < count {
            let t = clock.now
            try db.exec("BEGIN IMMEDIATE")
            for _ in 0..<min(perCommit, count - i) {
                try bind(insert, producer * count + i, key: "user-\((producer * count + i) % 64)", payload: payload)
                guard sqlite3_step(insert) == SQLITE_DONE else { throw db.error("insert") }
                i += 1
            }
            try db.exec("COMMIT")
            latencies.append(clock.now - t)
        }
        return latencies
    }

    private static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
    }
}

/// One SQLite connection with the outbox's pragmas.
private final class Connection {
    let db: OpaquePointer
    let path: String

    init(_ path: String) throws {
        var handle: OpaquePointer?
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let handle else {
            throw OutboxError(.io, "cannot open SQLite database", path: path)
        }
        db = handle
        self.path = path
        sqlite3_busy_timeout(db, 60_000)
        try exec("PRAGMA journal_mode=WAL")
        try exec("PRAGMA synchronous=FULL")
    }

    deinit { sqlite3_close_v2(db) }

    func exec(_ sql: String) throws {
        guard sqlite3_exec(db, sql, nil, nil, nil) == SQLITE_OK else { throw error(sql) }
    }

    func prepare(_ sql: String) throws -> OpaquePointer {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(db, sql, -1, &statement, nil) == SQLITE_OK, let statement else { throw error(sql) }
        return statement
    }

    func count(_ sql: String) throws -> Int {
        let statement = try prepare(sql)
        defer { sqlite3_finalize(statement) }
        guard sqlite3_step(statement) == SQLITE_ROW else { throw error(sql) }
        return Int(sqlite3_column_int64(statement, 0))
    }

    func error(_ what: String) -> OutboxError {
        OutboxError(.io, "SQLite: \(what): \(String(cString: sqlite3_errmsg(db)))", path: path)
    }
}

private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

func splitEvenly(_ total: Int, _ parts: Int) -> [Int] {
    (0..<parts).map { total / parts + ($0 < total % parts ? 1 : 0) }
}

import CSQLite
import Foundation
import Outbox

/// The baseline: the usual SQLite outbox. One table, WAL journal, `synchronous=FULL` (a commit is
/// durable when it returns, like an outbox append), one transaction per message, each producer thread
/// with its own connection.
enum SQLiteOutbox {
    static func measure(in directory: String, messages: Int, producers: Int, payload: [UInt8]) async throws -> (LatencySummary, rows: Int) {
        let path = directory + "/outbox.sqlite"
        try await onDedicatedThread("outbox-bench-sqlite") {
            let setup = try Connection(path)
            try setup.exec("""
                CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, id BLOB NOT NULL UNIQUE, type TEXT NOT NULL,
                  key TEXT, headers BLOB, payload BLOB NOT NULL, created_at INTEGER NOT NULL, published_at INTEGER)
                """)
            try setup.exec("CREATE INDEX outbox_pending ON outbox (published_at, seq)")
        }
        let clock = ContinuousClock()
        let start = clock.now
        let perProducer = splitEvenly(messages, producers)
        // Each producer is a thread of its own with its own connection, as in a threaded service.
        let latencies = try await withThrowingTaskGroup(of: [Duration].self) { group in
            for (p, count) in perProducer.enumerated() {
                group.addTask {
                    try await onDedicatedThread("outbox-bench-sqlite") { try insert(count, into: path, producer: p, payload: payload) }
                }
            }
            var all: [Duration] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = clock.now - start
        let rows = try await onDedicatedThread("outbox-bench-sqlite") { try Connection(path).count("SELECT count(*) FROM outbox") }
        return (LatencySummary(name: "SQLite outbox (WAL, synchronous=FULL)", operations: messages, elapsed: elapsed, latencies: latencies), rows)
    }

    private static func insert(_ count: Int, into path: String, producer: Int, payload: [UInt8]) throws -> [Duration] {
        let db = try Connection(path)
        let insert = try db.prepare("INSERT INTO outbox (id, type, key, headers, payload, created_at) VALUES (?, ?, ?, ?, ?, ?)")
        defer { sqlite3_finalize(insert) }
        let clock = ContinuousClock()
        var latencies: [Duration] = []
        latencies.reserveCapacity(count)
        for i in 0..<count {
            let t = clock.now
            try db.exec("BEGIN IMMEDIATE")
            let id = MessageID.v7().bytes
            sqlite3_reset(insert)
            _ = id.withUnsafeBytes { sqlite3_bind_blob(insert, 1, $0.baseAddress, Int32($0.count), sqliteTransient) }
            sqlite3_bind_text(insert, 2, "UserRegistered", -1, sqliteTransient)
            sqlite3_bind_text(insert, 3, "user-\((producer * count + i) % 64)", -1, sqliteTransient)
            sqlite3_bind_null(insert, 4)
            _ = payload.withUnsafeBytes { sqlite3_bind_blob(insert, 5, $0.baseAddress, Int32($0.count), sqliteTransient) }
            sqlite3_bind_int64(insert, 6, Int64(Date().timeIntervalSince1970 * 1_000_000))
            guard sqlite3_step(insert) == SQLITE_DONE else { throw db.error("insert") }
            try db.exec("COMMIT")
            latencies.append(clock.now - t)
        }
        return latencies
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

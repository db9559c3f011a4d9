import ArgumentParser

/// Which messages `dump` lists by status (`--status`).
enum StatusFilter: String, ExpressibleByArgument, CaseIterable {
    case pending, published, dead, expired, dropped, unrouted, all
}
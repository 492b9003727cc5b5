//! Audit store: hash-chained events and sessions in sqlite.

//! The integration tests: one binary, driving the real `indexer` (real
//! libclang, real SQLite files, real worker processes) in a fresh temporary
//! directory per test. See `util.rs` for the harness.

mod cancel;
mod determinism;
mod faults;
mod fuzz;
mod generators;
mod hostile;
mod library;
mod locals;
mod mcp;
mod pipeline;
mod queries;
mod refresh;
mod robust;
mod scip_export;
mod shards;
mod util;
mod watch;

//! The index: the one owner of the SQLite database. Every SQL statement of
//! the program is in this module (a test keeps it so), and so are the
//! schema, its migrations, the build lock and the model the rows hold
//! (unit and run states, dirtiness reasons, symbol kinds, reference roles).
//! The other stages call it: the refresh and the plan for the units table,
//! the supervisor for header claims, the build for its run and upkeep, and
//! front ends through [`Index`], a read-only handle with typed answers.
//!
//! - `db`: [`open`] (pragmas, schema, migrations, refusal of foreign or
//!   newer files), the one way every connection is made.
//! - `lock`: [`BuildLock`], one build per database.
//! - `writer`: the writer thread, the only write connection of a build.
//! - `units`: the refresh's state changes; `queue`: the pending units in
//!   pages; `claims`: what header claims look up.
//! - `runs`, `maintenance`: the runs table; deferred query indexes,
//!   garbage collection, counts.
//! - `query`, `digest`: the questions front ends ask; `watched`: which
//!   files and directories watch mode watches.
//! - `export`: what an export reads, a file at a time.
//! - `merge`: shard databases combined into one index.
//! - `model`: the types of the rows.

mod claims;
pub(crate) mod db;
mod digest;
pub mod export;
mod lock;
mod maintenance;
mod merge;
pub mod model;
pub mod query;
pub(crate) mod queue;
mod reader;
mod runs;
pub(crate) mod units;
pub(crate) mod watched;
mod writer;

pub(crate) use self::claims::HeaderLookup;
#[cfg(test)]
pub(crate) use self::db::SCHEMA;
pub(crate) use self::db::{check_is_file, hash_to_sql};
pub use self::db::{open, Access, IndexError};
pub use self::digest::TableDigest;
pub use self::lock::BuildLock;
pub(crate) use self::maintenance::{
    checkpoint, collect_garbage, count, defer_query_indexes, is_empty, restore_query_indexes, Sweep,
};
pub use self::merge::{merge, MergeError, MergeSummary};
pub use self::reader::Index;
pub(crate) use self::runs::{abandon_run, finish_run, previous_run_state, start_run, RunRecord};
pub(crate) use self::units::unit_costs;
pub(crate) use self::writer::{spawn_writer, WriteOp};

#[cfg(test)]
mod tests;

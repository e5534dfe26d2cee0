//! `indexer`: builds a semantic index of a C/C++ code base with libclang
//! worker processes and SQLite, keeps it fresh, and answers questions about
//! it. See `docs/ARCHITECTURE.md` for the bird's-eye view.
//!
//! This library is what every front end shares; the `indexer` command line
//! is one of them and holds no logic of its own beyond flags and rendering.
//! The entry points:
//!
//! - [`build::build`] (and [`build::explain`]): bring an index up to date,
//!   from [`build::BuildSettings`] validated into [`build::BuildOptions`],
//!   with a [`cancel::Cancel`] handle and an [`observe::Observer`] for
//!   progress and events; returns a typed [`build::BuildOutcome`].
//! - [`index::Index`]: open an index and ask it questions, with typed
//!   answers ([`index::query`]).
//! - [`watch::run`]: keep an index fresh as files change (incremental
//!   builds, debounced), until a [`watch::Stop`] handle says otherwise.
//! - [`export::scip::write_scip`]: the index as a SCIP index, streamed.
//! - [`worker::run`]: the hidden worker mode. A program that builds must
//!   run it when started with the argument `worker` (the supervisor starts
//!   workers as `PROGRAM worker`).

pub mod build;
pub mod cancel;
mod command;
pub mod discover;
pub mod export;
mod fingerprint;
pub mod index;
pub mod memory;
pub mod observe;
mod plan;
mod prelude;
mod protocol;
mod refresh;
pub mod shard;
mod supervise;
mod toolchain;
pub mod watch;
pub mod worker;

/// `error` and its causes as one line, each said once: library errors
/// often name their cause in their own message (`cannot open X: No such
/// file or directory; pass ...`) and carry it as their source too, and
/// context added on the way up may repeat what it wraps. SQLite's own
/// message ends the line: the error under it restates it as a code
/// ("unable to open database file: Error code 14: Unable to open the
/// database file").
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = String::new();
    let mut cause = Some(error);
    while let Some(error) = cause {
        let part = error.to_string();
        if !line.contains(&part) {
            if !line.is_empty() {
                line.push_str(": ");
            }
            line.push_str(&part);
        }
        cause = match error.downcast_ref::<rusqlite::Error>() {
            Some(rusqlite::Error::SqliteFailure(_, Some(_))) => None,
            _ => error.source(),
        };
    }
    line
}

#[cfg(test)]
mod tests {
    /// Issue 16: a database that cannot be opened said so three times.
    #[test]
    fn an_sqlite_failure_is_said_once() {
        let error = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(14),
            Some("unable to open database file".to_owned()),
        );
        let error = anyhow::Error::from(error).context("/tmp/w.db");
        assert_eq!(
            super::one_line(error.as_ref()),
            "/tmp/w.db: unable to open database file"
        );
    }
}

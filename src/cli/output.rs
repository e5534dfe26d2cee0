//! Writing to people and scripts without ever panicking.
//!
//! `println!` and `eprintln!` panic when the stream is gone: stderr piped
//! into `head`, stdout on a full disk. A build must still complete and
//! record its run then, so every line goes through here:
//!
//! - stderr carries notes, warnings and errors for people. When it cannot be
//!   written there is nobody left to tell, so failures are ignored.
//! - stdout carries results. Its errors propagate to the command, which
//!   decides: a reader that went away ([`is_broken_pipe`], `indexer find ''
//!   | head -5`) is not an error at all; any other failure is reported on
//!   stderr, and for a build, whose work is done and recorded by then, does
//!   not change its exit code.

use std::io::{self, Write};

/// Writes `line` and a newline to stderr; never fails, never panics.
pub(crate) fn note(line: &str) {
    let mut err = io::stderr().lock();
    let _ = err.write_all(line.as_bytes());
    let _ = err.write_all(b"\n");
}

/// Whether `error` (or what caused it) is a write to a pipe whose reader
/// has gone.
pub(crate) fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        let kind = if let Some(e) = cause.downcast_ref::<io::Error>() {
            Some(e.kind())
        } else {
            cause
                .downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
        };
        kind == Some(io::ErrorKind::BrokenPipe)
    })
}

/// `error` and its causes as one line, each said once (see
/// [`indexer::one_line`]).
pub(crate) fn error_line(error: &anyhow::Error) -> String {
    indexer::one_line(error.as_ref())
}

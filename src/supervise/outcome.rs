//! How things end: a worker's death ([`Death`], rendered for people in one
//! place), a unit's end in a worker ([`UnitDone`]), the run's ending
//! ([`Ending`]) and what it did ([`Report`]).

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

use crate::memory::{self, Rss};

/// How a worker finished a unit it indexed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnitDone {
    /// The worker's memory at the end of the unit.
    pub(super) rss: Rss,
    /// See `UnitIndex::used_prelude`.
    pub(super) used_prelude: bool,
    /// See `UnitIndex::used_project_prelude`.
    pub(super) used_project_prelude: bool,
    /// See `UnitIndex::prelude_discarded_ms`.
    pub(super) prelude_discarded_ms: Option<u32>,
}

/// A signal that stops the build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
}

/// How the supervisor's run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Complete,
    Cancelled(Signal),
    /// Something made indexing impossible (workers cannot start).
    Fatal(String),
}

/// What the run did, for the summary.
#[derive(Debug, Clone, Default)]
pub(crate) struct Report {
    pub indexed: u64,
    pub failed: u64,
    pub workers_spawned: u64,
    pub workers_recycled: u64,
    pub killed_for_memory: u64,
    pub timed_out: u64,
    pub crashed: u64,
    pub worker_peak_rss: u64,
    pub worker_peak_resident: u64,
    /// Units parsed with their prelude (see `prelude`).
    pub used_prelude: u64,
    /// Those whose prelude also held project headers.
    pub used_project_prelude: u64,
    /// Units given one that were parsed again as written, and the time
    /// their discarded first parses took.
    pub prelude_fallbacks: u64,
    pub prelude_discarded: Duration,
}

impl Report {
    pub(super) fn note_worker_memory(&mut self, rss: Rss) {
        self.worker_peak_rss = self.worker_peak_rss.max(rss.owned());
        self.worker_peak_resident = self.worker_peak_resident.max(rss.resident);
    }
}

/// Why a unit's worker stopped before finishing it. Rendered for people in
/// one place, [`Death::reason`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Death {
    OverMemory {
        rss: u64,
        limit: u64,
    },
    TimedOut {
        after: Duration,
    },
    Crashed {
        status: Option<ExitStatus>,
        stderr: Option<String>,
    },
}

impl Death {
    pub(super) fn reason(&self) -> String {
        match self {
            Death::OverMemory { rss, limit } => {
                format!(
                    "worker exceeded memory limit: {} > {}",
                    memory::human(*rss),
                    memory::human(*limit)
                )
            }
            Death::TimedOut { after } => format!("timed out after {} s", after.as_secs()),
            Death::Crashed { status, stderr } => {
                let mut reason = match status.and_then(|s| s.signal()) {
                    Some(signal) => {
                        format!("worker crashed: signal {signal} ({})", signal_name(signal))
                    }
                    None => match status.and_then(|s| s.code()) {
                        Some(code) => format!("worker exited with status {code}"),
                        None => "worker closed its output unexpectedly".to_string(),
                    },
                };
                if let Some(line) = stderr {
                    reason.push_str(": ");
                    reason.push_str(line);
                }
                reason
            }
        }
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGSEGV => "SIGSEGV: invalid memory reference",
        libc::SIGABRT => "SIGABRT: aborted",
        libc::SIGBUS => "SIGBUS: bus error",
        libc::SIGFPE => "SIGFPE: arithmetic error",
        libc::SIGILL => "SIGILL: illegal instruction",
        libc::SIGKILL => "SIGKILL: killed",
        libc::SIGTERM => "SIGTERM: terminated",
        _ => "signal",
    }
}

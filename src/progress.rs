//! Progress for people: a live bar on a terminal, a log line every few
//! seconds otherwise, nothing with `--quiet`. The bar is cleared when the
//! build ends, however it ends, so the terminal is left clean.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::memory::human;
use crate::output;

/// Between plain log lines when stderr is not a terminal.
const LOG_INTERVAL: Duration = Duration::from_secs(5);

/// The state of a build at one moment, as the supervisor sees it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Snapshot {
    pub done: u64,
    pub failed: u64,
    pub total: u64,
    pub workers: usize,
    pub workers_rss: u64,
    pub elapsed: Duration,
}

impl Snapshot {
    fn rate(&self) -> f64 {
        self.done as f64 / self.elapsed.as_secs_f64().max(1e-3)
    }
}

pub(crate) enum Progress {
    Bar(ProgressBar),
    Log { last: Instant },
    Quiet,
}

impl Progress {
    pub(crate) fn new(quiet: bool) -> Progress {
        if quiet {
            Progress::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar =
                ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr_with_hz(10));
            bar.set_style(
                ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} units  {per_sec}  ETA {eta}  {msg}",
                )
                .expect("valid template"),
            );
            Progress::Bar(bar)
        } else {
            Progress::Log {
                last: Instant::now(),
            }
        }
    }

    /// Prints a line above the bar (or on stderr), unless quiet.
    pub(crate) fn note(&self, line: &str) {
        match self {
            Progress::Bar(bar) => bar.suspend(|| output::note(line)),
            Progress::Log { .. } => output::note(line),
            Progress::Quiet => {}
        }
    }

    pub(crate) fn update(&mut self, s: &Snapshot) {
        match self {
            Progress::Bar(bar) => {
                bar.set_length(s.total);
                bar.set_position(s.done);
                bar.set_message(format!(
                    "{} failed  {} workers, {}",
                    s.failed,
                    s.workers,
                    human(s.workers_rss)
                ));
            }
            Progress::Log { last } => {
                if last.elapsed() >= LOG_INTERVAL {
                    *last = Instant::now();
                    output::note(&format!(
                        "indexed {}/{} units ({:.1}/s), {} failed, {} workers using {}",
                        s.done,
                        s.total,
                        s.rate(),
                        s.failed,
                        s.workers,
                        human(s.workers_rss)
                    ));
                }
            }
            Progress::Quiet => {}
        }
    }

    pub(crate) fn finish(&mut self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

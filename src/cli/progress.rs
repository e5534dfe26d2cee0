//! Progress for people, the command line's [`Observer`] of a build: a live
//! bar on a terminal, a log line every few seconds otherwise, nothing with
//! `--quiet`; the build's events as lines above the bar. The bar is cleared
//! when the build ends, however it ends, so the terminal is left clean.
//! With `--progress json`, progress is for a program instead (the MCP
//! server's `refresh_index` reads it): one JSON object per line on stderr,
//! `{"done":3,"failed":0,"total":10}`, each time those counts change; the
//! events stay lines for people, which never start with `{`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use indexer::build::{BuildError, BuildOutcome, Signal};
use indexer::discover::Source;
use indexer::memory::human;
use indexer::observe::{Event, Observer, Snapshot};
use indexer::watch::{Stop, Trigger, WatchEvent, WatchObserver};

use super::args::ProgressFormat;
use super::output;

/// Between plain log lines when stderr is not a terminal.
const LOG_INTERVAL: Duration = Duration::from_secs(5);

pub(crate) enum Progress {
    Bar(ProgressBar),
    Log {
        last: Instant,
    },
    /// The counts last written, written again only when they change.
    Json {
        last: (u64, u64, u64),
    },
    Quiet,
}

impl Progress {
    pub(crate) fn new(quiet: bool, format: ProgressFormat) -> Progress {
        if quiet {
            Progress::Quiet
        } else if format == ProgressFormat::Json {
            Progress::Json {
                last: (u64::MAX, 0, 0),
            }
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
    fn note(&self, line: &str) {
        match self {
            Progress::Bar(bar) => bar.suspend(|| output::note(line)),
            Progress::Log { .. } | Progress::Json { .. } => output::note(line),
            Progress::Quiet => {}
        }
    }

    fn update(&mut self, s: &Snapshot) {
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
            Progress::Json { last } => {
                let counts = (s.done, s.failed, s.total);
                if *last != counts {
                    *last = counts;
                    output::note(&format!(
                        r#"{{"done":{},"failed":{},"total":{}}}"#,
                        s.done, s.failed, s.total
                    ));
                }
            }
            Progress::Quiet => {}
        }
    }

    fn finish(&mut self) {
        if let Progress::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

impl Observer for Progress {
    fn event(&mut self, event: &Event) {
        match event {
            Event::Source {
                source: Source::CompileCommands(path),
                ..
            } => self.note(&format!("using {}", path.display())),
            Event::Source {
                source: Source::Walk,
                project,
            } => self.note(&format!(
                "no compile_commands.json in {}: indexing its C/C++ sources with default flags (pass --compdb for exact ones)",
                project.display()
            )),
            Event::DiscoveryWarning(warning) => self.note(&format!("warning: {warning}")),
            Event::Folded(folded) => self.note(&format!(
                "{folded} duplicate entries folded (each file is indexed once, with its first command)"
            )),
            Event::PchUnavailable { reason } => self.note(&format!(
                "warning: parsing every unit without a precompiled standard library: {reason}"
            )),
            Event::IndexingFinished => self.finish(),
            // The command line ends the process on a signal outside the
            // indexing phase (see `signals`).
            Event::CancelledLate(signal) => super::signals::exit_cancelled(*signal, false),
            _ => {}
        }
    }

    fn progress(&mut self, snapshot: &Snapshot) {
        self.update(snapshot);
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The command line's observer of a watch: a [`Progress`] for each build,
/// a line per build (or a JSON object with `--json`), and where the units
/// come from said once, not at every build.
pub(crate) struct WatchProgress {
    root: PathBuf,
    json: bool,
    quiet: bool,
    build: Option<Progress>,
    source: Option<Source>,
    /// stdout could not be written once (but for a reader gone): said
    /// once, and the watch goes on.
    write_failed: bool,
    /// Stopped when stdout's reader has gone (`indexer watch --json | head
    /// -1`): it wanted no more lines, as for any command.
    stop: Stop,
    reader_gone: bool,
}

impl WatchProgress {
    pub(crate) fn new(root: &Path, json: bool, quiet: bool, stop: Stop) -> WatchProgress {
        WatchProgress {
            root: root.to_path_buf(),
            json,
            quiet,
            build: None,
            source: None,
            write_failed: false,
            stop,
            reader_gone: false,
        }
    }

    /// Whether the watch stopped because stdout's reader went away.
    pub(crate) fn reader_gone(&self) -> bool {
        self.reader_gone
    }

    fn built(&mut self, trigger: &Trigger, built: Result<&BuildOutcome, &BuildError>) {
        // Dropping the build's progress clears its bar first.
        self.build = None;
        let written = super::render::watch_build(trigger, built, &self.root, self.json, self.quiet);
        if let Err(e) = written {
            if output::is_broken_pipe(&e) {
                // The build's work is committed already; the watch ends
                // as a command whose reader went away does, with 0.
                self.reader_gone = true;
                self.stop.stop(Signal::Terminate);
                return;
            }
            if !self.write_failed {
                output::note(&format!(
                    "warning: cannot write the build's line: {}",
                    output::error_line(&e)
                ));
            }
            self.write_failed = true;
        }
    }
}

impl Observer for WatchProgress {
    fn event(&mut self, event: &Event) {
        if let Event::Source { source, .. } = event {
            if self.source.as_ref() == Some(source) {
                return;
            }
            self.source = Some(source.clone());
        }
        if let Some(progress) = &mut self.build {
            progress.event(event);
        }
    }

    fn progress(&mut self, snapshot: &Snapshot) {
        if let Some(progress) = &mut self.build {
            progress.progress(snapshot);
        }
    }
}

impl WatchObserver for WatchProgress {
    fn watch_event(&mut self, event: &WatchEvent<'_>) {
        match event {
            WatchEvent::Watching {
                directories,
                failed,
                reason,
            } => {
                if !self.quiet {
                    output::note(&format!(
                        "watching {directories} directories for changes (Ctrl-C stops)"
                    ));
                }
                if let Some(reason) = reason {
                    output::note(&format!(
                        "warning: {failed} directories cannot be watched, their changes go unseen: {reason}{}",
                        if reason.contains("limit") || reason.contains("No space left") {
                            " (raise fs.inotify.max_user_watches)"
                        } else {
                            ""
                        }
                    ));
                }
            }
            WatchEvent::BuildStarting { .. } => {
                self.build = Some(Progress::new(self.quiet, ProgressFormat::Auto))
            }
            WatchEvent::Built { trigger, outcome } => self.built(trigger, Ok(outcome)),
            WatchEvent::BuildFailed { trigger, error } => self.built(trigger, Err(error)),
            _ => {}
        }
    }
}

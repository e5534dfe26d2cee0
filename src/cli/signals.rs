//! SIGINT and SIGTERM, turned into cancellations of the build.
//!
//! While workers index, a first SIGINT or SIGTERM cancels the build: it
//! stops dispatch, kills the workers, keeps every unit that finished and
//! prints the summary. Outside that phase nothing is worth waiting for, so
//! the process exits at once (before it, after [`GRACE_BEFORE_INDEXING`]),
//! as it does on a second signal anywhere: discovery has written nothing,
//! the refresh's transaction rolls back, the run row of a build whose
//! process is gone reads as interrupted, and the query indexes and garbage
//! collection at the end are left to the next build. Workers die with the
//! process (PR_SET_PDEATHSIG), and SQLite's journal keeps the database
//! consistent.

use std::time::{Duration, Instant};

use anyhow::Context;
use indexer::build::{Cancel, Phase, Signal};
use indexer::watch;

use super::commands::{EXIT_INTERRUPTED, EXIT_TERMINATED};
use super::output;

/// How long a first signal before indexing waits for it to start and
/// cancel gracefully (with a summary), before the process exits at once.
/// Discovery and refresh usually take less; a huge or stalled one must not
/// hold a Ctrl-C longer.
const GRACE_BEFORE_INDEXING: Duration = Duration::from_millis(500);

/// Starts the thread that turns signals into cancellations of `cancel`'s
/// build (see the module comment).
pub(crate) fn listen(cancel: &Cancel) -> anyhow::Result<()> {
    let cancel = cancel.clone();
    on_signals(move |signal, received| {
        let waited = Instant::now();
        while cancel.phase() == Phase::Preparing && waited.elapsed() < GRACE_BEFORE_INDEXING {
            std::thread::sleep(Duration::from_millis(5));
        }
        if received > 1 || cancel.phase() != Phase::Indexing {
            exit_cancelled(signal, received > 1);
        }
        cancel.cancel(signal);
    })
}

/// Starts the thread that turns signals into stopping `stop`'s watch. A
/// first signal stops it: idle or debouncing it returns at once (the
/// command exits with the signal's code); while a build's workers index,
/// the build is cancelled gracefully and the watch returns after it.
/// Whatever else holds the watch past [`GRACE_BEFORE_INDEXING`] (a build
/// preparing or finishing, the first look at a huge project) has nothing
/// to save, and the process exits at once, as `build` does. A second
/// signal exits at once.
pub(crate) fn listen_watch(stop: &watch::Stop) -> anyhow::Result<()> {
    let stop = stop.clone();
    on_signals(move |signal, received| {
        if received > 1 {
            exit_cancelled(signal, true);
        }
        stop.stop(signal);
        let waited = Instant::now();
        while stop.build_phase() != Some(Phase::Indexing) {
            if waited.elapsed() >= GRACE_BEFORE_INDEXING {
                exit_cancelled(signal, false);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    })
}

/// Installs the SIGINT and SIGTERM handlers and starts the thread that
/// calls `handle` with each signal and how many have come so far.
fn on_signals(mut handle: impl FnMut(Signal, usize) + Send + 'static) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
        .context("installing signal handlers")?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for (received, signal) in signals.forever().enumerate() {
                let signal = if signal == SIGTERM {
                    Signal::Terminate
                } else {
                    Signal::Interrupt
                };
                handle(signal, received + 1);
            }
        })?;
    Ok(())
}

/// Ends the process at once on `signal` (outside the indexing phase, or
/// `again`).
pub(crate) fn exit_cancelled(signal: Signal, again: bool) -> ! {
    output::note(if again {
        "\ncancelled again: exiting now"
    } else {
        "\ncancelled: exiting now (the index keeps what was committed before)"
    });
    std::process::exit(if signal == Signal::Terminate {
        EXIT_TERMINATED
    } else {
        EXIT_INTERRUPTED
    });
}

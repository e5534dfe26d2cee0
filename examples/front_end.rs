//! A front end on the library, in full: build a project's index with
//! progress and cancellation, then query it. docs/ARCHITECTURE.md ("Adding
//! a front end") walks through it; compiling it keeps that section honest.
//!
//! `cargo run --release --example front_end -- PROJECT [SYMBOL]`

use std::time::Duration;

use indexer::build::{self, BuildSettings, Cancel, Ending, Signal};
use indexer::index::query::{CallOptions, FindOptions};
use indexer::index::Index;
use indexer::observe::{Event, Observer, Snapshot};

/// Progress and events arrive on the build's thread: an observer returns
/// quickly (a server would forward them to its client).
struct Lines;

impl Observer for Lines {
    fn event(&mut self, event: &Event) {
        eprintln!("event: {event:?}");
    }

    fn progress(&mut self, snapshot: &Snapshot) {
        if snapshot.done == snapshot.total {
            eprintln!("{}/{} units", snapshot.done, snapshot.total);
        }
    }
}

fn main() -> anyhow::Result<()> {
    // The build starts its workers as `PROGRAM worker`: route that mode.
    let mut args = std::env::args().skip(1);
    let first = args.next().unwrap_or_else(|| ".".to_owned());
    if first == "worker" {
        return indexer::worker::run();
    }

    // Build: the settings asked for, validated into options.
    let mut settings = BuildSettings::new(&first);
    settings.jobs = Some(2);
    let options = settings.validate()?;

    // Cancel from any thread; here, give up after ten minutes.
    let cancel = Cancel::new();
    let watchdog = cancel.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(600));
        watchdog.cancel(Signal::Interrupt);
    });

    let outcome = build::build(&options, &cancel, &mut Lines)?;
    match &outcome.ending {
        Ending::Complete => {}
        Ending::Cancelled(signal) => eprintln!("cancelled ({signal:?})"),
        Ending::Fatal(reason) => anyhow::bail!("{reason}"),
    }
    println!("{}", serde_json::to_string(&outcome.summary)?);

    // Query: a read-only handle with typed answers.
    let index = Index::open(options.db())?;
    let symbol = args.next().unwrap_or_else(|| "main".to_owned());
    let found = index.find(&symbol, &FindOptions::default())?;
    for row in &found.items {
        println!(
            "{} {} {}:{}",
            row.kind,
            row.qualified_name,
            row.file.as_deref().unwrap_or("?"),
            row.line.unwrap_or(0)
        );
    }
    if let Ok(callers) = index.callers(&symbol, CallOptions::default()) {
        for call in &callers.items {
            println!("called from {}", call.row.qualified_name);
        }
    }
    Ok(())
}

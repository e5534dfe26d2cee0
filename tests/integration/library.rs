//! The library as a front end uses it (issue 16): build, observe, cancel
//! and query with no command line in between. Workers are still the real
//! binary (`BuildSettings::worker_program`).

use indexer::build::{self, BuildSettings, Cancel, Ending, Phase, Signal};
use indexer::index::query::{CallOptions, FindOptions};
use indexer::index::Index;
use indexer::observe::{Event, Ignore, Observer, Snapshot};

use crate::util::Project;

/// Keeps everything a build tells its observer.
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
    snapshots: Vec<Snapshot>,
}

impl Observer for Recorder {
    fn event(&mut self, event: &Event) {
        self.events.push(event.clone());
    }

    fn progress(&mut self, snapshot: &Snapshot) {
        self.snapshots.push(snapshot.clone());
    }
}

fn settings(project: &Project) -> BuildSettings {
    let mut settings = BuildSettings::new(project.root());
    settings.jobs = Some(2);
    settings.worker_program = Some(env!("CARGO_BIN_EXE_indexer").into());
    settings
}

#[test]
fn a_front_end_builds_observes_and_queries_through_the_library() {
    let project = Project::from_testdata("demo");
    let options = settings(&project).validate().unwrap();
    assert_eq!(options.db(), project.db());
    let mut recorder = Recorder::default();
    let cancel = Cancel::new();
    let outcome = build::build(&options, &cancel, &mut recorder).unwrap();
    assert_eq!(outcome.ending, Ending::Complete);
    assert_eq!(cancel.phase(), Phase::Finishing);
    assert_eq!(
        (outcome.summary.files_total, outcome.summary.indexed),
        (3, 3)
    );
    assert!(
        matches!(recorder.events.first(), Some(Event::Source { .. })),
        "{:?}",
        recorder.events
    );
    assert!(recorder.events.contains(&Event::IndexingFinished));
    assert!(recorder.snapshots.iter().all(|s| s.done <= s.total));

    let index = Index::open(options.db()).unwrap();
    assert!(!index.build_running());
    let found = index.find("area", &FindOptions::default()).unwrap();
    assert!(
        found
            .items
            .iter()
            .any(|row| row.qualified_name == "geo::Circle::area"),
        "{:?}",
        found.items
    );
    assert!(!index
        .callers("geo::Shape::area", CallOptions::default())
        .unwrap()
        .items
        .is_empty());
    assert_eq!(index.status(0).unwrap().units_indexed, 3);
}

#[test]
fn a_cancellation_requested_before_indexing_stops_the_build_when_it_starts() {
    let project = Project::from_testdata("demo");
    let options = settings(&project).validate().unwrap();
    let cancel = Cancel::new();
    cancel.cancel(Signal::Terminate);
    let outcome = build::build(&options, &cancel, &mut Ignore).unwrap();
    assert_eq!(outcome.ending, Ending::Cancelled(Signal::Terminate));
    assert_eq!(outcome.summary.status, "cancelled");
    // What was not indexed stays pending for the next build.
    let status = Index::open(options.db()).unwrap().status(0).unwrap();
    assert_eq!(status.units_indexed + status.units_pending, 3);
    let again = build::build(&options, &Cancel::new(), &mut Ignore).unwrap();
    assert_eq!(again.ending, Ending::Complete);
    assert_eq!(again.summary.indexed, status.units_pending);
}

#[test]
fn settings_that_cannot_work_are_refused_before_anything_runs() {
    let project = Project::new();
    let mut settings = settings(&project);
    settings.worker_rss_limit = Some(1);
    let error = settings.validate().unwrap_err();
    assert!(error.to_string().contains("--worker-rss-limit"), "{error}");
    assert!(!project.db().exists());
}

//! Rendering the library's typed answers for people (text) and scripts
//! (JSON on stdout). Nothing here computes: every figure comes from the
//! library; a new output format is a new function here.

use std::io::Write;
use std::path::Path;

use indexer::build::{BuildError, BuildOutcome, Command, DirtyUnit, Ending, Explained, Summary};
use indexer::export::scip::ScipSummary;
use indexer::index::query::{self, Status, Unit};
use indexer::index::{MergeSummary, TableDigest};
use indexer::memory::human;
use indexer::watch::{Changes, Trigger};

use super::output;

/// Symbols or uses, one per line (or a JSON array).
pub(crate) fn rows(rows: &[query::Row], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, rows)?;
        writeln!(out)?;
        return Ok(());
    }
    for row in rows {
        // A symbol of a system header that the index holds no declaration of.
        let place = match &row.file {
            Some(file) => format!(
                "{file}:{}:{}",
                row.line.unwrap_or(0),
                row.column.unwrap_or(0)
            ),
            None => "(system header)".to_string(),
        };
        match (&row.roles, &row.container) {
            (Some(roles), container) => writeln!(
                out,
                "{place}  {} {}{}{}",
                row.kind,
                row.qualified_name,
                if roles.is_empty() {
                    String::new()
                } else {
                    format!(" [{}]", roles.join(","))
                },
                container
                    .as_ref()
                    .map(|c| format!("  in {c}"))
                    .unwrap_or_default()
            )?,
            (None, _) => writeln!(out, "{place}  {} {}", row.kind, row.qualified_name)?,
        }
    }
    if rows.is_empty() && !json {
        output::note("(no results)");
    }
    Ok(())
}

/// Each table's row count and hash, then the rows if they were asked for.
pub(crate) fn digest(tables: &[TableDigest], json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &tables)?;
        writeln!(out)?;
        return Ok(());
    }
    for table in tables {
        writeln!(
            out,
            "{:12} {:>9} rows  {}",
            table.table, table.rows, table.hash
        )?;
    }
    for table in tables {
        for row in table.content.iter().flatten() {
            writeln!(out, "{}\t{row}", table.table)?;
        }
    }
    Ok(())
}

/// `indexer status`.
pub(crate) fn status(db: &Path, status: &Status, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &status)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "index:       {}", db.display())?;
    writeln!(out, "files:       {}", status.files)?;
    writeln!(
        out,
        "units:       {} ({} indexed, {} pending, {} failed)",
        status.units, status.units_indexed, status.units_pending, status.units_failed
    )?;
    if status.units_with_errors > 0 {
        writeln!(
            out,
            "errors:      {} of the indexed units had errors; they hold what clang understood",
            status.units_with_errors
        )?;
    }
    if status.units_adjusted > 0 {
        writeln!(
            out,
            "commands:    {} adjusted for libclang (see `indexer status --unit FILE`)",
            status.units_adjusted
        )?;
    }
    writeln!(out, "symbols:     {}", status.symbols)?;
    writeln!(out, "references:  {}", status.references)?;
    match &status.last_run {
        Some(run) => writeln!(
            out,
            "last run:    {} (started {}{}; {} indexed, {} failed, {} removed)",
            run.status,
            run.started,
            run.finished
                .as_ref()
                .map(|f| format!(", finished {f}"))
                .unwrap_or_default(),
            run.indexed,
            run.failed,
            run.removed
        )?,
        None => writeln!(out, "last run:    none")?,
    }
    if status.query_indexes_deferred {
        let why = if status.build_running {
            "a first or --full build is running"
        } else {
            "an interrupted first or --full build left out the query indexes"
        };
        writeln!(
            out,
            "note:        {why}; queries scan (slower) until `indexer build` completes"
        )?;
    }
    for failed in &status.failed {
        writeln!(
            out,
            "failed:      {}: {}{}",
            failed.file,
            failed.reason,
            if failed.quarantined {
                " (quarantined)"
            } else {
                ""
            }
        )?;
    }
    for unit in &status.with_errors {
        writeln!(
            out,
            "with errors: {} ({} errors; the first at {})",
            unit.file, unit.errors, unit.first
        )?;
    }
    if status.units_with_errors > status.with_errors.len() as u64 {
        writeln!(
            out,
            "             and {} more units with errors",
            status.units_with_errors - status.with_errors.len() as u64
        )?;
    }
    for unit in &status.slowest {
        writeln!(
            out,
            "slow:        {:>7} ms  {:>9}  {:>6} symbols  {}",
            unit.parse_ms,
            human(unit.worker_rss_bytes),
            unit.symbols,
            unit.file
        )?;
    }
    Ok(())
}

/// `indexer status --unit FILE`: one unit's state and command.
pub(crate) fn unit(unit: &Unit, json: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer_pretty(&mut out, &unit)?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(out, "unit:        {}", unit.file)?;
    writeln!(
        out,
        "state:       {}{}",
        unit.state,
        unit.reason
            .as_ref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default()
    )?;
    writeln!(out, "directory:   {}", unit.directory)?;
    write_command(&mut out, &unit.command)?;
    if unit.command.changes.is_empty() {
        writeln!(
            out,
            "changed:     nothing (the compile command is used as written)"
        )?;
    }
    Ok(())
}

/// One line per unit `--explain` found dirty, with its command when the
/// command stage changed it.
pub(crate) fn dirty_unit(out: &mut impl Write, unit: &DirtyUnit<'_>) -> std::io::Result<()> {
    writeln!(out, "{}: {}", unit.file, unit.reason)?;
    if let Some(command) = &unit.adjusted {
        write_command(out, command)?;
    }
    Ok(())
}

/// The last line of `--explain`.
pub(crate) fn explained(out: &mut impl Write, explained: &Explained) -> std::io::Result<()> {
    writeln!(
        out,
        "{} of {} units would be indexed",
        explained.dirty, explained.units
    )
}

/// A unit's arguments, as a shell would take them, and each change the
/// command stage made.
fn write_command(out: &mut impl Write, command: &Command) -> std::io::Result<()> {
    let args = shlex::try_join(command.args.iter().map(String::as_str))
        .unwrap_or_else(|_| command.args.join(" "));
    writeln!(out, "    arguments: {args}")?;
    for change in &command.changes {
        writeln!(out, "    changed:   {change}")?;
    }
    Ok(())
}

/// The end of a build: the `--json` summary, and a line or two for people.
pub(crate) fn summary(outcome: &BuildOutcome, json: bool, quiet: bool) -> anyhow::Result<()> {
    let (s, ending): (&Summary, &Ending) = (&outcome.summary, &outcome.ending);
    let mut out = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out, s)?;
        writeln!(out)?;
    }
    match ending {
        Ending::Fatal(reason) => output::note(&format!("error: {reason}")),
        Ending::Cancelled(_) => output::note(&format!(
            "cancelled: {} units indexed and kept; run `indexer build` again to resume",
            s.indexed
        )),
        Ending::Complete if !json && !quiet => {
            writeln!(
                out,
                "indexed {} units, {} unchanged, {} failed, {} removed in {:.2} s; index holds {} symbols, {} references",
                s.indexed, s.unchanged, s.failed, s.removed, s.elapsed_s, s.symbols, s.references
            )?;
            writeln!(
                out,
                "memory: supervisor peak {}, largest worker {}; {} workers started, {} recycled, {} killed for memory, {} timed out, {} crashed",
                human(s.supervisor_peak_rss_bytes),
                human(s.worker_peak_rss_bytes),
                s.workers_spawned,
                s.workers_recycled,
                s.workers_killed_for_memory,
                s.workers_timed_out,
                s.workers_crashed
            )?;
            if s.adjusted_commands > 0 {
                writeln!(
                    out,
                    "{} compile commands adjusted for libclang (see `indexer status --unit FILE`)",
                    s.adjusted_commands
                )?;
            }
            if s.indexed_with_errors > 0 {
                writeln!(
                    out,
                    "{} of the indexed units had errors (a missing header, code clang rejects): \
                     they hold what clang understood; `indexer status` lists them",
                    s.indexed_with_errors
                )?;
            }
            if s.failed > 0 {
                writeln!(out, "see the failures with `indexer status`")?;
            }
        }
        Ending::Complete => {}
    }
    Ok(())
}

/// The line `export scip` ends with, on stderr: what it wrote, and what it
/// left out or could not place exactly.
pub(crate) fn scip_summary(summary: &ScipSummary) -> String {
    let mut line = format!(
        "exported {} documents, {} occurrences, {} symbols and {} external symbols ({})",
        summary.documents,
        summary.occurrences,
        summary.symbols,
        summary.external_symbols,
        human(summary.bytes)
    );
    let files = |n: u64| if n == 1 { "file" } else { "files" };
    if summary.outside_root > 0 {
        line.push_str(&format!(
            "; {} project {} outside the project root left out (pass their common root as PROJECT)",
            summary.outside_root,
            files(summary.outside_root)
        ));
    }
    if summary.stale > 0 {
        line.push_str(&format!(
            "; {} {} changed or unreadable since indexed, ranges as long as the names (run `indexer build` first)",
            summary.stale,
            files(summary.stale)
        ));
    }
    line
}

/// `indexer merge`.
pub(crate) fn merged(out: &Path, summary: &MergeSummary, json: bool) -> anyhow::Result<()> {
    let mut out_stream = std::io::stdout().lock();
    if json {
        serde_json::to_writer(&mut out_stream, summary)?;
        writeln!(out_stream)?;
        return Ok(());
    }
    writeln!(
        out_stream,
        "merged {} shards into {} in {:.2} s: {} units copied ({} files' rows), index holds {} units, {} symbols, {} references",
        summary.shards,
        out.display(),
        summary.elapsed_s,
        summary.units,
        summary.files_copied,
        summary.units_total,
        summary.symbols,
        summary.references
    )?;
    Ok(())
}

/// One build of a watch: a line for people (the time, what changed, what
/// was indexed and how long it took), or one JSON object per build.
pub(crate) fn watch_build(
    trigger: &Trigger,
    built: Result<&BuildOutcome, &BuildError>,
    root: &Path,
    json: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let changes = match trigger {
        Trigger::Start => None,
        Trigger::Changes(changes) => Some(changes),
    };
    if json {
        #[derive(serde::Serialize)]
        struct WatchBuild<'a> {
            trigger: &'static str,
            changed: Vec<&'a Path>,
            changed_truncated: bool,
            compdb_changed: bool,
            rescan: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<String>,
            #[serde(flatten)]
            summary: Option<&'a Summary>,
            #[serde(skip_serializing_if = "Option::is_none")]
            status: Option<&'static str>,
        }
        let (summary, error) = match built {
            Ok(outcome) => (Some(&outcome.summary), None),
            Err(e) => (None, Some(indexer::one_line(e))),
        };
        let object = WatchBuild {
            trigger: if changes.is_some() {
                "changes"
            } else {
                "start"
            },
            changed: changes.map_or(Vec::new(), |c| {
                c.paths.iter().map(|p| p.as_path()).collect()
            }),
            changed_truncated: changes.is_some_and(|c| c.truncated),
            compdb_changed: changes.is_some_and(|c| c.compdb),
            rescan: changes.is_some_and(|c| c.rescan),
            status: error.as_ref().map(|_| "error"),
            error,
            summary,
        };
        serde_json::to_writer(&mut out, &object)?;
        writeln!(out)?;
    }
    let cause = match changes {
        None => "start".to_string(),
        Some(changes) => changed_paths(changes, root),
    };
    let clock = clock();
    match built {
        Err(e) => output::note(&format!(
            "[{clock}] {cause}: error: {}; watching for the next change",
            indexer::one_line(e)
        )),
        Ok(outcome) => match &outcome.ending {
            Ending::Fatal(reason) => output::note(&format!("[{clock}] {cause}: error: {reason}")),
            Ending::Cancelled(_) => output::note(&format!(
                "[{clock}] cancelled: {} units indexed and kept; the next build resumes",
                outcome.summary.indexed
            )),
            Ending::Complete if !json && !quiet => {
                let s = &outcome.summary;
                writeln!(
                    out,
                    "[{clock}] {cause}: indexed {} units, {} failed, {} unchanged, {} removed in {:.2} s",
                    s.indexed, s.failed, s.unchanged, s.removed, s.elapsed_s
                )?;
            }
            Ending::Complete => {}
        },
    }
    Ok(())
}

/// The paths that changed, relative to the project when below it: the
/// first three, and how many more.
fn changed_paths(changes: &Changes, root: &Path) -> String {
    const SHOWN: usize = 3;
    let mut text = changes
        .paths
        .iter()
        .take(SHOWN)
        .map(|path| {
            path.strip_prefix(root)
                .unwrap_or(path)
                .display()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join(", ");
    let more = changes.paths.len().saturating_sub(SHOWN);
    if more > 0 || changes.truncated {
        let plus = if changes.truncated { "+" } else { "" };
        text.push_str(&format!(" (and {more}{plus} more)"));
    }
    if changes.rescan {
        text.push_str(if changes.paths.is_empty() {
            "rescan"
        } else {
            " (rescan)"
        });
    }
    text
}

/// The local time of day, `HH:MM:SS`.
fn clock() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs()) as libc::time_t;
    // SAFETY: localtime_r writes only into `tm`, which outlives the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return "--:--:--".to_string();
    }
    format!("{:02}:{:02}:{:02}", tm.tm_hour, tm.tm_min, tm.tm_sec)
}

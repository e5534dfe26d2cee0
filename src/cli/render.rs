//! Rendering the library's typed answers for people (text) and scripts
//! (JSON on stdout). Nothing here computes: every figure comes from the
//! library; a new output format is a new function here.

use std::io::Write;
use std::path::Path;

use indexer::build::{BuildError, BuildOutcome, Command, DirtyUnit, Ending, Explained, Summary};
use indexer::export::scip::ScipSummary;
use indexer::index::model::SymbolKind;
use indexer::index::query::{self, Status, Unit};
use indexer::index::{MergeSummary, TableDigest};
use indexer::memory::human;
use indexer::watch::{Changes, Trigger};

use super::output;

/// Any answer as pretty JSON on stdout.
fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Where a row is: its file, line and column.
fn place(row: &query::Row) -> String {
    match &row.file {
        Some(file) => format!(
            "{file}:{}:{}",
            row.line.unwrap_or(0),
            row.column.unwrap_or(0)
        ),
        // A symbol of a system header that the index holds no declaration of.
        None => "(system header)".to_string(),
    }
}

/// A symbol or a use on one line: place, kind, name, roles, container.
fn row_line(row: &query::Row) -> String {
    let mut line = format!("{}  {} {}", place(row), row.kind, row.qualified_name);
    if let Some(roles) = row.roles.as_ref().filter(|r| !r.is_empty()) {
        line.push_str(&format!(" [{}]", roles.join(",")));
    }
    if let Some(container) = &row.container {
        line.push_str(&format!("  in {container}"));
    }
    line
}

/// Says on stderr that a list was cut, and how to see the rest.
fn note_truncated(shown: usize, offset: usize, total: u64, truncated: bool) {
    if truncated {
        output::note(&format!(
            "({shown} of {total} shown from #{}: pass --limit N (0 for all) and --offset N for more)",
            offset + 1
        ));
    } else if total == 0 {
        output::note("(no results)");
    }
}

/// `find`: one symbol per line.
pub(crate) fn found(found: &query::Found, offset: usize, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        json(found)?;
    } else {
        let mut out = std::io::stdout().lock();
        for row in &found.items {
            writeln!(out, "{}", row_line(row))?;
        }
        note_truncated(found.items.len(), offset, found.total, found.truncated);
    }
    if found.external_left_out > 0 {
        output::note(&format!(
            "({} more in system headers: pass --scope all)",
            found.external_left_out
        ));
    }
    Ok(())
}

/// `info`: a block per symbol.
pub(crate) fn infos(infos: &query::List<query::SymbolInfo>, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(infos);
    }
    let mut out = std::io::stdout().lock();
    for (n, info) in infos.items.iter().enumerate() {
        if n > 0 {
            writeln!(out)?;
        }
        let s = &info.symbol;
        writeln!(out, "{} {}", s.kind, s.qualified_name)?;
        writeln!(out, "  usr:          {}", s.usr)?;
        if let Some(signature) = &s.signature {
            writeln!(out, "  type:         {signature}")?;
        }
        if let Some(t) = &info.underlying_type {
            writeln!(out, "  underlying:   {t}")?;
        }
        if let Some(t) = &info.canonical_type {
            writeln!(out, "  canonical:    {t}")?;
        }
        if let Some(container) = &info.container {
            writeln!(
                out,
                "  in:           {} {}",
                container.kind, container.qualified_name
            )?;
        }
        for d in &info.declarations {
            writeln!(
                out,
                "  {}  {}:{}:{}",
                if d.definition {
                    "defined:    "
                } else {
                    "declared:   "
                },
                d.file,
                d.line,
                d.column
            )?;
        }
        if let Some(doc) = &info.doc {
            writeln!(out, "  doc:")?;
            for line in doc.lines() {
                if line.is_empty() {
                    writeln!(out)?;
                } else {
                    writeln!(out, "    {line}")?;
                }
            }
        }
        let list = |out: &mut std::io::StdoutLock<'_>, label: &str, rows: &[query::Row]| {
            rows.iter()
                .try_for_each(|r| writeln!(out, "  {label:<13} {}", row_line(r)))
        };
        if let Some(bases) = &info.bases {
            list(&mut out, "base:", bases)?;
        }
        if let Some(derived) = &info.derived {
            list(&mut out, "derived:", derived)?;
        }
        if let Some(overrides) = &info.overrides {
            list(&mut out, "overrides:", overrides)?;
        }
        if let Some(by) = &info.overridden_by {
            list(&mut out, "overridden:", by)?;
        }
        if let Some(members) = &info.members {
            list(&mut out, "member:", &members.items)?;
            if members.truncated {
                writeln!(
                    out,
                    "  ({} of {} members shown; `indexer outline` lists a file's)",
                    members.items.len(),
                    members.total
                )?;
            }
        }
    }
    note_truncated(infos.items.len(), 0, infos.total, infos.truncated);
    Ok(())
}

/// `outline`: an indented tree.
pub(crate) fn outline(outline: &query::Outline, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(outline);
    }
    fn write(
        out: &mut impl Write,
        nodes: &[query::OutlineNode],
        depth: usize,
    ) -> std::io::Result<()> {
        for node in nodes {
            writeln!(
                out,
                "{:indent$}{}:{}  {} {}{}",
                "",
                node.line,
                node.column,
                node.kind,
                // At the top, an out-of-line member is named with its class.
                if depth == 1 {
                    &node.qualified_name
                } else {
                    &node.name
                },
                node.signature
                    .as_ref()
                    .filter(|_| node.kind != SymbolKind::Macro)
                    .map(|s| format!("  {s}"))
                    .unwrap_or_default(),
                indent = depth * 2
            )?;
            write(out, &node.children, depth + 1)?;
        }
        Ok(())
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", outline.file)?;
    write(&mut out, &outline.symbols.items, 1)?;
    note_truncated(
        outline.symbols.items.len(),
        0,
        outline.symbols.total,
        outline.symbols.truncated,
    );
    Ok(())
}

/// `at`: each occurrence, then where its symbol is defined.
pub(crate) fn at(at: &query::At, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(at);
    }
    let mut out = std::io::stdout().lock();
    for o in &at.occurrences.items {
        writeln!(
            out,
            "{}:{}:{}  {}{} {} {}  ({} at {})",
            at.file,
            o.line,
            o.column,
            o.occurrence,
            if o.roles.is_empty() {
                String::new()
            } else {
                format!(" [{}]", o.roles.join(","))
            },
            o.symbol.kind,
            o.symbol.qualified_name,
            if o.symbol.definition == Some(true) {
                "defined"
            } else {
                "declared"
            },
            place(&o.symbol)
        )?;
    }
    note_truncated(
        at.occurrences.items.len(),
        0,
        at.occurrences.total,
        at.occurrences.truncated,
    );
    Ok(())
}

/// `hierarchy`: each class with its trees, indented.
pub(crate) fn hierarchy(h: &query::Hierarchy, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(h);
    }
    fn write(
        out: &mut impl Write,
        nodes: &[query::HierarchyNode],
        depth: usize,
    ) -> std::io::Result<()> {
        for node in nodes {
            writeln!(
                out,
                "{:indent$}{} {}{}{}  {}",
                "",
                node.class.kind,
                node.class.qualified_name,
                if node.virtual_base { " (virtual)" } else { "" },
                if node.cycle { " (cycle)" } else { "" },
                place(&node.class),
                indent = depth * 2
            )?;
            write(out, &node.children, depth + 1)?;
        }
        Ok(())
    }
    let mut out = std::io::stdout().lock();
    for root in &h.items {
        writeln!(out, "{}", row_line(&root.class))?;
        if let Some(bases) = &root.bases {
            writeln!(out, "  bases:")?;
            write(&mut out, bases, 2)?;
        }
        if let Some(derived) = &root.derived {
            writeln!(out, "  derived:")?;
            write(&mut out, derived, 2)?;
        }
    }
    if h.truncated {
        output::note("(the node cap cut the trees: pass --max-nodes N, 0 for no cap)");
    }
    Ok(())
}

/// `refs`, `callers`, `callees`: one use per line, a tree indented.
pub(crate) fn uses(uses: &query::Uses, page: query::Page, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(uses);
    }
    fn write(out: &mut impl Write, nodes: &[query::CallNode], depth: usize) -> std::io::Result<()> {
        for node in nodes {
            writeln!(
                out,
                "{:indent$}{}{}",
                "",
                row_line(&node.row),
                if node.cycle { "  (cycle)" } else { "" },
                indent = depth * 2
            )?;
            write(out, &node.children, depth + 1)?;
        }
        Ok(())
    }
    let mut out = std::io::stdout().lock();
    write(&mut out, &uses.items, 0)?;
    note_truncated(uses.items.len(), page.offset, uses.total, uses.truncated);
    Ok(())
}

/// `path`: each chain, one step per line.
pub(crate) fn paths(paths: &query::CallPaths, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(paths);
    }
    let mut out = std::io::stdout().lock();
    for (n, path) in paths.items.iter().enumerate() {
        writeln!(out, "path {} ({} calls):", n + 1, path.steps.len() - 1)?;
        for step in &path.steps {
            match &step.call {
                Some(call) => writeln!(
                    out,
                    "  {}  {}:{}:{}{}",
                    step.function.qualified_name,
                    call.file,
                    call.line,
                    call.column,
                    if call.dynamic {
                        " (virtual call)"
                    } else if call.lambda_definition {
                        " (defines the lambda)"
                    } else {
                        ""
                    }
                )?,
                None => writeln!(out, "  {}", step.function.qualified_name)?,
            }
        }
    }
    if paths.items.is_empty() {
        output::note("(no call path: pass --max-depth N to look further)");
    } else if paths.truncated {
        output::note("(there may be more paths: pass --limit N)");
    }
    Ok(())
}

/// `includes`: an indented tree of files.
pub(crate) fn includes(includes: &query::Includes, as_json: bool) -> anyhow::Result<()> {
    if as_json {
        return json(includes);
    }
    fn write(
        out: &mut impl Write,
        nodes: &[query::IncludeNode],
        depth: usize,
    ) -> std::io::Result<()> {
        for node in nodes {
            writeln!(
                out,
                "{:indent$}{}  (line {}){}",
                "",
                node.file,
                node.line,
                if node.cycle { " (cycle)" } else { "" },
                indent = depth * 2
            )?;
            write(out, &node.children, depth + 1)?;
        }
        Ok(())
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} {}:",
        includes.file,
        if includes.direction == "includes" {
            "includes"
        } else {
            "is included by"
        }
    )?;
    write(&mut out, &includes.tree.items, 1)?;
    if includes.tree.truncated {
        output::note("(the tree was cut at --limit files: pass --limit 0 for all)");
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
    if let Some(progress) = &status.build_progress {
        writeln!(
            out,
            "build:       running, {} of {} units indexed",
            progress.units_done, progress.units_total
        )?;
    }
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

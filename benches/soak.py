#!/usr/bin/env python3
"""Soak benchmark: one large real code base, indexed from scratch and used.

Issue 15's "large real code base as a soak" (meant for llvm, 4,221 units;
runs on any corpus benches/fetch-corpora.sh prepared).  In a fresh temporary
database it runs, one after another:

  full build   `indexer build --full -j N --json --dispatch even`: wall,
               CPU seconds of the process tree, the summary's peaks and
               counts, and the supervisor's VmRSS / VmHWM sampled from /proc
               every second
  throughput   units/s per tenth of the units, in the order they were
               indexed (units.indexed_at, whole seconds), and the last
               tenth's over the first's: throughput must not decay.  The
               build's default order (costliest first) makes the first
               tenth the heaviest; `--dispatch even` deals the units by
               cost into the tenths alike, so that their rates compare
               (`--dispatch costliest` times the default order instead)
  database     size of the index (db + -wal + -shm)
  queries      `indexer find NAME`, `indexer refs QUALIFIED` and
               `indexer callers QUALIFIED`, each a process of its own, on
               100 functions and methods picked with a fixed seed: p50, p99,
               max wall ms, failures
  no-op        `indexer build` with nothing changed, 3 times
  one header   after appending a comment line to the project header whose
               number of including units is closest to 20: the refresh's
               wall time and the units it re-indexed.  The header is edited
               in place, in the corpus, and restored byte for byte (with
               its mtime) whatever happens.

--limit N indexes a documented subset: the first N units of the compile
database in path order (first entry per file), through a filtered
compile_commands.json in the temporary directory.

    python3 benches/soak.py llvm                      # the whole corpus
    python3 benches/soak.py llvm --limit 500 --json soak.json
    python3 benches/soak.py leveldb --keep            # keep the database and logs

Standard library only.  The temporary directory is under $TMPDIR (default
/tmp); a large corpus's database is large.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from compare import BenchError, Corpus, is_skewed, machine_busy_seconds, parse_summary
from indexer_run import build, git_head, indexer_binary

REPO = Path(__file__).resolve().parent.parent
DEFAULT_INDEXER = "target/release/indexer"
QUERY_SYMBOLS = 100
NOOP_RUNS = 3
HEADER_INCLUDERS = 20
HEADER_SUFFIXES = (".h", ".hh", ".hpp", ".hxx")
MIB = 1024 * 1024


def log(msg: str) -> None:
    print(f"[soak] {msg}", file=sys.stderr, flush=True)


def mib(n: int | float | None) -> str:
    return "?" if n is None else f"{n / MIB:.1f} MiB"


# --------------------------------------------------------------------------
# Full build, with the supervisor sampled from /proc
# --------------------------------------------------------------------------

def proc_starttime(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # Field 22; the command name (field 2) may hold spaces, so count
            # from the closing parenthesis.
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


class Sampler(threading.Thread):
    """Reads VmRSS and VmHWM of one process every `interval` seconds until
    stopped; keeps the largest VmRSS and the last VmHWM seen (kB -> bytes).
    The process's start time is checked on every read, so a recycled pid is
    never sampled."""

    def __init__(self, pid: int, interval: float = 1.0):
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.starttime = proc_starttime(pid)
        self.stop = threading.Event()
        self.vmrss_peak = 0
        self.vmhwm = 0
        self.samples = 0

    def sample(self) -> None:
        try:
            text = Path(f"/proc/{self.pid}/status").read_text()
        except OSError:
            return
        if proc_starttime(self.pid) != self.starttime:
            return
        fields = {}
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) * 1024
        if fields:  # a zombie has none
            self.samples += 1
            self.vmrss_peak = max(self.vmrss_peak, fields.get("VmRSS", 0))
            self.vmhwm = max(self.vmhwm, fields.get("VmHWM", 0))

    def run(self) -> None:
        while True:
            self.sample()
            if self.stop.wait(self.interval):
                return


def full_build(indexer: Path, root: Path, compdb: Path, db: Path, jobs: int, dispatch: str,
               tmp: Path) -> dict:
    argv = [str(indexer), "build", "--full", "-j", str(jobs), "--json", "--dispatch", dispatch,
            "--db", str(db), str(root), "--compdb", str(compdb)]
    log(f"full build: {' '.join(argv)}")
    err_path = tmp / "build-full.stderr"
    busy_before = machine_busy_seconds()
    ru_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started_epoch = time.time()
    t0 = time.monotonic()
    with open(err_path, "wb") as err:
        p = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        sampler = Sampler(p.pid)
        sampler.start()
        try:
            out, _ = p.communicate()
        finally:
            sampler.stop.set()
            sampler.join()
            if p.poll() is None:
                p.kill()
                p.wait()
    wall = time.monotonic() - t0
    ru_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (ru_after.ru_utime - ru_before.ru_utime) + (ru_after.ru_stime - ru_before.ru_stime)
    other = max(0.0, machine_busy_seconds() - busy_before - cpu)
    summary = parse_summary(out.decode(errors="replace").strip())
    if summary is None:
        tail = "\n".join(err_path.read_text(errors="replace").splitlines()[-20:])
        raise BenchError(f"indexer exited {p.returncode} without a JSON summary; stderr tail:\n{tail}")
    if p.returncode != 0:
        log(f"warning: the full build exited {p.returncode} (status {summary.get('status')!r})")
    if is_skewed(other, wall):
        log(f"warning: other processes used {other:.1f} CPU s during this {wall:.1f} s build; "
            f"its wall time is skewed")
    return {
        "argv": argv,
        "exit_code": p.returncode,
        "started_at": started_epoch,
        "wall_s": wall,
        "cpu_s": cpu,
        "other_cpu_s": other,
        "supervisor_sampled": {
            "vmrss_peak_bytes": sampler.vmrss_peak,
            "vmhwm_bytes": sampler.vmhwm,
            "samples": sampler.samples,
        },
        "summary": summary,
    }


# --------------------------------------------------------------------------
# Throughput over the build, from units.indexed_at
# --------------------------------------------------------------------------

def throughput(db: Path, started_at: float) -> dict:
    """Units in the order the writer committed them, cut into ten slices of
    (nearly) equal count.  Slice k spans from the previous slice's last
    commit to its own last commit, so the spans tile the build; slice 1
    starts at its first commit instead, leaving out the start-up (discovery,
    the first parses), which `first_unit_after_s` reports.  indexed_at is in
    whole seconds, so a slice shorter than a few seconds has no meaningful
    rate (None when its span is 0)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = conn.execute(
        "SELECT indexed_at, coalesce(parse_ms, 0) FROM units "
        "WHERE state = 'indexed' AND indexed_at IS NOT NULL ORDER BY indexed_at, id").fetchall()
    conn.close()
    n = len(rows)
    if n == 0:
        return {"units": 0, "deciles": []}
    deciles = []
    prev_end = None
    for k in range(10):
        part = rows[k * n // 10:(k + 1) * n // 10]
        if not part:
            continue
        end = part[-1][0]
        if prev_end is None:
            start, counted = part[0][0], len(part) - 1  # intervals after the first commit
        else:
            start, counted = prev_end, len(part)
        span = end - start
        parse_s = sum(ms for _, ms in part) / 1000
        deciles.append({
            "decile": k + 1,
            "units": len(part),
            "from_s": start - started_at,
            "to_s": end - started_at,
            "span_s": span,
            "units_per_s": counted / span if span > 0 else None,
            "parse_s": parse_s,
            "mean_parse_ms": parse_s * 1000 / len(part),
            "parse_s_per_wall_s": parse_s / span if span > 0 else None,
        })
        prev_end = end
    first, last = deciles[0]["units_per_s"], deciles[-1]["units_per_s"]
    return {
        "units": n,
        "first_unit_after_s": rows[0][0] - started_at,
        "last_unit_after_s": rows[-1][0] - started_at,
        "first_10pct_units_per_s": first,
        "last_10pct_units_per_s": last,
        "last_over_first": last / first if first and last else None,
        "deciles": deciles,
    }


# --------------------------------------------------------------------------
# Database size
# --------------------------------------------------------------------------

def db_size(db: Path) -> dict:
    sizes = {}
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{db}{suffix}")
        sizes[suffix.lstrip("-") or "db"] = p.stat().st_size if p.exists() else 0
    sizes["total"] = sum(sizes.values())
    return sizes


# --------------------------------------------------------------------------
# Query latency
# --------------------------------------------------------------------------

def query_symbols(db: Path, root: Path, count: int, seed: int) -> tuple[list[tuple[str, str]], int]:
    """`count` (name, qualified name) pairs drawn with `seed` from the
    functions and methods that are defined in a project file (under root,
    not a system header), called at least once, and whose qualified name no
    other symbol has (an overloaded name would make `refs`/`callers`
    answer "ambiguous").  Returns them and the size of the pool."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    prefix = str(root) + "/"
    pool = conn.execute(
        """SELECT s.name, s.qualified_name FROM symbols s
           WHERE s.kind IN ('function', 'method')
             AND EXISTS (SELECT 1 FROM decls d JOIN files f ON f.id = d.file_id
                         WHERE d.symbol_id = s.id AND d.is_definition = 1 AND f.is_system = 0
                           AND substr(f.path, 1, length(?1)) = ?1)
             AND EXISTS (SELECT 1 FROM refs r WHERE r.symbol_id = s.id AND (r.roles & 32) != 0)
             AND s.qualified_name IN (SELECT qualified_name FROM symbols
                                      GROUP BY qualified_name HAVING count(*) = 1)
           ORDER BY s.usr""", (prefix,)).fetchall()
    conn.close()
    rng = random.Random(seed)
    return rng.sample(pool, min(count, len(pool))), len(pool)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of them at or below."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def run_queries(indexer: Path, root: Path, db: Path, picks: list[tuple[str, str]]) -> dict:
    results = {}
    for command in ("find", "refs", "callers"):
        times, rows, failures = [], [], []
        empty = 0
        for name, qualified in picks:
            arg = name if command == "find" else qualified
            argv = [str(indexer), command, "--db", str(db), "--project", str(root), "--", arg]
            t0 = time.perf_counter()
            out = subprocess.run(argv, cwd=REPO, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            ms = (time.perf_counter() - t0) * 1000
            times.append(ms)
            if out.returncode != 0:
                failures.append({"symbol": arg, "exit_code": out.returncode,
                                 "stderr_head": "\n".join(out.stderr.splitlines()[:3])})
                continue
            lines = len(out.stdout.splitlines())
            rows.append(lines)
            empty += lines == 0
        times.sort()
        results[command] = {
            "runs": len(times),
            "p50_ms": statistics.median(times) if times else None,
            "p99_ms": percentile(times, 0.99) if times else None,
            "max_ms": times[-1] if times else None,
            "failed": len(failures),
            "failures": failures[:10],
            "empty_answers": empty,
            "median_rows": statistics.median(rows) if rows else None,
            "max_rows": max(rows) if rows else None,
        }
        r = results[command]
        if times:
            log(f"queries: {command}: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, "
                f"{len(failures)} failed")
        for f in failures[:3]:
            log(f"queries: {command} {f['symbol']!r} exited {f['exit_code']}: {f['stderr_head']}")
    return results


# --------------------------------------------------------------------------
# Refreshes
# --------------------------------------------------------------------------

def header_near(db: Path, root: Path, target: int) -> tuple[Path, int] | None:
    """The project header (under root, not a unit's main file, a header by
    its suffix) whose number of including units in unit_deps is closest to
    `target`; ties go to the larger count, then to the path."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    prefix = str(root) + "/"
    rows = conn.execute(
        """SELECT f.path, count(*) AS n FROM unit_deps d JOIN files f ON f.id = d.file_id
           WHERE f.is_system = 0 AND f.id NOT IN (SELECT file_id FROM units)
             AND substr(f.path, 1, length(?1)) = ?1
           GROUP BY f.id""", (prefix,)).fetchall()
    conn.close()
    rows = [(Path(p), n) for p, n in rows
            if p.endswith(HEADER_SUFFIXES) and os.path.isfile(p) and os.access(p, os.W_OK)]
    if not rows:
        return None
    return min(rows, key=lambda r: (abs(r[1] - target), -r[1], str(r[0])))


def header_refresh(indexer: Path, root: Path, compdb: Path, db: Path, jobs: int, keep: bool) -> dict | None:
    pick = header_near(db, root, HEADER_INCLUDERS)
    if pick is None:
        log("one header: no project header in the index; skipped")
        return None
    header, includers = pick
    log(f"one header: {header.relative_to(root)} (included by {includers} units)")
    original = header.read_bytes()
    st = header.stat()
    result = {"header": str(header.relative_to(root)), "includers": includers}
    try:
        with open(header, "ab") as f:
            f.write(b"\n// soak benchmark edit\n")
        s = build(indexer, root, db, jobs=jobs, extra=("--compdb", str(compdb)))
        result.update(wall_s=s["wall_s"], indexed=s["indexed"], failed=s["failed"], summary=s)
    finally:
        with open(header, "wb") as f:
            f.write(original)
        os.utime(header, ns=(st.st_atime_ns, st.st_mtime_ns))
        if header.read_bytes() != original or header.stat().st_mtime_ns != st.st_mtime_ns:
            log(f"ERROR: {header} was not restored as it was")
        else:
            log(f"one header: {header.relative_to(root)} restored")
    if keep:
        # The kept index holds the edited header; one more refresh brings it
        # back to the sources (the restored size differs from the edited one).
        s = build(indexer, root, db, jobs=jobs, extra=("--compdb", str(compdb)))
        result["after_restore"] = {"wall_s": s["wall_s"], "indexed": s["indexed"]}
    return result


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def fmt(x: float | None, spec: str = ".2f") -> str:
    return "-" if x is None else format(x, spec)


def print_report(r: dict) -> None:
    fb, s = r["full_build"], r["full_build"]["summary"]
    print(f"soak: {r['corpus']}, {r['units_selected']} of {r['units_in_compdb']} units"
          f"{' (first ' + str(r['limit']) + ' in path order)' if r['limit'] else ''}, -j {r['jobs']}, "
          f"dispatch {r.get('dispatch', 'costliest')}")
    print(f"  full build      wall {fb['wall_s']:.1f} s, cpu {fb['cpu_s']:.1f} s "
          f"(other processes {fb['other_cpu_s']:.1f} s), exit {fb['exit_code']}")
    print(f"                  indexed {s.get('indexed')} of {s.get('files_total')}, failed {s.get('failed')}, "
          f"units_with_prelude {s.get('units_with_prelude')}, prelude_fallbacks {s.get('prelude_fallbacks')}")
    sup = fb["supervisor_sampled"]
    print(f"  supervisor      peak RSS {mib(s.get('supervisor_peak_rss_bytes'))} (summary); "
          f"sampled: VmRSS max {mib(sup['vmrss_peak_bytes'])}, VmHWM {mib(sup['vmhwm_bytes'])} "
          f"({sup['samples']} samples)")
    print(f"  worker          peak {mib(s.get('worker_peak_rss_bytes'))} owned, "
          f"{mib(s.get('worker_peak_resident_bytes'))} resident")
    t = r["throughput"]
    if t["units"]:
        print(f"  throughput      {s.get('indexed', 0) / fb['wall_s']:.2f} units/s over the build; "
              f"first 10% {fmt(t['first_10pct_units_per_s'])}, last 10% {fmt(t['last_10pct_units_per_s'])} "
              f"units/s, last/first {fmt(t['last_over_first'], '.3f')}; first unit after "
              f"{t['first_unit_after_s']:.0f} s")
        print("      decile  units    from s      to s   units/s  mean parse ms  parse s/wall s")
        for d in t["deciles"]:
            print(f"      {d['decile']:>6}  {d['units']:>5}  {d['from_s']:>8.0f}  {d['to_s']:>8.0f}  "
                  f"{fmt(d['units_per_s']):>8}  {d['mean_parse_ms']:>13.0f}  {fmt(d['parse_s_per_wall_s']):>14}")
    size = r["db_bytes"]
    print(f"  database        {mib(size['total'])} (db {mib(size['db'])}, wal {mib(size['wal'])}, "
          f"shm {mib(size['shm'])})")
    q = r["queries"]
    print(f"  queries         {q['symbols']} symbols of {q['pool']} (seed {q['seed']}), one process each")
    print("      command   p50 ms   p99 ms   max ms  failed  empty  median rows")
    for command, c in q["commands"].items():
        print(f"      {command:<8} {fmt(c['p50_ms'], '.1f'):>7}  {fmt(c['p99_ms'], '.1f'):>7}  "
              f"{fmt(c['max_ms'], '.1f'):>7}  {c['failed']:>6}  {c['empty_answers']:>5}  "
              f"{fmt(c['median_rows'], '.0f'):>11}")
    n = r["noop_refresh"]
    print(f"  no-op refresh   median {n['median_wall_s']:.3f} s (runs: "
          f"{', '.join(f'{w:.3f}' for w in n['wall_s_runs'])}; units indexed: "
          f"{', '.join(str(i) for i in n['indexed_runs'])})")
    h = r["header_refresh"]
    if h:
        print(f"  one header      {h['header']} (included by {h['includers']} units): "
              f"{h['wall_s']:.1f} s, {h['indexed']} units re-indexed, {h['failed']} failed")
        if "after_restore" in h:
            a = h["after_restore"]
            print(f"                  after restoring it: {a['wall_s']:.1f} s, {a['indexed']} units re-indexed")
    else:
        print("  one header      (no project header)")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpus", help="a name under benches/corpora/ (llvm, leveldb, ...) or a corpus directory")
    ap.add_argument("--indexer", default=DEFAULT_INDEXER,
                    help="indexer binary; relative paths are from the repo root (default: %(default)s)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="worker processes (default: %(default)s)")
    ap.add_argument("--limit", type=int, metavar="N",
                    help="index only the first N units of the compile database in path order")
    ap.add_argument("--dispatch", choices=("even", "costliest"), default="even",
                    help="the full build's order of units (default: %(default)s, so that the tenths compare)")
    ap.add_argument("--seed", type=int, default=15, help="seed of the query symbols' draw (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (database, logs)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure to FILE as JSON")
    args = ap.parse_args()
    if args.jobs < 1 or (args.limit is not None and args.limit < 1):
        ap.error("--jobs and --limit must be at least 1")

    indexer = indexer_binary(args.indexer)
    if indexer is None:
        return 2
    try:
        corpus = Corpus(args.corpus)
    except BenchError as e:
        log(f"error: {e}")
        return 2

    # SIGTERM runs the finally blocks too (the edited header is restored).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load1 = os.getloadavg()[0]
    if load1 > 0.5:
        log(f"warning: load average is {load1:.2f}; other work on the machine will skew the wall times")

    tmp = Path(tempfile.mkdtemp(prefix=f"indexer-soak-{corpus.name}-"))
    db = tmp / "index.db"
    units = corpus.units
    compdb = corpus.compdb
    if args.limit is not None:
        units = sorted(units, key=lambda u: u[0])[:args.limit]
        compdb = tmp / "compile_commands.json"
        compdb.write_text(json.dumps([entry for _, entry in units], indent=1))
        log(f"subset: the first {len(units)} of {len(corpus.units)} units in path order, {compdb}")
    report = {
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": list(os.getloadavg())},
        "indexer": str(indexer),
        "repo_head": git_head(),
        "corpus": corpus.name,
        "root": str(corpus.root),
        "compdb": str(compdb),
        "entries_in_compdb": corpus.entries_total,
        "units_in_compdb": len(corpus.units),
        "limit": args.limit,
        "units_selected": len(units),
        "jobs": args.jobs,
        "dispatch": args.dispatch,
    }
    try:
        report["full_build"] = full_build(indexer, corpus.root, compdb, db, args.jobs, args.dispatch, tmp)
        s = report["full_build"]["summary"]
        log(f"full build: {report['full_build']['wall_s']:.1f} s, {s.get('indexed')} indexed, "
            f"{s.get('failed')} failed")
        report["throughput"] = throughput(db, report["full_build"]["started_at"])
        report["db_bytes"] = db_size(db)

        picks, pool = query_symbols(db, corpus.root, QUERY_SYMBOLS, args.seed)
        log(f"queries: {len(picks)} symbols drawn from {pool}")
        report["queries"] = {"symbols": len(picks), "pool": pool, "seed": args.seed,
                             "picked": [q for _, q in picks],
                             "commands": run_queries(indexer, corpus.root, db, picks)}

        noop = [build(indexer, corpus.root, db, jobs=args.jobs, extra=("--compdb", str(compdb)))
                for _ in range(NOOP_RUNS)]
        walls = [n["wall_s"] for n in noop]
        report["noop_refresh"] = {"wall_s_runs": walls, "median_wall_s": statistics.median(walls),
                                  "indexed_runs": [n["indexed"] for n in noop]}
        log(f"no-op refresh: {', '.join(f'{w:.3f}' for w in walls)} s")

        report["header_refresh"] = header_refresh(indexer, corpus.root, compdb, db, args.jobs, args.keep)
        report["db_bytes_at_end"] = db_size(db)
    except BenchError as e:
        log(f"error: {e}")
        return 1
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

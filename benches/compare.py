#!/usr/bin/env python3
"""Compares `indexer build --full` with two reference points on real corpora.

For each corpus (prepared by benches/fetch-corpora.sh) it runs, one after
another, on the same compile_commands.json and with the same parallelism:

  indexer  `indexer build --full -j N --json ...`: the thing under test.
  no-prelude  the same with `--no-prelude`: the plain parse the prelude
           (the standard library precompiled) must never lose to (issue 15).
  floor    `clang -fsyntax-only` on every unique unit, N at a time: what
           parsing every unit in full costs.  A reference rather than a hard
           limit: an indexer that skips the bodies of headers it has already
           seen (as clangd's does) can beat it.
  clangd   clangd's background index, driven over LSP until it reports the
           index complete: the incumbent a user would otherwise reach for.

and prints a table per corpus (or JSON with --json).  See benches/README.md.

Standard library only, so it runs wherever python3 does.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BENCHES_DIR = Path(__file__).resolve().parent
REPO_ROOT = BENCHES_DIR.parent
CORPORA_DIR = BENCHES_DIR / "corpora"
DEFAULT_CORPORA = ["leveldb", "protobuf"]
DEFAULT_INDEXER = "target/release/indexer"

# Keys the indexer's --json summary promises (see the task contract).  A
# missing key is reported, not fatal: the benchmark is still worth having.
INDEXER_KEYS = [
    "status", "files_total", "indexed", "failed", "symbols", "references",
    "elapsed_s", "supervisor_peak_rss_bytes", "worker_peak_rss_bytes",
    "workers_spawned",
]

CLANGD_PROGRESS_TOKEN = "backgroundIndexProgress"


class BenchError(Exception):
    """A failure that makes a figure impossible to produce."""


def log(msg: str) -> None:
    print(f"[compare] {msg}", file=sys.stderr, flush=True)


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def dir_size(path: Path) -> tuple[int, int]:
    """(total bytes, file count) of everything under path; (0, 0) if absent."""
    total = count = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
                count += 1
            except FileNotFoundError:
                pass  # clangd renames shards into place while we walk
    return total, count


def tool_version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30).stdout
        return out.splitlines()[0].strip() if out else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


# --------------------------------------------------------------------------
# Corpora and compile databases
# --------------------------------------------------------------------------

class Corpus:
    """A corpus directory: the project root, holding build/compile_commands.json.

    The project root (not src/) is what the indexer is pointed at, because
    configure-time generated headers (leveldb's port_config.h, protobuf's
    options-pinned.h) live under build/ and belong to the project too.
    """

    def __init__(self, spec: str, limit: int | None = None):
        path = Path(spec)
        # A bare name means benches/corpora/<name>; anything path-like is taken
        # as a corpus directory of the same shape, for ad-hoc corpora.
        self.root = (CORPORA_DIR / spec) if len(path.parts) == 1 and not path.exists() else path.resolve()
        self.name = self.root.name
        self.compdb = self.root / "build" / "compile_commands.json"
        if not self.compdb.is_file():
            raise BenchError(
                f"{self.compdb} not found; run benches/fetch-corpora.sh {self.name} first")
        entries = json.loads(self.compdb.read_text())
        self.entries_total = len(entries)
        # CMake lists a file once per target that compiles it (leveldb's
        # test helpers, protobuf's lite/full runtime).  The first entry wins,
        # which is the rule the indexer is specified to follow too.
        unique: dict[str, dict] = {}
        for e in entries:
            unique.setdefault(os.path.normpath(os.path.join(e["directory"], e["file"])), e)
        self.units = list(unique.items())
        if limit is not None:
            # A documented subset (soak.py's rule): the first N units in
            # path order, in a compile database of their own, in a directory
            # of its own so that clangd's cache goes there too.
            self.units = sorted(self.units, key=lambda u: u[0])[:limit]
            subset = Path(tempfile.mkdtemp(prefix=f"compare-{self.name}-first-{limit}-"))
            self.compdb = subset / "compile_commands.json"
            self.compdb.write_text(json.dumps([entry for _, entry in self.units], indent=1))

    @property
    def compdb_dir(self) -> Path:
        return self.compdb.parent


def entry_argv(entry: dict) -> list[str]:
    if "arguments" in entry:
        return list(entry["arguments"])
    return shlex.split(entry["command"])


# Flags that make the driver produce an object file or dependency files.
# -fsyntax-only would ignore most of them, but -MD/-MF would still write .d
# files into the build tree, so they go.
_DROP = {"-c", "-S", "-E", "-M", "-MM", "-MD", "-MMD", "-MP", "-MG"}
_DROP_WITH_VALUE = {"-o", "-MF", "-MT", "-MQ"}
_DROP_ATTACHED = ("-MF", "-MT", "-MQ")


def syntax_only_argv(entry: dict, clang: str, clangxx: str, extra: list[str]) -> list[str]:
    argv = entry_argv(entry)
    # Keep the entry's C/C++ driver choice: it decides how a .c file parses.
    driver = clangxx if "++" in os.path.basename(argv[0]) else clang
    out = [driver, "-fsyntax-only", *extra]
    args = argv[1:]
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in _DROP_WITH_VALUE or arg == "-include-pch":
            i += 2
        elif arg == "-Xclang" and args[i + 1:i + 2] == ["-include-pch"]:
            # A precompiled header (CMake's target_precompile_headers spells
            # it `-Xclang -include-pch -Xclang FILE.pch`) is a build output, so
            # a configured-only tree lacks it and clang would stop at once.
            # The header it was made from stays in the unit (CMake also
            # passes it with `-Xclang -include`), so the floor parses it.
            i += 4
        elif arg in _DROP or arg.startswith(_DROP_ATTACHED):
            i += 1
        else:
            out.append(arg)
            i += 1
    return out


# --------------------------------------------------------------------------
# Child processes with rusage
# --------------------------------------------------------------------------

def run_measured(argv: list[str], cwd: Path | str, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL) -> tuple[int, object]:
    """Runs argv to completion; returns (exit code, rusage).

    os.wait4 rather than Popen.wait, because only wait4 hands back the
    child's rusage (ru_maxrss = its peak RSS, and that of any descendants it
    reaped).  Output must go to files or DEVNULL: nobody drains pipes here.
    """
    p = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    _pid, status, rusage = os.wait4(p.pid, 0)
    # Tell Popen the child is reaped, so it never waits on a recycled pid.
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, rusage


def cpu_seconds(rusage) -> float:
    return rusage.ru_utime + rusage.ru_stime


def machine_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def is_skewed(other_cpu_s: float | None, wall_s: float) -> bool:
    # More than a tenth of the machine going elsewhere makes a run's wall
    # time unrepresentative; the second above it is noise on short runs.
    return other_cpu_s is not None and other_cpu_s > max(1.0, 0.1 * wall_s * (os.cpu_count() or 1))


def measured_run(fn, *args) -> dict:
    """Runs one benchmark and records how much CPU *other* processes used
    meanwhile, so a figure taken next to someone's compile can be told apart
    from a clean one."""
    before = machine_busy_seconds()
    sample = fn(*args)
    busy = machine_busy_seconds() - before
    sample["other_cpu_s"] = max(0.0, busy - (sample.get("cpu_s") or 0.0))
    if is_skewed(sample["other_cpu_s"], sample["wall_s"]):
        log(f"warning: other processes used {sample['other_cpu_s']:.1f} CPU s during this "
            f"{sample['wall_s']:.1f} s run; its wall time is skewed")
    return sample


# --------------------------------------------------------------------------
# (a) indexer
# --------------------------------------------------------------------------

def run_indexer(binary: Path, corpus: Corpus, jobs: int, keep: bool, extra: list[str]) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix=f"indexer-bench-{corpus.name}-"))
    db = tmp / "index.db"
    argv = [str(binary), "build", "--full", "-j", str(jobs), "--json",
            "--db", str(db), str(corpus.root), "--compdb", str(corpus.compdb)] + extra
    log(f"{corpus.name}: indexer: {shlex.join(argv)}")
    try:
        with open(tmp / "stdout", "wb") as out, open(tmp / "stderr", "wb") as err:
            t0 = time.perf_counter()
            rc, ru = run_measured(argv, REPO_ROOT, stdout=out, stderr=err)
            wall = time.perf_counter() - t0
        text = (tmp / "stdout").read_text(errors="replace").strip()
        summary = parse_summary(text)
        if summary is None:
            raise BenchError(
                f"indexer exited {rc} without a JSON summary on stdout\n"
                f"--- stdout (tail) ---\n{text[-2000:]}\n"
                f"--- stderr (tail) ---\n{tail(tmp / 'stderr')}")
        if rc != 0:
            log(f"{corpus.name}: indexer exited {rc} (status={summary.get('status')!r}); "
                f"stderr tail:\n{tail(tmp / 'stderr', 10)}")
        missing = [k for k in INDEXER_KEYS if k not in summary]
        if missing:
            log(f"{corpus.name}: indexer summary lacks {', '.join(missing)}")
        # WAL and SHM files count too: an index that left its data in the WAL
        # has not really got smaller.
        db_bytes = sum(p.stat().st_size for p in tmp.glob("index.db*"))
        return {
            "argv": argv,
            "exit_code": rc,
            "wall_s": wall,
            # Whole process tree: supervisor plus the workers it reaped.
            "cpu_s": cpu_seconds(ru),
            "tree_peak_rss_bytes": ru.ru_maxrss * 1024,
            "db_bytes": db_bytes,
            "summary": summary,
        }
    finally:
        if keep:
            log(f"{corpus.name}: kept indexer output in {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def parse_summary(text: str) -> dict | None:
    """The summary is one JSON object on stdout; tolerate stray lines before it."""
    candidates = [text] + [ln for ln in reversed(text.splitlines()) if ln.lstrip().startswith("{")]
    for c in candidates:
        try:
            obj = json.loads(c)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


# --------------------------------------------------------------------------
# (b) parse-only floor
# --------------------------------------------------------------------------

_reported_failures: set[tuple[str, int]] = set()


def run_floor(corpus: Corpus, jobs: int, clang: str, clangxx: str, extra: list[str]) -> dict:
    log(f"{corpus.name}: floor: {shlex.join([clang, '-fsyntax-only', *extra])} "
        f"on {len(corpus.units)} units, {jobs} at a time")

    def one(item):
        path, entry = item
        with tempfile.TemporaryFile() as err:
            rc, ru = run_measured(syntax_only_argv(entry, clang, clangxx, extra),
                                  entry["directory"], stderr=err)
            msg = ""
            if rc != 0:
                err.seek(0)
                msg = err.read(4000).decode(errors="replace")
        return path, rc, ru, msg

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(one, corpus.units))
    wall = time.perf_counter() - t0

    failures = [{"file": p, "exit_code": rc, "stderr_head": "\n".join(msg.splitlines()[:8])}
                for p, rc, _ru, msg in results if rc != 0]
    # Failures repeat identically on every --repeat; say them once.
    failures_new = [f for f in failures if (f["file"], f["exit_code"]) not in _reported_failures]
    _reported_failures.update((f["file"], f["exit_code"]) for f in failures)
    for f in failures_new[:5]:
        log(f"{corpus.name}: floor: {f['file']} failed ({f['exit_code']}):\n{f['stderr_head']}")
    if len(failures_new) > 5:
        log(f"{corpus.name}: floor: ... and {len(failures_new) - 5} more failures")
    return {
        "extra_flags": extra,
        "units": len(results),
        "failed": len(failures),
        "failures": failures,
        "wall_s": wall,
        "cpu_s": sum(cpu_seconds(ru) for _p, _rc, ru, _m in results),
        "peak_rss_bytes": max((ru.ru_maxrss for _p, _rc, ru, _m in results), default=0) * 1024,
    }


# --------------------------------------------------------------------------
# (c) clangd background index
# --------------------------------------------------------------------------

class LspConnection:
    """Minimal JSON-RPC over stdio: enough to drive clangd to an index."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.inbox: queue.Queue = queue.Queue()
        self._next_id = 0
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        f = self.proc.stdout
        try:
            while True:
                length = None
                while True:
                    line = f.readline()
                    if not line:
                        return
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                if length is None:
                    continue
                body = f.read(length)
                if len(body) < length:
                    return
                self.inbox.put(json.loads(body))
        except (OSError, ValueError):
            return
        finally:
            self.inbox.put(None)  # EOF marker: clangd went away

    def _send(self, msg: dict) -> None:
        body = json.dumps(msg).encode()
        with self._lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def request(self, method: str, params) -> int:
        self._next_id += 1
        self._send({"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params})
        return self._next_id

    def notify(self, method: str, params) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def reply(self, msg_id, result=None) -> None:
        self._send({"jsonrpc": "2.0", "id": msg_id, "result": result})


def proc_status_kib(pid: int, field: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def proc_cpu_seconds(pid: int) -> float | None:
    """utime+stime of all of the process's threads so far, from /proc/PID/stat."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        # Fields after the parenthesised command name, which may hold spaces.
        fields = stat[stat.rindex(")") + 2:].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def clangd_cache_dirs(corpus: Corpus) -> list[Path]:
    # clangd keeps the background index under the project root, which for
    # --compile-commands-dir is that directory (build/).  The corpus root is
    # cleared too in case a clangd version picks it instead.
    return [corpus.compdb_dir / ".cache" / "clangd", corpus.root / ".cache" / "clangd"]


def run_clangd(corpus: Corpus, jobs: int, clangd: str, timeout_s: float, settle_s: float,
               quiet_s: float, verbose: bool) -> dict:
    # A warm cache would make clangd load shards instead of indexing.
    for d in clangd_cache_dirs(corpus):
        shutil.rmtree(d, ignore_errors=True)
    index_dirs = [d / "index" for d in clangd_cache_dirs(corpus)]

    # --enable-config=false: a user's ~/.config/clangd/config.yaml must not
    # change what gets measured.
    argv = [clangd, "--background-index", f"-j={jobs}",
            f"--compile-commands-dir={corpus.compdb_dir}", "--enable-config=false", "--log=info"]
    log(f"{corpus.name}: clangd: {shlex.join(argv)}")
    tmp = Path(tempfile.mkdtemp(prefix=f"clangd-bench-{corpus.name}-"))
    stderr_path = tmp / "clangd.log"
    first_file = corpus.units[0][0]

    with open(stderr_path, "wb") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=corpus.root, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=err)
    lsp = LspConnection(proc)
    try:
        init_id = lsp.request("initialize", {
            "processId": os.getpid(),
            "rootUri": corpus.root.as_uri(),
            # Without workDoneProgress clangd reports no index progress at all
            # and only the index directory's growth would tell us anything.
            "capabilities": {"window": {"workDoneProgress": True}},
        })
        # clangd (like any LSP server) only starts indexing once a file is
        # open: opening it makes clangd load the compile DB and enqueue every
        # file in it.  The open file's own foreground parse is part of the
        # cost, as it is for any clangd user.
        opened = False

        began = ended_at = None
        last_report = None
        last_index_bytes, last_growth_at = 0, None
        last_scan = last_status_log = time.perf_counter()
        deadline = t0 + timeout_s

        while True:
            try:
                msg = lsp.inbox.get(timeout=0.5)
            except queue.Empty:
                msg = False
            now = time.perf_counter()
            if now > deadline:
                raise BenchError(f"clangd did not finish indexing within {timeout_s:.0f}s "
                                 f"(last progress: {last_report}); log: {stderr_path}")
            if msg is None:
                raise BenchError(f"clangd exited ({proc.poll()}) before indexing finished; "
                                 f"log tail:\n{tail(stderr_path)}")
            if msg:
                if "method" in msg and "id" in msg:
                    # Server->client requests (window/workDoneProgress/create
                    # above all) must be answered: clangd holds back the
                    # progress notifications until its create is acknowledged.
                    lsp.reply(msg["id"])
                elif msg.get("id") == init_id and not opened:
                    lsp.notify("initialized", {})
                    lang = "c" if first_file.endswith(".c") else "cpp"
                    lsp.notify("textDocument/didOpen", {"textDocument": {
                        "uri": Path(first_file).as_uri(), "languageId": lang, "version": 1,
                        "text": Path(first_file).read_text(errors="replace")}})
                    opened = True
                elif msg.get("method") == "$/progress" and \
                        msg["params"].get("token") == CLANGD_PROGRESS_TOKEN:
                    value = msg["params"].get("value", {})
                    kind = value.get("kind")
                    if verbose:
                        log(f"{corpus.name}: clangd +{now - t0:.1f}s progress {value}")
                    if kind == "begin":
                        began = began or now
                        ended_at = None  # a new round of indexing: not done yet
                    elif kind == "report":
                        last_report = value.get("message") or last_report
                    elif kind == "end":
                        ended_at = now

            # Growth of the on-disk index is the fallback signal, for a clangd
            # that sends no progress, and a guard against a premature "end".
            # Scanned every couple of seconds only: protobuf's index holds
            # thousands of shards, and the walk's CPU would be clangd's loss.
            if now - last_scan >= 2:
                last_scan = now
                index_bytes = sum(dir_size(d)[0] for d in index_dirs)
                if index_bytes != last_index_bytes:
                    last_index_bytes, last_growth_at = index_bytes, now

            if ended_at is not None and now - ended_at >= settle_s and \
                    (last_growth_at is None or now - last_growth_at >= settle_s):
                done_at, how = ended_at, "progress-end"
                break
            if began is None and last_growth_at is not None and now - last_growth_at >= quiet_s:
                done_at, how = last_growth_at, "index-dir-quiet"
                log(f"{corpus.name}: clangd sent no index progress; "
                    f"judged done by the index dir being quiet for {quiet_s:.0f}s")
                break
            if now - last_status_log >= 30:
                log(f"{corpus.name}: clangd +{now - t0:.0f}s: {last_report or 'starting'}, "
                    f"index {last_index_bytes / 2**20:.1f} MiB")
                last_status_log = now

        # VmHWM is the kernel's own high-water mark of the process's RSS, so
        # one read at the end is the true peak, not a sampled approximation.
        peak_kib = proc_status_kib(proc.pid, "VmHWM")
        cpu = proc_cpu_seconds(proc.pid)
    finally:
        shutdown_clangd(proc, lsp)

    index_dir = next((d for d in index_dirs if d.is_dir()), index_dirs[0])
    index_bytes, shard_count = dir_size(index_dir)
    shutil.rmtree(tmp, ignore_errors=True)
    return {
        "argv": argv,
        "wall_s": done_at - t0,
        "done_by": how,
        "cpu_s": cpu,
        "peak_rss_bytes": peak_kib * 1024 if peak_kib is not None else None,
        "index_dir": str(index_dir),
        "index_bytes": index_bytes,
        # One shard per indexed file, headers included.
        "index_shards": shard_count,
        # clangd's last "done/enqueued" report.  Its counts are tasks, not
        # units: the initial load-the-compile-DB task is one of them.
        "last_progress": last_report,
    }


def shutdown_clangd(proc: subprocess.Popen, lsp: LspConnection) -> None:
    if proc.poll() is None:
        try:
            lsp.request("shutdown", None)
            lsp.notify("exit", None)
            proc.stdin.close()
        except OSError:
            pass
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --------------------------------------------------------------------------
# Orchestration and reporting
# --------------------------------------------------------------------------

def summarize(samples: list[dict], keys_max: tuple[str, ...] = ()) -> dict:
    """Folds repeated runs: median wall and CPU time, max of peak figures.

    The last run's record is kept whole (it has the richer details), with
    the per-run wall times beside it.
    """
    out = dict(samples[-1])
    out["wall_s"] = statistics.median(s["wall_s"] for s in samples)
    out["wall_s_runs"] = [s["wall_s"] for s in samples]
    out["other_cpu_s_runs"] = [s.get("other_cpu_s") for s in samples]
    cpus = [s["cpu_s"] for s in samples if s.get("cpu_s") is not None]
    if cpus:
        out["cpu_s"] = statistics.median(cpus)
    for k in keys_max:
        vals = [s[k] for s in samples if s.get(k) is not None]
        if vals:
            out[k] = max(vals)
    return out


def round_ratios(samples: dict[str, list[dict]]) -> dict:
    """indexer / clangd, indexer / floor and indexer / no-prelude, wall and CPU, per round.

    The host's speed drifts by tens of percent within minutes; the tools of
    one round ran back to back, so their ratio is steadier than the ratio of
    medians taken over all rounds.  Returns per-round lists and their medians.
    """
    out = {}
    for ref in ("clangd", "floor", "noprelude"):
        pairs = list(zip(samples["indexer"], samples[ref]))
        if not pairs:
            continue
        for key in ("wall_s", "cpu_s"):
            runs = [i[key] / r[key] for i, r in pairs if i.get(key) and r.get(key)]
            if runs:
                name = f"indexer_vs_{ref}_{key[:-2]}"
                out[name + "_runs"] = [round(x, 3) for x in runs]
                out[name] = round(statistics.median(runs), 3)
    return out


def mib(n) -> str:
    if n is None:
        return "-"
    return f"{n / 2**20:.0f} MiB" if n >= 10 * 2**20 else f"{n / 2**20:.1f} MiB"


def fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def indexer_rss(s: dict) -> str:
    text = f"{mib(s.get('supervisor_peak_rss_bytes'))} sup / {mib(s.get('worker_peak_rss_bytes'))} wkr"
    # The indexer counts a worker's memory as resident minus shared; its
    # plain resident peak (shared libclang pages included) is what compares
    # with clang's and clangd's figures, so show it when the summary has it.
    if s.get("worker_peak_resident_bytes") is not None:
        text += f" ({mib(s['worker_peak_resident_bytes'])} res)"
    return text


def print_table(name: str, res: dict, jobs: int, repeat: int) -> None:
    floor_wall = res.get("floor", {}).get("wall_s")
    rows = []

    def ratio(wall):
        return f"{wall / floor_wall:.2f}x" if floor_wall else "-"

    if "indexer" in res:
        r = res["indexer"]
        s = r["summary"]
        # Throughput counts every unit attempted, failed ones too, as the
        # floor's does.
        units = s.get("files_total")
        units_txt = f"{fmt(s.get('indexed'), '')}/{fmt(units, '')}" + (f" ({s['failed']} failed)" if s.get("failed") else "")
        rows.append(["indexer", units_txt, fmt(r["wall_s"], ".1f"),
                     fmt(units / r["wall_s"] if units else None, ".2f"), ratio(r["wall_s"]),
                     fmt(r["cpu_s"], ".1f"),
                     indexer_rss(s),
                     mib(r["db_bytes"])])
    if "noprelude" in res:
        r = res["noprelude"]
        rows.append(["indexer --no-prelude", "", fmt(r["wall_s"], ".1f"),
                     fmt(res["units"] / r["wall_s"], ".2f"), ratio(r["wall_s"]),
                     fmt(r["cpu_s"], ".1f"), indexer_rss(r["summary"]), mib(r["db_bytes"])])
    if "floor" in res:
        r = res["floor"]
        rows.append(["clang -fsyntax-only", f"{r['units']}" + (f" ({r['failed']} failed)" if r["failed"] else ""),
                     fmt(r["wall_s"], ".1f"), fmt(r["units"] / r["wall_s"], ".2f"), ratio(r["wall_s"]),
                     fmt(r["cpu_s"], ".1f"), f"{mib(r['peak_rss_bytes'])} max/unit", "-"])
    if "clangd" in res:
        r = res["clangd"]
        units = res["units"]
        rows.append(["clangd --background-index", f"{units}",
                     fmt(r["wall_s"], ".1f"), fmt(units / r["wall_s"], ".2f"), ratio(r["wall_s"]),
                     fmt(r["cpu_s"], ".1f"), mib(r["peak_rss_bytes"]), mib(r["index_bytes"])])

    notes = []
    for tool in ("indexer", "noprelude", "floor", "clangd"):
        r = res.get(tool)
        if r:
            bad = [o for o, w in zip(r["other_cpu_s_runs"], r["wall_s_runs"]) if is_skewed(o, w)]
            if bad:
                notes.append(f"note: {tool}: {len(bad)} of {len(r['wall_s_runs'])} runs shared the machine "
                             f"(up to {max(bad):.0f} CPU s used by other processes); wall times are skewed")

    head = ["tool", "units", "wall s", "TUs/s", "vs floor", "cpu s", "peak RSS", "db size"]
    widths = [max(len(str(row[i])) for row in rows + [head]) for i in range(len(head))]
    print(f"\n== {name}: {res['units']} units ({res['entries']} compile DB entries), "
          f"-j {jobs}, median of {repeat} ==")
    for row in [head, ["-" * w for w in widths]] + rows:
        print("  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths))))
    for ref in ("clangd", "floor", "noprelude"):
        wall = res.get("ratios", {}).get(f"indexer_vs_{ref}_wall_runs")
        if wall:
            cpu = res["ratios"].get(f"indexer_vs_{ref}_cpu_runs", [])
            print(f"indexer / {ref}, per round: "
                  f"wall {', '.join(f'{x:.2f}x' for x in wall)} (median {res['ratios'][f'indexer_vs_{ref}_wall']:.2f}x)"
                  + (f"; CPU {', '.join(f'{x:.2f}x' for x in cpu)}" if cpu else ""))
    if "indexer" in res:
        s = res["indexer"]["summary"]
        print(f"indexer: {fmt(s.get('units_with_prelude'), '')} units used their prelude "
              f"({fmt(s.get('units_with_project_prelude'), '')} with project headers), "
              f"{fmt(s.get('prelude_fallbacks'), '')} parsed again as written "
              f"({fmt(s.get('prelude_discarded_s'), '.1f')} s discarded)")
    for n in notes:
        print(n)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("corpora", nargs="*", default=DEFAULT_CORPORA,
                    help=f"names under benches/corpora/ or corpus directories (default: {' '.join(DEFAULT_CORPORA)})")
    ap.add_argument("--indexer", default=DEFAULT_INDEXER,
                    help="indexer binary; relative paths are from the repo root (default: %(default)s)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="parallel jobs for every tool (default: %(default)s)")
    ap.add_argument("--limit", type=int, metavar="N",
                    help="only the first N units in path order (a subset of a large corpus, as soak.py's --limit)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per tool; wall/CPU times are medians (default: %(default)s)")
    ap.add_argument("--json", nargs="?", const="-", metavar="FILE",
                    help="write all figures as JSON to FILE, or to stdout instead of the tables")
    ap.add_argument("--no-indexer", dest="indexer_on", action="store_false", help="skip the indexer")
    ap.add_argument("--no-prelude-run", dest="noprelude_on", action=argparse.BooleanOptionalAction, default=True,
                    help="also run the indexer with --no-prelude, right after it (default: on)")
    ap.add_argument("--no-floor", dest="floor_on", action="store_false", help="skip the clang -fsyntax-only floor")
    ap.add_argument("--clangd", action=argparse.BooleanOptionalAction, default=True,
                    help="run clangd's background index (default: on)")
    ap.add_argument("--clang", default="clang", help="C driver for the floor (default: %(default)s)")
    ap.add_argument("--clangxx", default="clang++", help="C++ driver for the floor (default: %(default)s)")
    ap.add_argument("--floor-flag", dest="floor_flags", action="append", default=[], metavar="FLAG",
                    help="extra flag for every floor compile, repeatable; e.g. -w to leave out warning "
                         "analyses, which clangd's indexer also skips")
    ap.add_argument("--clangd-bin", default="clangd", help="clangd binary (default: %(default)s)")
    ap.add_argument("--clangd-timeout", type=float, default=3600, help="seconds before giving up on clangd (default: %(default)s)")
    ap.add_argument("--clangd-settle", type=float, default=5,
                    help="seconds clangd must stay idle after its progress ends to count as done (default: %(default)s)")
    ap.add_argument("--clangd-quiet", type=float, default=60,
                    help="without progress reports, seconds of index dir inactivity that mean done (default: %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the indexer's temp dir (database, logs)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every clangd progress notification")
    args = ap.parse_args()

    if args.jobs < 1 or args.repeat < 1:
        ap.error("--jobs and --repeat must be at least 1")

    binary = None
    if args.indexer_on:
        binary = Path(args.indexer)
        if not binary.is_absolute():
            binary = REPO_ROOT / binary
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            log(f"error: indexer binary not found at {binary}\n"
                f"  build it with `cargo build --release` in {REPO_ROOT}, pass --indexer PATH, "
                f"or skip it with --no-indexer")
            return 2
    for tool, on in ((args.clang, args.floor_on), (args.clangxx, args.floor_on), (args.clangd_bin, args.clangd)):
        if on and shutil.which(tool) is None:
            log(f"error: '{tool}' not found on PATH")
            return 2

    try:
        corpora = [Corpus(c, args.limit) for c in args.corpora]
    except BenchError as e:
        log(f"error: {e}")
        return 2

    # Everything here is wall-clock on a 2-core box, and clangd indexes at idle
    # priority: a concurrent compile skews every figure, clangd's most.
    load1 = os.getloadavg()[0]
    if load1 > 0.5:
        log(f"warning: load average is {load1:.2f}; other work on the machine will skew the "
            f"wall times (clangd's most, it indexes at idle priority). CPU seconds are less affected.")

    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "loadavg_at_start": list(os.getloadavg()),
            "clang": tool_version([args.clang, "--version"]) if args.floor_on else None,
            "clangd": tool_version([args.clangd_bin, "--version"]) if args.clangd else None,
        },
        "jobs": args.jobs,
        "repeat": args.repeat,
        "corpora": {},
    }

    try:
        for corpus in corpora:
            samples: dict[str, list[dict]] = {"indexer": [], "noprelude": [], "floor": [], "clangd": []}
            # Runs are interleaved so that drift in the machine's state (page
            # cache, thermal, neighbours: this host's speed moves by tens of
            # percent within minutes) spreads evenly: the indexer and clangd
            # run back to back, each first in turn (a, b, c, b, a, c, ...), so
            # that over an even number of rounds a steady drift favours
            # neither.
            for rep in range(args.repeat):
                if args.repeat > 1:
                    log(f"{corpus.name}: run {rep + 1}/{args.repeat}")
                order = ["indexer", "noprelude", "clangd"] if rep % 2 == 0 else ["clangd", "noprelude", "indexer"]
                for tool in order + ["floor"]:
                    if tool == "indexer" and args.indexer_on:
                        samples["indexer"].append(measured_run(run_indexer, binary, corpus, args.jobs, args.keep, []))
                        log(f"{corpus.name}: indexer {samples['indexer'][-1]['wall_s']:.1f}s")
                    elif tool == "noprelude" and args.indexer_on and args.noprelude_on:
                        samples["noprelude"].append(measured_run(
                            run_indexer, binary, corpus, args.jobs, args.keep, ["--no-prelude"]))
                        log(f"{corpus.name}: indexer --no-prelude {samples['noprelude'][-1]['wall_s']:.1f}s")
                    elif tool == "clangd" and args.clangd:
                        samples["clangd"].append(measured_run(
                            run_clangd, corpus, args.jobs, args.clangd_bin, args.clangd_timeout,
                            args.clangd_settle, args.clangd_quiet, args.verbose))
                        log(f"{corpus.name}: clangd {samples['clangd'][-1]['wall_s']:.1f}s")
                    elif tool == "floor" and args.floor_on:
                        samples["floor"].append(measured_run(
                            run_floor, corpus, args.jobs, args.clang, args.clangxx, args.floor_flags))
                        log(f"{corpus.name}: floor {samples['floor'][-1]['wall_s']:.1f}s")

            res = {"compdb": str(corpus.compdb), "entries": corpus.entries_total, "units": len(corpus.units)}
            if samples["indexer"]:
                res["indexer"] = summarize(samples["indexer"], ("tree_peak_rss_bytes",))
                # The last run's summary, with peaks taken over all runs.
                s = res["indexer"]["summary"] = dict(res["indexer"]["summary"])
                for k in ("supervisor_peak_rss_bytes", "worker_peak_rss_bytes", "worker_peak_resident_bytes"):
                    vals = [x["summary"].get(k) for x in samples["indexer"] if x["summary"].get(k) is not None]
                    if vals:
                        s[k] = max(vals)
            if samples["noprelude"]:
                res["noprelude"] = summarize(samples["noprelude"], ("tree_peak_rss_bytes",))
            if samples["floor"]:
                res["floor"] = summarize(samples["floor"], ("peak_rss_bytes",))
            if samples["clangd"]:
                res["clangd"] = summarize(samples["clangd"], ("peak_rss_bytes",))
            res["ratios"] = round_ratios(samples)
            report["corpora"][corpus.name] = res
            if args.json != "-":
                print_table(corpus.name, res, args.jobs, args.repeat)
    except BenchError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130

    if args.json == "-":
        json.dump(report, sys.stdout, indent=2)
        print()
    elif args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
        log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

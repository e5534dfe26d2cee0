#!/usr/bin/env python3
"""Query latency (issue 17): every query tool, through MCP and through the CLI.

On one index (protobuf by default), symbols, classes, files and call-path
pairs are drawn with a fixed seed from the index itself (read-only); then
every tool is called once per sample, and the wall time of each call is
measured:

  MCP   one `indexer mcp PROJECT --db DB` over stdio, driven by the official
        Python SDK (`mcp.Client`, as tests/mcp/client.py does); the time is
        one `call_tool` round trip (the SDK's framing and its check of the
        answer against the tool's output schema included), after one
        warm-up call per tool that is not counted.
  MCP, bare   (`mcp-raw`) the same server and calls from a bare JSON-RPC
        client (a line per message over stdio, the standard library's
        json): the server's round trip, without the SDK's work.
  CLI   one `indexer SUBCOMMAND ... --json --db DB --project PROJECT`
        process per call, from spawn to exit: process start, opening the
        database and printing are included.  One uncounted warm-up call per
        subcommand too.

Prints, per tool and transport, the successful calls n, p50, p99 (nearest
rank) and max in ms, the failed calls (with their first errors) and the
answers that were empty; and the commit, the seed, the load average and
how much CPU other processes used while each transport was measured.  The
issue's target (p99 < 50 ms for find_symbols, get_symbol_info and
find_callers over MCP) is reported as met or missed, never asserted.

    benches/query_latency.py                           # protobuf, its index in $TMPDIR
    benches/query_latency.py --project /path/to/corpus --db /tmp/latency/protobuf.db
    benches/query_latency.py --seed 3 --samples 200 --json latency.json
    benches/query_latency.py --transport cli           # only the CLI (or mcp, mcp-raw)

--db is used as it is when it exists (nothing is written to it); when it is
missing, the index is built first with
`indexer build PROJECT --compdb PROJECT/build/compile_commands.json -j N`
(not timed).  The MCP part needs the SDK: the script re-runs itself with
tests/mcp/.venv/bin/python (made by .ci/install-deps) when the running
Python lacks it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from indexer_run import git_head, indexer_binary

BENCHES = Path(__file__).resolve().parent
REPO = BENCHES.parent
VENV_PYTHON = REPO / "tests/mcp/.venv/bin/python"

try:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters
except ImportError:
    # Once only: the variable stops a loop should the venv lack the SDK too.
    if VENV_PYTHON.exists() and "QUERY_LATENCY_REEXEC" not in os.environ:
        os.environ["QUERY_LATENCY_REEXEC"] = "1"
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), __file__, *sys.argv[1:]])
    Client = None

sys.path.insert(0, str(BENCHES))
from compare import BenchError, Corpus, machine_busy_seconds  # noqa: E402
from indexer_run import build  # noqa: E402

DEFAULT_INDEXER = "target/release/indexer"
FUNCTION_KINDS = ("function", "method", "constructor", "destructor", "conversion_function",
                  "function_template")
CLASS_KINDS = ("class", "struct", "union", "class_template", "class_template_partial_specialization")
# The target: p99 under 50 ms for these, over MCP.
TARGET_TOOLS = ("find_symbols", "get_symbol_info", "find_callers")
TARGET_MS = 50.0
# Lists are capped as a model would see them (the MCP default); depths are
# the CLI's defaults, passed explicitly to both transports.
MAX_RESULTS = 50
HIERARCHY_DEPTH = 10
PATH_MAX_DEPTH = 8
PATH_MAX_RESULTS = 10
INCLUDES_DEPTH = 1
PATH_WALK = (1, 2, 3)
ERRORS_KEPT = 5


def log(msg: str) -> None:
    print(f"[latency] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------
# The samples
# --------------------------------------------------------------------------

@dataclass
class Function:
    name: str
    # The argument the tools get: the qualified name when no other symbol
    # has it, else the USR (an overloaded name would stand for several).
    arg: str
    file: str  # of its definition, relative to the project
    line: int
    col: int


@dataclass
class Samples:
    seed: int
    functions: list[Function]
    classes: list[str]
    files: list[str]
    paths: list[tuple[str, str]]
    pools: dict[str, int] = field(default_factory=dict)


def placeholders(values) -> str:
    return ",".join("?" * len(values))


def draw(db: Path, root: Path, count: int, seed: int) -> Samples:
    """Draws `count` of each kind of argument from the index.

    functions: functions and methods (any overload) defined in a project
      file (under the root, not a system header): find_symbols (by plain
      name), get_symbol_info, find_references, find_callers, find_callees,
      and get_symbol_at at the definition's position;
    classes: classes, structs and unions defined in a project file;
    files: the project files the index has rows of (outline, includes);
    paths: (from, to) pairs of call_paths, a chain known to exist: from a
      project function that calls another function, a random walk of 1 to 3
      calls along the index's call edges.
    """
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    prefix = str(root) + "/"
    rng = random.Random(seed)

    def args_of(rows) -> dict[int, str]:
        return {sid: (qualified if same == 1 else usr) for sid, qualified, usr, same in rows}

    def arg_rows(ids) -> list:
        ids = list(ids)
        out = []
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            out += conn.execute(
                f"""SELECT s.id, s.qualified_name, s.usr,
                           (SELECT count(*) FROM symbols t WHERE t.qualified_name = s.qualified_name)
                    FROM symbols s WHERE s.id IN ({placeholders(chunk)})""", chunk).fetchall()
        return out

    rows = conn.execute(
        f"""SELECT s.id, s.name, f.path, d.line, d.col FROM symbols s
            JOIN decls d ON d.symbol_id = s.id AND d.is_definition = 1
            JOIN files f ON f.id = d.file_id
            WHERE s.kind IN ({placeholders(FUNCTION_KINDS)}) AND s.name != ''
              AND f.is_system = 0 AND substr(f.path, 1, length(?)) = ?
            ORDER BY s.usr, f.path, d.line, d.col""", (*FUNCTION_KINDS, prefix, prefix)).fetchall()
    first: dict[int, tuple] = {}
    for sid, name, path, line, col in rows:
        first.setdefault(sid, (name, path[len(prefix):], line, col))
    pool = list(first)  # in USR order
    picked = rng.sample(pool, min(count, len(pool)))
    args = args_of(arg_rows(picked))
    functions = [Function(first[s][0], args[s], *first[s][1:]) for s in picked]

    classes_pool = [r[0] for r in conn.execute(
        f"""SELECT DISTINCT s.id FROM symbols s
            JOIN decls d ON d.symbol_id = s.id AND d.is_definition = 1
            JOIN files f ON f.id = d.file_id
            WHERE s.kind IN ({placeholders(CLASS_KINDS)}) AND s.name != ''
              AND f.is_system = 0 AND substr(f.path, 1, length(?)) = ?
            ORDER BY s.usr""", (*CLASS_KINDS, prefix, prefix))]
    picked_classes = rng.sample(classes_pool, min(count, len(classes_pool)))
    class_args = args_of(arg_rows(picked_classes))
    classes = [class_args[c] for c in picked_classes]

    files_pool = [r[0][len(prefix):] for r in conn.execute(
        """SELECT path FROM files WHERE is_system = 0 AND indexed = 1
              AND substr(path, 1, length(?1)) = ?1 ORDER BY path""", (prefix,))]
    files = rng.sample(files_pool, min(count, len(files_pool)))

    # Call edges between functions, for the walks.
    edges: dict[int, list[int]] = {}
    for caller, callee in conn.execute(
            f"""SELECT DISTINCT c.caller_id, c.callee_id FROM calls c
                JOIN symbols e ON e.id = c.callee_id
                WHERE c.caller_id != c.callee_id AND e.kind IN ({placeholders(FUNCTION_KINDS)})
                ORDER BY c.caller_id, c.callee_id""", FUNCTION_KINDS):
        edges.setdefault(caller, []).append(callee)
    starts = [s for s in pool if s in edges]
    pairs = []
    for start in rng.sample(starts, min(count, len(starts))):
        node, seen = start, {start}
        for _ in range(rng.choice(PATH_WALK)):
            nexts = [n for n in edges.get(node, []) if n not in seen]
            if not nexts:
                break
            node = rng.choice(nexts)
            seen.add(node)
        pairs.append((start, node))
    path_args = args_of(arg_rows({s for pair in pairs for s in pair}))
    paths = [(path_args[a], path_args[b]) for a, b in pairs]
    conn.close()
    return Samples(seed, functions, classes, files, paths,
                   pools={"functions": len(pool), "classes": len(classes_pool),
                          "files": len(files_pool), "path_starts": len(starts)})


# --------------------------------------------------------------------------
# The tools: per sample, the MCP arguments and the CLI's
# --------------------------------------------------------------------------

@dataclass
class Tool:
    label: str  # the tool, and what distinguishes two rows of one tool
    name: str  # the MCP tool
    samples: Callable[[Samples], list]
    mcp: Callable[[object], dict]
    cli: Callable[[object], list[str]]


def limit(n: int = MAX_RESULTS) -> list[str]:
    return ["--limit", str(n)]


TOOLS = [
    Tool("find_symbols", "find_symbols", lambda s: s.functions,
         lambda f: {"pattern": f.name, "max_results": MAX_RESULTS},
         lambda f: ["find", *limit(), "--", f.name]),
    Tool("get_symbol_info", "get_symbol_info", lambda s: s.functions,
         lambda f: {"symbol": f.arg, "max_results": MAX_RESULTS},
         lambda f: ["info", *limit(), "--", f.arg]),
    Tool("find_references", "find_references", lambda s: s.functions,
         lambda f: {"symbol": f.arg, "max_results": MAX_RESULTS},
         lambda f: ["refs", *limit(), "--", f.arg]),
    Tool("find_callers", "find_callers", lambda s: s.functions,
         lambda f: {"symbol": f.arg, "max_results": MAX_RESULTS},
         lambda f: ["callers", *limit(), "--", f.arg]),
    Tool("find_callees", "find_callees", lambda s: s.functions,
         lambda f: {"symbol": f.arg, "max_results": MAX_RESULTS},
         lambda f: ["callees", *limit(), "--", f.arg]),
    Tool("get_symbol_at", "get_symbol_at", lambda s: s.functions,
         lambda f: {"file": f.file, "line": f.line, "column": f.col},
         lambda f: ["at", "--", f"{f.file}:{f.line}:{f.col}"]),
    Tool("get_file_outline", "get_file_outline", lambda s: s.files,
         lambda p: {"file": p, "max_results": MAX_RESULTS},
         lambda p: ["outline", *limit(), "--", p]),
    Tool("get_includes (includes)", "get_includes", lambda s: s.files,
         lambda p: {"file": p, "direction": "includes", "depth": INCLUDES_DEPTH, "max_results": MAX_RESULTS},
         lambda p: ["includes", "--depth", str(INCLUDES_DEPTH), *limit(), "--", p]),
    Tool("get_includes (included_by)", "get_includes", lambda s: s.files,
         lambda p: {"file": p, "direction": "included_by", "depth": INCLUDES_DEPTH, "max_results": MAX_RESULTS},
         lambda p: ["includes", "--reverse", "--depth", str(INCLUDES_DEPTH), *limit(), "--", p]),
    Tool("get_class_hierarchy", "get_class_hierarchy", lambda s: s.classes,
         lambda c: {"class": c, "direction": "both", "depth": HIERARCHY_DEPTH, "max_results": MAX_RESULTS},
         lambda c: ["hierarchy", "--both", "--depth", str(HIERARCHY_DEPTH),
                    "--max-nodes", str(MAX_RESULTS), "--", c]),
    Tool("find_call_paths", "find_call_paths", lambda s: s.paths,
         lambda p: {"from": p[0], "to": p[1], "max_depth": PATH_MAX_DEPTH, "max_results": PATH_MAX_RESULTS},
         lambda p: ["path", "--max-depth", str(PATH_MAX_DEPTH), *limit(PATH_MAX_RESULTS), "--", *p]),
    # The same call every time: n of them, for the overhead of a call.
    Tool("get_index_status", "get_index_status", lambda s: [None] * len(s.functions),
         lambda _: {}, lambda _: ["status"]),
]


# --------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------

@dataclass
class Result:
    times_ms: list[float] = field(default_factory=list)
    failures: list[dict] = field(default_factory=list)
    failed: int = 0
    empty: int = 0
    answered: int = 0

    def add(self, ms: float, error: str | None, answer) -> None:
        if error is not None:
            self.failed += 1
            if len(self.failures) < ERRORS_KEPT:
                self.failures.append({"error": error[:300]})
            return
        self.times_ms.append(ms)
        total = answer.get("total") if isinstance(answer, dict) else None
        if total is not None:
            self.answered += 1
            self.empty += total == 0

    def figures(self) -> dict:
        t = sorted(self.times_ms)
        return {"n": len(t), "p50_ms": statistics.median(t) if t else None,
                "p99_ms": percentile(t, 0.99) if t else None, "max_ms": t[-1] if t else None,
                "failed": self.failed, "failures": self.failures,
                "empty": self.empty, "with_total": self.answered, "times_ms": self.times_ms}


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of them at or below."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


class Phase:
    """CPU used by other processes while a transport was measured: the
    machine's busy time minus this process's and its reaped children's."""

    def __enter__(self) -> Phase:
        self.started = time.monotonic()
        self.busy = machine_busy_seconds()
        self.own = self._own()
        return self

    @staticmethod
    def _own() -> float:
        s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
        return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime

    def __exit__(self, *exc) -> None:
        self.wall_s = time.monotonic() - self.started
        self.own_cpu_s = self._own() - self.own
        self.other_cpu_s = max(0.0, machine_busy_seconds() - self.busy - self.own_cpu_s)

    def figures(self) -> dict:
        return {"wall_s": self.wall_s, "own_cpu_s": self.own_cpu_s, "other_cpu_s": self.other_cpu_s,
                "loadavg_at_end": list(os.getloadavg())}


async def measure_mcp(indexer: Path, root: Path, db: Path, samples: Samples) -> dict[str, Result]:
    params = StdioServerParameters(command=str(indexer), args=["mcp", str(root), "--db", str(db)],
                                   cwd=str(root))
    results: dict[str, Result] = {}
    async with Client(params, mode="legacy") as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        for tool in TOOLS:
            result = results[tool.label] = Result()
            items = tool.samples(samples)
            if tool.name not in listed:
                # Called anyway: the server's own error is what gets reported.
                log(f"mcp: {tool.name} is not among the server's tools")
            for i, item in enumerate([items[0], *items] if items else []):
                error, answer = None, None
                t0 = time.perf_counter()
                try:
                    reply = await client.call_tool(tool.name, tool.mcp(item))
                    ms = (time.perf_counter() - t0) * 1000
                    if reply.is_error:
                        error = reply.content[0].text if reply.content else "is_error, no text"
                    answer = reply.structured_content
                except Exception as e:  # the SDK raises on protocol errors (unknown tool, bad arguments)
                    ms = (time.perf_counter() - t0) * 1000
                    error = f"{type(e).__name__}: {e}"
                if i > 0:  # the first call is the warm-up
                    result.add(ms, error, answer)
            log(f"mcp: {tool.label}: {summary_line(result)}")
    return results


def measure_raw(indexer: Path, root: Path, db: Path, samples: Samples) -> dict[str, Result]:
    """The same calls through the same server, from a bare JSON-RPC client
    (one line per message over stdio, the standard library's json): the
    server's round trip without the SDK's work in the client."""
    server = subprocess.Popen([str(indexer), "mcp", str(root), "--db", str(db)], cwd=root,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              text=True, bufsize=1)
    ids = iter(range(1, 1 << 30))

    def request(method: str, params: dict) -> dict:
        n = next(ids)
        server.stdin.write(json.dumps({"jsonrpc": "2.0", "id": n, "method": method, "params": params}) + "\n")
        server.stdin.flush()
        while True:  # notifications (none expected) are read past
            line = server.stdout.readline()
            if not line:
                raise RuntimeError(f"the server exited ({server.poll()})")
            message = json.loads(line)
            if message.get("id") == n:
                return message

    results: dict[str, Result] = {}
    try:
        request("initialize", {"protocolVersion": "2025-06-18", "capabilities": {},
                               "clientInfo": {"name": "query_latency", "version": "1"}})
        server.stdin.write(json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}) + "\n")
        for tool in TOOLS:
            result = results[tool.label] = Result()
            items = tool.samples(samples)
            for i, item in enumerate([items[0], *items] if items else []):
                error, answer = None, None
                t0 = time.perf_counter()
                reply = request("tools/call", {"name": tool.name, "arguments": tool.mcp(item)})
                ms = (time.perf_counter() - t0) * 1000
                if "error" in reply:
                    error = f"JSON-RPC error {reply['error'].get('code')}: {reply['error'].get('message')}"
                else:
                    answer = reply["result"].get("structuredContent")
                    if reply["result"].get("isError"):
                        content = reply["result"].get("content") or [{}]
                        error = content[0].get("text", "isError, no text")
                if i > 0:
                    result.add(ms, error, answer)
            log(f"mcp-raw: {tool.label}: {summary_line(result)}")
    finally:
        server.stdin.close()
        try:
            server.wait(timeout=30)  # a bound on the wait, not a measurement
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    return results


def measure_cli(indexer: Path, root: Path, db: Path, samples: Samples) -> dict[str, Result]:
    results: dict[str, Result] = {}
    for tool in TOOLS:
        result = results[tool.label] = Result()
        items = tool.samples(samples)
        for i, item in enumerate([items[0], *items] if items else []):
            argv = tool.cli(item)
            if argv[0] == "status":
                argv = [str(indexer), "status", str(root), "--db", str(db), "--json"]
            else:
                argv = [str(indexer), argv[0], "--db", str(db), "--project", str(root), "--json", *argv[1:]]
            t0 = time.perf_counter()
            out = subprocess.run(argv, cwd=root, stdin=subprocess.DEVNULL, capture_output=True, text=True)
            ms = (time.perf_counter() - t0) * 1000
            error, answer = None, None
            if out.returncode != 0:
                error = f"exit {out.returncode}: " + " / ".join(out.stderr.strip().splitlines()[:3])
            else:
                try:
                    answer = json.loads(out.stdout)
                except json.JSONDecodeError as e:
                    error = f"not JSON ({e}): {out.stdout[:100]!r}"
            if i > 0:
                result.add(ms, error, answer)
        log(f"cli: {tool.label}: {summary_line(result)}")
    return results


def process_start(indexer: Path, runs: int) -> dict:
    """`indexer --version`, `runs` times: what a CLI call pays before any query."""
    times = []
    for _ in range(runs + 1):
        t0 = time.perf_counter()
        subprocess.run([str(indexer), "--version"], stdin=subprocess.DEVNULL, capture_output=True, check=True)
        times.append((time.perf_counter() - t0) * 1000)
    r = Result()
    for ms in times[1:]:
        r.add(ms, None, None)
    return r.figures()


# --------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------

def fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:.1f}"


def summary_line(result: Result) -> str:
    f = result.figures()
    return f"n {f['n']}, p50 {fmt(f['p50_ms'])} ms, p99 {fmt(f['p99_ms'])} ms, {f['failed']} failed"


def print_report(report: dict) -> None:
    m = report["machine"]
    print(f"commit {report['commit']}, {report['indexer']}")
    print(f"index {report['db']} ({report['db_bytes'] / (1 << 20):.0f} MiB), project {report['project']}")
    s = report["samples"]
    print(f"seed {s['seed']}: {len(s['functions'])} functions of {s['pools']['functions']}, "
          f"{len(s['classes'])} classes of {s['pools']['classes']}, "
          f"{len(s['files'])} files of {s['pools']['files']}, "
          f"{len(s['paths'])} call-path pairs (from {s['pools']['path_starts']} callers)")
    print(f"machine: {m['cpus']} CPUs, load average at start {' '.join(f'{x:.2f}' for x in m['loadavg_at_start'])}")
    for transport, phase in report["phases"].items():
        print(f"  {transport}: {phase['wall_s']:.0f} s, other processes used {phase['other_cpu_s']:.1f} CPU s "
              f"(this benchmark and its children {phase['own_cpu_s']:.1f}), "
              f"load average at end {' '.join(f'{x:.2f}' for x in phase['loadavg_at_end'])}")
    print()
    print(f"{'tool':<28} {'transport':<9} {'n':>4} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
          f"{'failed':>6} {'empty':>6}")
    for label, per_transport in report["tools"].items():
        for transport, f in per_transport.items():
            empty = f"{f['empty']}" if f["with_total"] else "-"
            print(f"{label:<28} {transport:<9} {f['n']:>4} {fmt(f['p50_ms']):>8} {fmt(f['p99_ms']):>8} "
                  f"{fmt(f['max_ms']):>8} {f['failed']:>6} {empty:>6}")
    if "process_start" in report:
        f = report["process_start"]
        print(f"{'(indexer --version)':<28} {'cli':<9} {f['n']:>4} {fmt(f['p50_ms']):>8} "
              f"{fmt(f['p99_ms']):>8} {fmt(f['max_ms']):>8}")
    print()
    for label, per_transport in report["tools"].items():
        for transport, f in per_transport.items():
            errors = list(dict.fromkeys(e["error"] for e in f["failures"]))
            for error in errors[:2]:
                print(f"failed: {label} over {transport} ({f['failed']} calls): {error}")
    mcp = {label: t["mcp"] for label, t in report["tools"].items() if "mcp" in t}
    for name in TARGET_TOOLS:
        f = mcp.get(name)
        if f is None:
            continue
        if f["p99_ms"] is None or f["failed"]:
            verdict = f"not measured ({f['failed']} failed calls)" if f["p99_ms"] is None else \
                f"{'met' if f['p99_ms'] < TARGET_MS else 'MISSED'}, but {f['failed']} calls failed"
        else:
            verdict = "met" if f["p99_ms"] < TARGET_MS else "MISSED"
        print(f"target p99 < {TARGET_MS:.0f} ms over MCP, {name}: {fmt(f['p99_ms'])} ms, {verdict}")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--project", default="protobuf",
                    help="a name under benches/corpora/ or a corpus directory (default: %(default)s)")
    ap.add_argument("--db", type=Path, help="the index (default: $TMPDIR/indexer-latency-NAME.db); "
                    "built first if missing")
    ap.add_argument("--indexer", default=DEFAULT_INDEXER,
                    help="indexer binary; relative paths are from the repo root (default: %(default)s)")
    ap.add_argument("-j", "--jobs", type=int, default=2, help="workers, when the index is built (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=17, help="seed of the samples' draw (default: %(default)s)")
    ap.add_argument("--samples", type=int, default=100, help="calls per tool (default: %(default)s)")
    ap.add_argument("--transport", choices=["all", "mcp", "mcp-raw", "cli"], default="all",
                    help="mcp: through the SDK; mcp-raw: the same server, a bare JSON-RPC client; "
                    "cli: a process per call (default: all three)")
    ap.add_argument("--json", metavar="FILE", help="also write every figure (every call's time) to FILE")
    args = ap.parse_args()

    indexer = indexer_binary(args.indexer)
    if indexer is None:
        return 2
    if args.transport in ("all", "mcp") and Client is None:
        log(f"error: the MCP SDK is not importable here, nor is {VENV_PYTHON} there "
            "(.ci/install-deps makes it); --transport cli or mcp-raw does without it")
        return 2
    try:
        corpus = Corpus(args.project)
    except BenchError as e:
        log(f"error: {e}")
        return 2
    root = corpus.root
    db = (args.db or Path(tempfile.gettempdir()) / f"indexer-latency-{corpus.name}.db").resolve()
    if not db.exists():
        log(f"{db} is missing: indexing {root} first (not timed)")
        s = build(indexer, root, db, jobs=args.jobs, extra=("--compdb", str(corpus.compdb)))
        log(f"built in {s['wall_s']:.0f} s: {s.get('indexed')} units indexed, {s.get('failed')} failed")

    load1 = os.getloadavg()[0]
    if load1 > 0.5:
        log(f"warning: load average is {load1:.2f}; other work on the machine will skew the times")
    report = {
        "commit": git_head(), "indexer": str(indexer), "project": str(root), "db": str(db),
        "db_bytes": sum(p.stat().st_size for p in db.parent.glob(db.name + "*")),
        "machine": {"cpus": os.cpu_count(), "loadavg_at_start": list(os.getloadavg())},
        "settings": {"max_results": MAX_RESULTS, "hierarchy_depth": HIERARCHY_DEPTH,
                     "path_max_depth": PATH_MAX_DEPTH, "path_max_results": PATH_MAX_RESULTS,
                     "includes_depth": INCLUDES_DEPTH},
    }
    samples = draw(db, root, args.samples, args.seed)
    log(f"seed {args.seed}: {len(samples.functions)} functions, {len(samples.classes)} classes, "
        f"{len(samples.files)} files, {len(samples.paths)} call-path pairs")
    report["samples"] = {"seed": samples.seed, "pools": samples.pools,
                         "functions": [f.__dict__ for f in samples.functions],
                         "classes": samples.classes, "files": samples.files, "paths": samples.paths}
    measured: dict[str, dict[str, Result]] = {}
    report["phases"] = {}
    if args.transport in ("all", "mcp"):
        with Phase() as phase:
            measured["mcp"] = anyio.run(measure_mcp, indexer, root, db, samples)
        report["phases"]["mcp"] = phase.figures()
    if args.transport in ("all", "mcp-raw"):
        with Phase() as phase:
            measured["mcp-raw"] = measure_raw(indexer, root, db, samples)
        report["phases"]["mcp-raw"] = phase.figures()
    if args.transport in ("all", "cli"):
        with Phase() as phase:
            measured["cli"] = measure_cli(indexer, root, db, samples)
            report["process_start"] = process_start(indexer, args.samples)
        report["phases"]["cli"] = phase.figures()
    report["tools"] = {tool.label: {t: measured[t][tool.label].figures() for t in measured} for tool in TOOLS}
    print_report(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Scaling benchmark: does the supervisor's memory stay flat as projects grow?

Generates synthetic C projects of N translation units (default 1k, 10k, 50k;
each unit a few functions including one of 50 shared headers), indexes each
with `indexer build --full -j 2 --json`, then refreshes it without changes
and after touching one source and one widely included header, and prints
per size: wall time, units/s, supervisor peak RSS, largest worker RSS, and
the refresh times.

    python3 benches/scale.py                 # 1000 10000 50000
    python3 benches/scale.py --sizes 1000 10000 --jobs 2

Projects are generated under benches/corpora/synthetic/ (git-ignored) and
reused across runs.
"""

import argparse
import json
import sys
from pathlib import Path

from indexer_run import build

REPO = Path(__file__).resolve().parent.parent
HEADERS = 50


def generate(root: Path, units: int) -> Path:
    """Writes the project once; a marker file makes reruns free."""
    project = root / f"units-{units}"
    marker = project / ".complete"
    if marker.exists():
        return project
    (project / "include").mkdir(parents=True, exist_ok=True)
    for h in range(HEADERS):
        (project / "include" / f"common{h}.h").write_text(
            f"#ifndef COMMON{h}_H\n#define COMMON{h}_H\n"
            f"struct shared{h} {{ int a; int b; }};\n"
            f"int shared{h}_sum(const struct shared{h}* s);\n#endif\n"
        )
    entries = []
    for u in range(units):
        d = project / "src" / f"d{u // 1000}"
        d.mkdir(parents=True, exist_ok=True)
        f = d / f"unit{u}.c"
        h = u % HEADERS
        f.write_text(
            f'#include "common{h}.h"\n'
            f"static int helper{u}(int x) {{ return x * {u % 97 + 1}; }}\n"
            f"int unit{u}_run(struct shared{h}* s) {{ s->a = helper{u}(s->b); return shared{h}_sum(s); }}\n"
        )
        entries.append({
            "directory": str(project),
            "file": str(f),
            "arguments": ["cc", "-std=c11", f"-I{project}/include", "-c", str(f), "-o", f"{f}.o"],
        })
    (project / "compile_commands.json").write_text(json.dumps(entries))
    marker.write_text("")
    return project


def mib(n: int) -> str:
    return f"{n / 2**20:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--indexer", type=Path, default=REPO / "target/release/indexer")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if not args.indexer.exists():
        sys.exit(f"{args.indexer} is missing: run `cargo build --release` first")

    root = REPO / "benches/corpora/synthetic"
    rows = []
    for size in args.sizes:
        project = generate(root, size)
        db = project / "bench-index.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        full = build(args.indexer, project, db, args.jobs, full=True)
        noop = build(args.indexer, project, db, args.jobs, full=False)
        one = project / "src/d0/unit1.c"
        one.write_text(one.read_text() + "\n")
        one_file = build(args.indexer, project, db, args.jobs, full=False)
        header = project / "include/common3.h"
        header.write_text(header.read_text() + "\n")
        one_header = build(args.indexer, project, db, args.jobs, full=False)
        rows.append({
            "units": size,
            "wall_s": full["wall_s"],
            "units_per_s": full["indexed"] / full["wall_s"],
            "indexed": full["indexed"],
            "failed": full["failed"],
            "supervisor_peak_rss_bytes": full["supervisor_peak_rss_bytes"],
            "worker_peak_rss_bytes": full["worker_peak_rss_bytes"],
            "writer_busy_fraction": full.get("writer_busy_fraction"),
            "noop_refresh_s": noop["wall_s"],
            "noop_refresh_indexed": noop["indexed"],
            "noop_supervisor_peak_rss_bytes": noop["supervisor_peak_rss_bytes"],
            "one_file_refresh_s": one_file["wall_s"],
            "one_file_refresh_indexed": one_file["indexed"],
            "one_header_refresh_s": one_header["wall_s"],
            "one_header_refresh_indexed": one_header["indexed"],
            "db_bytes": db.stat().st_size,
        })
        r = rows[-1]
        print(
            f"{size:>6} units: {r['wall_s']:7.1f} s  {r['units_per_s']:6.0f} units/s  "
            f"supervisor {mib(r['supervisor_peak_rss_bytes'])} MiB  worker {mib(r['worker_peak_rss_bytes'])} MiB  "
            f"writer busy {r['writer_busy_fraction']}  | refresh: no-op {r['noop_refresh_s']:.2f} s "
            f"({r['noop_refresh_indexed']} indexed), one file {r['one_file_refresh_s']:.2f} s "
            f"({r['one_file_refresh_indexed']}), one header {r['one_header_refresh_s']:.2f} s "
            f"({r['one_header_refresh_indexed']})",
            flush=True,
        )
    if len(rows) > 1:
        base = rows[0]["supervisor_peak_rss_bytes"]
        for r in rows[1:]:
            growth = (r["supervisor_peak_rss_bytes"] - base) / base * 100
            print(f"supervisor peak RSS at {r['units']} units vs {rows[0]['units']}: {growth:+.1f}%")
    if args.json:
        print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A sharded build on one machine (issue 18): the corpus indexed once as a
whole, then as N shards run one after another (each `indexer build --shard
K/N` into its own database, as a CI matrix or a Kubernetes indexed Job would
run them), then `indexer merge`; prints each step's wall time and memory and
whether the merged index's content equals the single build's
(`indexer digest`).

    benches/shards.py [CORPUS] [--shards N] [--jobs J] [--plan-from]

With --plan-from, the shards are balanced by the single build's parse times.
Standard library only; peak memory from GNU time (`/usr/bin/time -f %M`).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compare import Corpus, DEFAULT_INDEXER, REPO_ROOT  # noqa: E402


def timed(cmd: list[str]) -> tuple[float, int, str]:
    """Runs `cmd` under GNU time: wall seconds, peak RSS in KiB, stdout."""
    started = time.monotonic()
    out = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True)
    wall = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    peak_kib = int(out.stderr.strip().splitlines()[-1])
    return wall, peak_kib, out.stdout


def digest(indexer: str, db: Path) -> str:
    return subprocess.run([indexer, "digest", "--db", str(db)], capture_output=True,
                          text=True, check=True).stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("corpus", nargs="?", default="protobuf")
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--plan-from", action="store_true")
    parser.add_argument("--indexer", default=str(REPO_ROOT / DEFAULT_INDEXER))
    args = parser.parse_args()
    corpus = Corpus(args.corpus)
    base = ["--compdb", str(corpus.compdb), "-j", str(args.jobs), "-q"]
    with tempfile.TemporaryDirectory(prefix="indexer-shards-") as tmp:
        tmp = Path(tmp)
        single = tmp / "single.db"
        wall, peak, _ = timed([args.indexer, "build", str(corpus.root), "--db", str(single), *base])
        print(f"{corpus.name}: {len(corpus.units)} units, {args.jobs} jobs, {args.shards} shards")
        print(f"{'step':<22} {'wall s':>8} {'peak RSS MiB':>13}")
        print(f"{'single build':<22} {wall:>8.1f} {peak / 1024:>13.1f}  (supervisor)")
        plan = ["--plan-from", str(single)] if args.plan_from else []
        shards, total = [], 0.0
        for k in range(args.shards):
            db = tmp / f"shard-{k}.db"
            wall, peak, _ = timed([args.indexer, "build", str(corpus.root), "--db", str(db),
                                   "--shard", f"{k}/{args.shards}", *plan, *base])
            total += wall
            units = subprocess.run(["sqlite3", str(db), "SELECT count(*) FROM units"],
                                   capture_output=True, text=True).stdout.strip()
            print(f"{f'shard {k}/{args.shards} ({units} units)':<22} {wall:>8.1f} {peak / 1024:>13.1f}")
            shards.append(str(db))
        print(f"{'shards, sum':<22} {total:>8.1f}")
        merged = tmp / "merged.db"
        wall, peak, _ = timed([args.indexer, "merge", str(merged), *shards])
        size = merged.stat().st_size / (1 << 20)
        print(f"{'merge':<22} {wall:>8.1f} {peak / 1024:>13.1f}  (index {size:.0f} MiB)")
        same = digest(args.indexer, single) == digest(args.indexer, merged)
        print(f"merged content equals the single build's: {'yes' if same else 'NO'}")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()

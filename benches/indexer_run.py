"""Shared by the benchmark scripts: the indexer binary, `indexer build` with its summary, the commit."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def build(indexer: Path, project: Path, db: Path, jobs: int = 2, full: bool = False,
          extra: tuple[str, ...] = ()) -> dict:
    """`indexer build PROJECT --db DB -j JOBS --json [--full] [EXTRA...]`:
    its --json summary, plus `wall_s` as measured from here. Exits on
    failure."""
    cmd = [str(indexer), "build", str(project), "--db", str(db), "-j", str(jobs), "--json", "-q"]
    if full:
        cmd.append("--full")
    cmd.extend(extra)
    started = time.monotonic()
    out = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr}")
    summary = json.loads(out.stdout)
    summary["wall_s"] = wall
    return summary


def git_head() -> str | None:
    """The repository's commit (`git describe --always --dirty`), for the
    record; `None` outside a checkout."""
    try:
        out = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def indexer_binary(path: str) -> Path | None:
    """The indexer binary `path` names (relative to the repository), or
    `None` after saying on stderr that it is missing."""
    indexer = Path(path)
    if not indexer.is_absolute():
        indexer = REPO / indexer
    if not (indexer.is_file() and os.access(indexer, os.X_OK)):
        print(f"error: indexer binary not found at {indexer}; run `cargo build --release` or pass --indexer",
              file=sys.stderr)
        return None
    return indexer

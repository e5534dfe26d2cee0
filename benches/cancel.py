#!/usr/bin/env python3
"""Cancellation latency: how long does `indexer build` take to exit after Ctrl-C?

Starts `indexer build --full -j 2` on a real corpus (fetched by
benches/fetch-corpora.sh), sends SIGINT at a random moment, and measures the
time from the signal to the process's exit. After each trial it checks the
exit code (130), `PRAGMA integrity_check`, and that no worker survived.
Prints median, p95 and max over the trials.

    python3 benches/cancel.py                      # leveldb, 20 trials
    python3 benches/cancel.py --corpus protobuf --trials 20
"""

import argparse
import os
import random
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def workers_alive(tag: str) -> list:
    alive = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                if f"INDEXER_BENCH_TAG={tag}".encode() in f.read().split(b"\0"):
                    with open(f"/proc/{pid}/stat") as s:
                        if s.read().rsplit(")", 1)[1].split()[0] != "Z":
                            alive.append(int(pid))
        except OSError:
            pass
    return alive


def percentile(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default="leveldb")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--indexer", type=Path, default=REPO / "target/release/indexer")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    corpus = REPO / "benches/corpora" / args.corpus
    compdb = corpus / "build/compile_commands.json"
    if not compdb.exists():
        sys.exit(f"{compdb} is missing: run benches/fetch-corpora.sh first")
    if not args.indexer.exists():
        sys.exit(f"{args.indexer} is missing: run `cargo build --release` first")

    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "index.db"
        # How long a full build takes bounds the random signal times.
        started = time.monotonic()
        subprocess.run([str(args.indexer), "build", str(corpus), "--compdb", str(compdb), "--db", str(db),
                        "-j", "2", "--full", "-q"], check=True)
        full = time.monotonic() - started
        print(f"{args.corpus}: full build {full:.1f} s; {args.trials} trials of SIGINT at a random moment")
        latencies = []
        for trial in range(args.trials):
            tag = f"{os.getpid()}-{trial}"
            env = dict(os.environ, INDEXER_BENCH_TAG=tag)
            proc = subprocess.Popen([str(args.indexer), "build", str(corpus), "--compdb", str(compdb), "--db", str(db),
                                     "-j", "2", "--full", "-q"], env=env)
            time.sleep(rng.uniform(0.1, max(0.2, full * 0.9)))
            sent = time.monotonic()
            proc.send_signal(signal.SIGINT)
            code = proc.wait()
            latency = time.monotonic() - sent
            integrity = sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone()[0]
            survivors = workers_alive(tag)
            latencies.append(latency)
            print(f"  trial {trial + 1:2}: exit {code}, {latency * 1000:6.1f} ms, integrity {integrity}, "
                  f"surviving workers {len(survivors)}", flush=True)
            if code not in (130, 0) or integrity != "ok" or survivors:
                sys.exit("cancellation left something wrong (see above)")
        print(f"latency: median {statistics.median(latencies) * 1000:.1f} ms, "
              f"p95 {percentile(latencies, 95) * 1000:.1f} ms, max {max(latencies) * 1000:.1f} ms")


if __name__ == "__main__":
    main()

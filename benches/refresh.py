#!/usr/bin/env python3
"""Incremental refresh on real corpora: what does a second `build` cost?

For each corpus (fetched by benches/fetch-corpora.sh) this indexes a private
copy of the source tree with `indexer build --full -j 2`, then measures:

  no-op        `indexer build` with nothing changed
  one file     after appending a comment to one source file: the refresh's
               wall time, that unit's own parse time (from the index), and
               the difference, which is everything the refresh adds
  one header   after appending a comment to the project header that the most
               units include: how many units it re-indexes, and the time
  every unit   (with --every-unit ROUNDS) ROUNDS times, a comment appended
               to every source and an incremental build: steady state, where
               no unit may be parsed twice (the prelude's fallbacks and the
               seconds they discarded, per round; the full build's first)
  N units      (with --units N...) after appending a comment to N sources of
               the compile command most units share: the refresh's time with
               the prelude (the standard library precompiled) and with
               --no-prelude (a second index of the copy, built with
               --no-prelude, gets the same edits)

Edits go to a copy (under a temporary directory) so that the fetched corpus
stays pristine for the other benchmarks. Timings are medians of --repeat runs.

    python3 benches/refresh.py                      # leveldb protobuf
    python3 benches/refresh.py leveldb --repeat 5
    python3 benches/refresh.py protobuf --units 4 8 16 32
    python3 benches/refresh.py wxwidgets --repeat 1 --every-unit 2
"""

import argparse
import json
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path

from indexer_run import build

REPO = Path(__file__).resolve().parent.parent


def append_comment(path: Path, n: int) -> None:
    with open(path, "a") as f:
        f.write(f"\n// refresh benchmark edit {n}\n")


def most_included_header(db: Path, root: Path) -> tuple[Path, int]:
    conn = sqlite3.connect(db)
    row = conn.execute(
        """SELECT f.path, count(*) AS n FROM unit_deps d JOIN files f ON f.id = d.file_id
           WHERE f.is_system = 0 AND f.id NOT IN (SELECT file_id FROM units)
             AND f.path LIKE ?1 || '%'
           GROUP BY f.id ORDER BY n DESC, f.path LIMIT 1""",
        (str(root) + "/",),
    ).fetchone()
    return Path(row[0]), row[1]


def first_unit(db: Path) -> Path:
    conn = sqlite3.connect(db)
    return Path(conn.execute(
        "SELECT f.path FROM units u JOIN files f ON f.id = u.file_id WHERE u.state = 'indexed' ORDER BY u.id LIMIT 1"
    ).fetchone()[0])


def unit_parse_ms(db: Path, path: Path) -> int:
    conn = sqlite3.connect(db)
    return conn.execute(
        "SELECT u.parse_ms FROM units u JOIN files f ON f.id = u.file_id WHERE f.path = ?1", (str(path),)
    ).fetchone()[0]


def largest_command(compdb: Path) -> list[Path]:
    """The sources of the compile command most sources share (same
    directory, same arguments but for the source and its output)."""
    groups: dict[tuple, list[Path]] = {}
    seen = set()
    for entry in json.loads(compdb.read_text()):
        source = entry["file"]
        if source in seen:
            continue
        seen.add(source)
        args = entry.get("arguments") or entry["command"].split()
        key = (entry["directory"], tuple(a for a in args if source not in a and not a.endswith(".o")))
        groups.setdefault(key, []).append(Path(source))
    return max(groups.values(), key=len)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpora", nargs="*", default=["leveldb", "protobuf"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--indexer", type=Path, default=REPO / "target/release/indexer")
    parser.add_argument("--units", type=int, nargs="*", default=[], metavar="N",
                        help="also edit N sources of one command, with and without --no-prelude")
    parser.add_argument("--every-unit", type=int, default=0, metavar="ROUNDS",
                        help="also edit every source ROUNDS times, each followed by an incremental build")
    args = parser.parse_args()
    if not args.indexer.exists():
        sys.exit(f"{args.indexer} is missing: run `cargo build --release` first")

    for name in args.corpora:
        corpus = REPO / "benches/corpora" / name
        if not (corpus / "build/compile_commands.json").exists():
            sys.exit(f"{corpus}/build/compile_commands.json is missing: run benches/fetch-corpora.sh first")
        with tempfile.TemporaryDirectory(prefix=f"indexer-refresh-{name}-") as tmp:
            # The compile DB names absolute paths, so the copy gets its own,
            # rewritten to point into the copy.
            copy = Path(tmp) / name
            shutil.copytree(corpus, copy, symlinks=True)
            compdb = copy / "build/compile_commands.json"
            compdb.write_text(compdb.read_text().replace(str(corpus), str(copy)))
            db = Path(tmp) / "index.db"

            full = build(args.indexer, copy, db, full=True)
            print(f"{name}: full build {full['wall_s']:.1f} s, {full['indexed']} units, "
                  f"{full['prelude_fallbacks']} fallbacks ({full['prelude_discarded_s']:.2f} s discarded)",
                  flush=True)

            noop = [build(args.indexer, copy, db) for _ in range(args.repeat)]
            assert all(s["indexed"] == 0 for s in noop), noop

            source = first_unit(db)
            one_file, overhead = [], []
            for n in range(args.repeat):
                append_comment(source, n)
                s = build(args.indexer, copy, db)
                assert s["indexed"] == 1, s
                parse_s = unit_parse_ms(db, source) / 1000
                one_file.append(s["wall_s"])
                overhead.append(s["wall_s"] - parse_s)

            header, includers = most_included_header(db, copy)
            one_header, header_indexed = [], []
            for n in range(args.repeat):
                append_comment(header, n)
                s = build(args.indexer, copy, db)
                one_header.append(s["wall_s"])
                header_indexed.append(s["indexed"])

            med = statistics.median
            noop_s = [s["wall_s"] for s in noop]
            print(f"{name}: no-op refresh {med(noop_s):.3f} s "
                  f"(runs: {', '.join(f'{t:.3f}' for t in noop_s)})")
            print(f"{name}: one file ({source.relative_to(copy)}) {med(one_file):.3f} s, "
                  f"of which beyond the unit's parse {med(overhead) * 1000:.0f} ms "
                  f"(runs: {', '.join(f'{o * 1000:.0f}' for o in overhead)} ms)")
            print(f"{name}: one header ({header.relative_to(copy)}, read by {includers} units) "
                  f"{med(one_header):.1f} s, {header_indexed[0]} units re-indexed "
                  f"(runs: {', '.join(f'{t:.1f}' for t in one_header)} s)", flush=True)

            sources = sorted({Path(e["file"]) for e in json.loads(compdb.read_text())})
            for round in range(1, args.every_unit + 1):
                for source in sources:
                    append_comment(source, round)
                s = build(args.indexer, copy, db)
                print(f"{name}: every unit edited, round {round}: {s['wall_s']:.1f} s, "
                      f"{s['indexed']} units, {s['units_with_prelude']} with the prelude, "
                      f"{s['prelude_fallbacks']} fallbacks ({s['prelude_discarded_s']:.2f} s discarded)",
                      flush=True)

            if not args.units:
                continue
            plain_db = Path(tmp) / "plain.db"
            build(args.indexer, copy, plain_db, full=True, extra=("--no-prelude",))
            # Both indexes are current before the edits.
            build(args.indexer, copy, db)
            sources = largest_command(compdb)
            for units in args.units:
                with_prelude, without = [], []
                for n in range(args.repeat):
                    for source in sources[:units]:
                        append_comment(source, n)
                    s = build(args.indexer, copy, db)
                    p = build(args.indexer, copy, plain_db, extra=("--no-prelude",))
                    assert s["indexed"] == p["indexed"] == units, (s, p)
                    with_prelude.append((s["wall_s"], s["units_with_prelude"]))
                    without.append(p["wall_s"])
                print(f"{name}: {units} units of one command edited: "
                      f"{med(t for t, _ in with_prelude):.2f} s, --no-prelude {med(without):.2f} s "
                      f"(runs: {', '.join(f'{t:.2f} ({u} with the header)' for t, u in with_prelude)}; "
                      f"--no-prelude {', '.join(f'{t:.2f}' for t in without)})", flush=True)


if __name__ == "__main__":
    main()

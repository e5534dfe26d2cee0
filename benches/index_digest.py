#!/usr/bin/env python3
"""Prints a digest of an index's content: rows and a hash per table.

Two builds of the same corpus that index the same things print the same
digest, whatever ids, row order or dispatch order they had: every row is
spelled with USRs and paths instead of ids, and the rows are sorted before
hashing. Used to check that a speed-up keeps every symbol and reference
(docs/benchmarks.md); `--diff OTHER.db` lists the rows that differ.

    benches/index_digest.py INDEX.db [--diff OTHER.db]

Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import sqlite3
import sys

# Every table's rows with ids replaced by what they stand for.
QUERIES = {
    "symbols": "SELECT usr, name, qualified_name, kind, type FROM symbols",
    "decls": """
        SELECT s.usr, f.path, d.line, d.col, d.end_line, d.end_col, d.is_definition, c.usr
        FROM decls d JOIN symbols s ON s.id = d.symbol_id JOIN files f ON f.id = d.file_id
        LEFT JOIN symbols c ON c.id = d.container_id""",
    "refs": """
        SELECT s.usr, f.path, r.line, r.col, r.roles, c.usr
        FROM refs r JOIN symbols s ON s.id = r.symbol_id JOIN files f ON f.id = r.file_id
        LEFT JOIN symbols c ON c.id = r.container_id""",
    "bases": """
        SELECT d.usr, b.usr, f.path, x.line, x.col, x.is_virtual
        FROM bases x JOIN symbols d ON d.id = x.derived_id JOIN symbols b ON b.id = x.base_id
        JOIN files f ON f.id = x.file_id""",
    "overrides": """
        SELECT m.usr, o.usr, f.path
        FROM overrides x JOIN symbols m ON m.id = x.method_id
        JOIN symbols o ON o.id = x.overridden_id JOIN files f ON f.id = x.file_id""",
    "includes": """
        SELECT f.path, i.line, g.path
        FROM includes i JOIN files f ON f.id = i.file_id JOIN files g ON g.id = i.included_id""",
    "diagnostics": """
        SELECT u.path, f.path, d.line, d.col, d.severity, d.message
        FROM diagnostics d JOIN units n ON n.id = d.unit_id JOIN files u ON u.id = n.file_id
        LEFT JOIN files f ON f.id = d.file_id""",
}


def rows(db: str, table: str) -> list[str]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return sorted("\t".join("" if v is None else str(v) for v in row)
                      for row in con.execute(QUERIES[table]))
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("db")
    ap.add_argument("--diff", metavar="OTHER", help="list the rows that differ from OTHER")
    ap.add_argument("--limit", type=int, default=10, help="rows shown per table and side with --diff")
    args = ap.parse_args()
    same = True
    for table in QUERIES:
        mine = rows(args.db, table)
        digest = hashlib.sha256("\n".join(mine).encode()).hexdigest()[:16]
        print(f"{table:12} {len(mine):>9} rows  {digest}")
        if args.diff:
            theirs = rows(args.diff, table)
            only_mine = sorted(set(mine) - set(theirs))
            only_theirs = sorted(set(theirs) - set(mine))
            if only_mine or only_theirs or len(mine) != len(theirs):
                same = False
                print(f"  differs: {len(mine)} rows here, {len(theirs)} in {args.diff}")
                for row in only_mine[: args.limit]:
                    print(f"  - only here:  {row}")
                for row in only_theirs[: args.limit]:
                    print(f"  + only there: {row}")
    if args.diff:
        print("same content" if same else "content differs")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())

"""Drives `indexer mcp` with the official Python MCP SDK, as an assistant would.

Run by the Rust integration test tests/integration/mcp.rs (with the virtual
environment that .ci/install-deps makes), once per scenario and transport:

    client.py SCENARIO --indexer BIN --project DIR --transport stdio|http [--mode legacy|auto]

Scenarios:
  tools    every tool on testdata/demo, with exact answers (paths relative to
           the project), errors included, and progress notifications;
  partial  a query while refresh_index runs answers at once with partial: true,
           a second refresh is refused, and the build ends with the server
           (a worker hangs on one unit on purpose: INDEXER_FAULT);
  cancel   cancelling a refresh_index request stops its build (SIGINT): the
           server goes on, the build's run is interrupted, its unit pending;
  origin   the HTTP server refuses a request whose Origin is not local (403);
  watch    `indexer mcp --watch` builds the index and follows an edit by itself,
           refuses refresh_index meanwhile, stops its watcher when it ends, and
           reports a watcher that died (refresh_index then builds again).

Exits 0 when every check passed; otherwise prints what differed and exits 1.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

TOOLS = {
    "find_symbols",
    "get_symbol_info",
    "get_file_outline",
    "get_symbol_at",
    "get_class_hierarchy",
    "find_references",
    "find_callers",
    "find_callees",
    "find_call_paths",
    "get_includes",
    "get_index_status",
    "refresh_index",
}
READ_ONLY = TOOLS - {"refresh_index"}

failures: list[str] = []


def check(condition: bool, what: str) -> None:
    if not condition:
        failures.append(what)


def equal(actual, expected, what: str) -> None:
    if actual != expected:
        failures.append(f"{what}:\n  expected {expected!r}\n  actual   {actual!r}")


class Server:
    """How to reach one `indexer mcp`: launched by the SDK over stdio, or by
    this script over HTTP (its address read from stderr)."""

    def __init__(self, args, env: dict[str, str] | None = None, extra: list[str] | None = None):
        self.args = args
        # More arguments of `indexer mcp` (`--watch`).
        self.extra = extra or []
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None
        self.url: str | None = None

    def __enter__(self) -> Server:
        if self.args.transport == "http":
            self.process = subprocess.Popen(
                [self.args.indexer, "mcp", self.args.project, "--http", "127.0.0.1:0", *self.extra],
                stdin=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=self.env,
            )
            line = self.process.stderr.readline()
            match = re.search(r"(http://\S+/mcp)", line)
            if not match:
                raise RuntimeError(f"the HTTP server did not say where it listens: {line!r}")
            self.url = match.group(1)
        return self

    def client(self) -> Client:
        if self.url:
            return Client(self.url, mode=self.args.mode)
        params = StdioServerParameters(
            command=self.args.indexer, args=["mcp", self.args.project, *self.extra], env=self.env
        )
        return Client(params, mode=self.args.mode)

    def __exit__(self, *exc) -> None:
        if self.process:
            self.process.terminate()
            # A bound on the wait, not a timing assertion: the server stops
            # its build and exits in well under a second.
            status = self.process.wait(timeout=60)
            equal(status, 0, "the HTTP server's exit status after SIGTERM")


def relative(value, project: str):
    """`value` with the project's absolute paths made relative to it."""
    text = json.dumps(value)
    return json.loads(text.replace(project.rstrip("/") + "/", ""))


def rows(result, project: str, key: str, fields: tuple[str, ...]) -> list[tuple]:
    structured = relative(result.structured_content, project)
    return [tuple(row.get(f) for f in fields) for row in structured[key]]


async def call(client: Client, project: str, name: str, arguments: dict, **kw):
    result = await client.call_tool(name, arguments, **kw)
    # The text form is the structured content, serialized.
    if not result.is_error:
        equal(json.loads(result.content[0].text), result.structured_content, f"{name}: text vs structuredContent")
    return result


def error_text(result) -> str:
    return result.content[0].text if result.is_error else ""


USE = ("file", "line", "column", "qualified_name", "kind", "roles", "container")


def tree(result, project: str, fields: tuple[str, ...]) -> list:
    """A tree answer's `items` as (fields, children) pairs."""

    def nodes(items):
        return [(tuple(n.get(f) for f in fields), nodes(n.get("children", []))) for n in items]

    return nodes(relative(result.structured_content, project)["items"])


async def tools_scenario(args) -> None:
    project = args.project
    with Server(args) as server:
        async with server.client() as client:
            check(client.server_info is None or client.server_info.name == "indexer", "server name")
            listed = (await client.list_tools()).tools
            equal({t.name for t in listed}, TOOLS, "tools listed")
            for tool in listed:
                check(tool.output_schema is not None, f"{tool.name} has an outputSchema")
                check("Example" in (tool.description or ""), f"{tool.name}'s description has an example")
                read_only = bool(tool.annotations and tool.annotations.read_only_hint)
                equal(read_only, tool.name in READ_ONLY, f"{tool.name}'s readOnlyHint")
            kinds = next(t for t in listed if t.name == "find_symbols").input_schema["properties"]["kind"]
            check("method" in kinds.get("enum", []), "find_symbols' kind is an enum of the index's kinds")

            # No index yet: the error says what to call.
            result = await call(client, project, "find_symbols", {"pattern": "area"})
            check(result.is_error and "call refresh_index" in error_text(result), f"before any build: {error_text(result)!r}")

            progress: list[tuple] = []

            async def on_progress(done, total, message):
                progress.append((done, total))

            result = await call(client, project, "refresh_index", {}, progress_callback=on_progress)
            summary = result.structured_content or {}
            equal(
                {k: summary.get(k) for k in ("status", "files_total", "indexed", "unchanged", "failed", "removed", "symbols", "references")},
                {"status": "complete", "files_total": 3, "indexed": 3, "unchanged": 0, "failed": 0, "removed": 0, "symbols": 25, "references": 44},
                "refresh_index's summary",
            )
            check(any("no compile_commands.json" in n for n in summary.get("notes", [])), "refresh_index's notes say the project was walked")
            check(bool(progress) and progress[-1] == (3.0, 3.0), f"progress notifications end at 3 of 3: {progress}")

            result = await call(client, project, "find_symbols", {"pattern": "area"})
            equal(
                rows(result, project, "items", ("qualified_name", "kind", "file", "line", "column", "definition")),
                [
                    ("geo::Circle::area", "method", "src/circle.cpp", 7, 16, True),
                    ("geo::Shape::area", "method", "include/geo/shape.h", 11, 20, False),
                    ("geo::Square::area", "method", "include/geo/shape.h", 30, 12, True),
                    ("geo::total_area", "function", "src/total.cpp", 7, 8, True),
                ],
                "find_symbols area",
            )
            equal({k: result.structured_content[k] for k in ("total", "truncated", "partial", "external_left_out")},
                  {"total": 4, "truncated": False, "partial": False, "external_left_out": 0}, "find_symbols area: counts")

            result = await call(client, project, "find_symbols", {"pattern": "geo::*", "kind": "class", "max_results": 2})
            equal(rows(result, project, "items", ("qualified_name",)), [("geo::Circle",), ("geo::Shape",)], "find_symbols geo::* class, capped")
            equal((result.structured_content["total"], result.structured_content["truncated"]), (3, True), "find_symbols capped: total, truncated")

            result = await call(client, project, "find_references", {"symbol": "geo::Circle::area"})
            equal(rows(result, project, "items", USE),
                  [("src/main.cpp", 10, 65, "geo::Circle::area", "method", ["call", "dynamic"], "main")],
                  "find_references geo::Circle::area")

            result = await call(client, project, "find_callers", {"symbol": "geo::Shape::area"})
            equal(rows(result, project, "items", USE),
                  [("src/total.cpp", 10, 48, "geo::total_area", "function", ["call", "dynamic"], "geo::Shape::area")],
                  "find_callers geo::Shape::area")

            # Circle::area overrides Shape::area: total_area's call through a
            # Shape may reach it.
            result = await call(client, project, "find_callers", {"symbol": "geo::Circle::area", "max_results": 1})
            equal(rows(result, project, "items", ("file", "line", "qualified_name")), [("src/main.cpp", 10, "main")], "find_callers geo::Circle::area, capped")
            equal((result.structured_content["total"], result.structured_content["truncated"]), (2, True), "find_callers capped: total, truncated")

            result = await call(client, project, "find_callees", {"symbol": "geo::total_area"})
            equal(rows(result, project, "items", USE),
                  [
                      ("src/total.cpp", 10, 16, "geo::weight", "function", ["call"], "geo::total_area"),
                      ("src/total.cpp", 10, 48, "geo::Shape::area", "method", ["call", "dynamic"], "geo::total_area"),
                  ],
                  "find_callees geo::total_area")

            # Deeper: main calls total_area, which calls Shape::area.
            result = await call(client, project, "find_callers", {"symbol": "geo::Shape::area", "depth": 2})
            equal(tree(result, project, ("qualified_name", "file", "line")),
                  [(("geo::total_area", "src/total.cpp", 10), [(("main", "src/main.cpp", 10), [])])],
                  "find_callers geo::Shape::area depth 2")
            result = await call(client, project, "find_references", {"symbol": "geo::Circle::area", "roles": ["read"]})
            equal((result.structured_content["items"], result.structured_content["total"]), ([], 0), "find_references with a role filter")

            result = await call(client, project, "find_symbols", {"pattern": "*", "file": "shape.h", "namespace": "geo::Shape"})
            equal(rows(result, project, "items", ("qualified_name",)),
                  [("geo::Shape::area",), ("geo::Shape::color",), ("geo::Shape::color_",), ("geo::Shape::~Shape",)],
                  "find_symbols by file and namespace")
            result = await call(client, project, "find_symbols", {"pattern": "area", "max_results": 2, "offset": 2})
            equal(rows(result, project, "items", ("qualified_name",)), [("geo::Square::area",), ("geo::total_area",)], "find_symbols, the second page")
            equal((result.structured_content["total"], result.structured_content["truncated"]), (4, False), "find_symbols' second page: total, truncated")

            result = await call(client, project, "get_symbol_info", {"symbol": "geo::Shape"})
            info = relative(result.structured_content, project)
            equal((info["total"], info["partial"]), (1, False), "get_symbol_info geo::Shape: one symbol")
            shape = info["items"][0]
            equal((shape["symbol"]["kind"], shape["doc"], shape["container"]["qualified_name"]),
                  ("class", "Anything with an area: the base of Circle and Square.", "geo"), "get_symbol_info geo::Shape")
            equal([(d["file"], d["line"], d["definition"]) for d in shape["declarations"]], [("include/geo/shape.h", 8, True)], "get_symbol_info geo::Shape: declarations")
            equal([m["qualified_name"] for m in shape["members"]["items"]],
                  ["geo::Shape::~Shape", "geo::Shape::area", "geo::Shape::color", "geo::Shape::color_"], "get_symbol_info geo::Shape: members")
            equal(([b["qualified_name"] for b in shape["bases"]], [d["qualified_name"] for d in shape["derived"]]),
                  ([], ["geo::Circle", "geo::Square"]), "get_symbol_info geo::Shape: bases, derived")
            # A name several symbols have: each of them.
            result = await call(client, project, "get_symbol_info", {"symbol": "area"})
            equal([(i["symbol"]["qualified_name"], [o["qualified_name"] for o in i.get("overrides", [])], [o["qualified_name"] for o in i.get("overridden_by", [])])
                   for i in result.structured_content["items"]],
                  [("geo::Circle::area", ["geo::Shape::area"], []),
                   ("geo::Shape::area", [], ["geo::Circle::area", "geo::Square::area"]),
                   ("geo::Square::area", ["geo::Shape::area"], [])],
                  "get_symbol_info area: every overload")

            result = await call(client, project, "get_file_outline", {"file": "include/geo/shape.h"})
            outline = relative(result.structured_content, project)

            def nested(nodes):
                return [(n["qualified_name"], n["line"], nested(n.get("children", []))) for n in nodes]

            equal((outline["file"], outline["total"], outline["truncated"]), ("include/geo/shape.h", 20, False), "get_file_outline: file, total")
            equal(nested(outline["items"]), [("geo", 4, [
                ("geo::Color", 6, [("geo::Color::Red", 6, []), ("geo::Color::Green", 6, []), ("geo::Color::Blue", 6, [])]),
                ("geo::Shape", 8, [("geo::Shape::~Shape", 10, []), ("geo::Shape::area", 11, []), ("geo::Shape::color", 12, []), ("geo::Shape::color_", 15, [])]),
                ("geo::Circle", 18, [("geo::Circle::Circle", 20, []), ("geo::Circle::area", 21, []), ("geo::Circle::radius_", 24, [])]),
                ("geo::Square", 27, [("geo::Square::Square", 29, []), ("geo::Square::area", 30, []), ("geo::Square::side_", 33, [])]),
                ("geo::clamp", 37, []),
                ("geo::total_area", 41, []),
            ])], "get_file_outline include/geo/shape.h")

            result = await call(client, project, "get_symbol_at", {"file": "src/main.cpp", "line": 10, "column": 65})
            at = relative(result.structured_content, project)
            equal([(o["occurrence"], o["roles"], o["symbol"]["qualified_name"], o["symbol"]["file"], o["symbol"]["line"]) for o in at["items"]],
                  [("reference", ["call", "dynamic"], "geo::Circle::area", "src/circle.cpp", 7)], "get_symbol_at src/main.cpp:10:65")
            result = await call(client, project, "get_symbol_at", {"file": "circle.cpp", "line": 7})
            equal([(o["occurrence"], o["column"], o["symbol"]["qualified_name"]) for o in result.structured_content["items"]],
                  [("reference", 8, "geo::Circle"), ("definition", 16, "geo::Circle::area"),
                   ("reference", 57, "geo::Circle::radius_"), ("reference", 67, "geo::Circle::radius_")],
                  "get_symbol_at circle.cpp:7 (a whole line)")

            result = await call(client, project, "get_class_hierarchy", {"class": "geo::Shape", "direction": "down"})
            hierarchy = result.structured_content
            equal([(r["class"]["qualified_name"], "bases" in r, [d["class"]["qualified_name"] for d in r["derived"]]) for r in hierarchy["items"]],
                  [("geo::Shape", False, ["geo::Circle", "geo::Square"])], "get_class_hierarchy geo::Shape down")
            result = await call(client, project, "get_class_hierarchy", {"class": "Circle", "direction": "up"})
            equal([(r["class"]["qualified_name"], [b["class"]["qualified_name"] for b in r["bases"]]) for r in result.structured_content["items"]],
                  [("geo::Circle", ["geo::Shape"])], "get_class_hierarchy Circle up")

            # main calls Circle::area directly, and through total_area's
            # virtual call of Shape::area.
            result = await call(client, project, "find_call_paths", {"from": "main", "to": "geo::Circle::area"})
            paths = relative(result.structured_content, project)
            equal([[(s["function"]["qualified_name"], s.get("call", {}).get("line"), s.get("call", {}).get("dynamic")) for s in p["steps"]] for p in paths["items"]],
                  [[("main", 10, True), ("geo::Circle::area", None, None)],
                   [("main", 10, False), ("geo::total_area", 10, True), ("geo::Circle::area", None, None)]],
                  "find_call_paths main -> geo::Circle::area")
            equal((paths["total"], paths["truncated"]), (2, False), "find_call_paths: total, truncated")

            result = await call(client, project, "get_includes", {"file": "include/geo/shape.h", "direction": "included_by"})
            equal(rows(result, project, "items", ("file", "line", "system")),
                  [("src/circle.cpp", 1, False), ("src/main.cpp", 2, False), ("src/total.cpp", 1, False)], "get_includes shape.h included_by")
            result = await call(client, project, "get_includes", {"file": "src/total.cpp", "depth": 2})
            equal([(n["file"].rsplit("/", 1)[-1], n["system"], [(c["file"].rsplit("/", 1)[-1], c["system"]) for c in n.get("children", [])])
                   for n in result.structured_content["items"]],
                  [("shape.h", False, [("stddef.h", True)])], "get_includes src/total.cpp depth 2")

            result = await call(client, project, "get_index_status", {})
            status = result.structured_content or {}
            equal({k: status.get(k) for k in ("units", "units_indexed", "units_pending", "units_failed", "symbols", "references", "build_running", "partial", "refresh", "total_failed", "truncated", "failed")},
                  {"units": 3, "units_indexed": 3, "units_pending": 0, "units_failed": 0, "symbols": 25, "references": 44,
                   "build_running": False, "partial": False, "refresh": None, "total_failed": 0, "truncated": False, "failed": []},
                  "get_index_status")
            equal((status.get("last_run") or {}).get("status"), "complete", "get_index_status: last run")

            # Errors are results with isError, saying what to do.
            result = await call(client, project, "find_callers", {"symbol": "geo::nothing"})
            check(result.is_error and "call find_symbols" in error_text(result) and '"pattern": "nothing"' in error_text(result),
                  f"unknown symbol: {error_text(result)!r}")
            # A name several symbols have answers for all of them (issue
            # 17): the uses of geo::Circle::area and geo::Shape::area.
            result = await call(client, project, "find_references", {"symbol": "area"})
            check(not result.is_error, f"a name of several symbols: {error_text(result)!r}")
            equal(sorted((u["qualified_name"], Path(u["file"]).name, u["line"])
                         for u in result.structured_content["items"]),
                  [("geo::Circle::area", "main.cpp", 10), ("geo::Shape::area", "total.cpp", 10)],
                  "a name of several symbols")
            result = await call(client, project, "get_file_outline", {"file": "src/nowhere.cpp"})
            check(result.is_error and "no file of the index matches `src/nowhere.cpp`" in error_text(result), f"an unknown file: {error_text(result)!r}")
            result = await call(client, project, "get_class_hierarchy", {"class": "geo::total_area"})
            check(result.is_error and "get_symbol_info says what it is" in error_text(result), f"not a class: {error_text(result)!r}")
            result = await call(client, project, "find_callees", {"symbol": "main", "depth": 11})
            check(result.is_error and "11 is out of range: pass 1 to 10" in error_text(result), f"a depth out of range: {error_text(result)!r}")
            result = await call(client, project, "find_callers", {"symbol": "main", "roles": ["calls"]})
            check(result.is_error and "unknown role `calls`" in error_text(result), f"an unknown role: {error_text(result)!r}")
            result = await call(client, project, "get_symbol_at", {"file": "src/main.cpp", "line": 0})
            check(result.is_error and "line and column count from 1" in error_text(result), f"line 0: {error_text(result)!r}")
            result = await call(client, project, "find_symbols", {"pattern": "area", "kind": "klass"})
            check(result.is_error and "unknown kind `klass`" in error_text(result), f"unknown kind: {error_text(result)!r}")
            # Arguments that do not fit the schema: a tool error too (the
            # SDK's), for the model to correct.
            result = await call(client, project, "find_symbols", {"pattern": "area", "max_results": "many"})
            check(result.is_error and 'invalid type: string "many"' in error_text(result), f"a bad argument: {error_text(result)!r}")
            result = await call(client, project, "refresh_index", {"mode": "quick"})
            check(result.is_error and "expected `incremental` or `full`" in error_text(result), f"a bad mode: {error_text(result)!r}")
            result = await call(client, project, "find_references", {"symbol": "area", "depth": 2})
            check(result.is_error and "unknown field `depth`" in error_text(result), f"an unknown argument: {error_text(result)!r}")

            # Nothing changed: the next refresh indexes nothing.
            result = await call(client, project, "refresh_index", {"mode": "incremental"})
            equal({k: result.structured_content.get(k) for k in ("status", "indexed", "unchanged")},
                  {"status": "complete", "indexed": 0, "unchanged": 3}, "second refresh_index")
            result = await call(client, project, "refresh_index", {"mode": "full"})
            equal({k: result.structured_content.get(k) for k in ("status", "indexed", "unchanged")},
                  {"status": "complete", "indexed": 3, "unchanged": 0}, "refresh_index mode full")


def lock_is_held(db: Path) -> bool:
    try:
        with open(str(db) + ".lock") as f:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
    except FileNotFoundError:
        return False
    except BlockingIOError:
        return True


def one_unit_hangs(args) -> dict[str, str]:
    """A complete index, then one unit changed: a refresh re-indexes it, and
    its worker hangs on it until the build is stopped, under the
    environment returned."""
    subprocess.run([args.indexer, "build", args.project, "-q"], check=True)
    with open(Path(args.project) / "src" / "total.cpp", "a") as f:
        f.write("// changed\n")
    return {"INDEXER_FAULT": "hang@total.cpp"}


async def partial_scenario(args) -> None:
    project = args.project
    db = Path(project) / ".indexer" / "index.db"
    with Server(args, env=one_unit_hangs(args)) as server:
        async with server.client() as client:
            started = anyio.Event()
            refresh_result: list = []

            async def on_progress(done, total, message):
                started.set()

            async def refresh():
                refresh_result.append(await client.call_tool("refresh_index", {}, progress_callback=on_progress))

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(refresh)
                # The first progress notification: the build is indexing.
                await started.wait()

                result = await call(client, project, "find_symbols", {"pattern": "area"})
                equal(result.structured_content["partial"], True, "find_symbols during a build: partial")
                equal([r[0] for r in rows(result, project, "items", ("qualified_name",))],
                      ["geo::Circle::area", "geo::Shape::area", "geo::Square::area", "geo::total_area"],
                      "find_symbols during a build: what was committed")
                result = await call(client, project, "find_callers", {"symbol": "geo::Shape::area"})
                equal((result.structured_content["partial"], result.structured_content["total"]), (True, 1), "find_callers during a build")
                result = await call(client, project, "get_class_hierarchy", {"class": "geo::Shape"})
                equal((result.structured_content["partial"], result.structured_content["total"]), (True, 3), "get_class_hierarchy during a build")
                result = await call(client, project, "get_index_status", {})
                status = result.structured_content
                equal((status["build_running"], status["partial"], status["refresh"]),
                      (True, True, {"done": 0, "failed": 0, "total": 1}), "get_index_status during a build")

                second = await client.call_tool("refresh_index", {})
                check(second.is_error and "already running" in error_text(second), f"a second refresh: {error_text(second)!r}")
                # Deterministic: the worker hangs, so the build cannot have ended.
                equal(refresh_result, [], "the first refresh is still running")
                check(lock_is_held(db), "the build holds the index's lock")
                tasks.cancel_scope.cancel()
    # The server is gone; its build must be gone too (it got SIGTERM, or
    # SIGINT from the cancelled request) and have kept the index consistent.
    deadline = time.monotonic() + 60
    while lock_is_held(db) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not lock_is_held(db), "no build survives the server")
    status = json.loads(subprocess.run([args.indexer, "status", project, "--json"], check=True, capture_output=True, text=True).stdout)
    equal((status["units_indexed"], status["units_pending"], status["last_run"]["status"]), (2, 1, "interrupted"),
          "the index after the stopped build")


async def cancel_scenario(args) -> None:
    project = args.project
    db = Path(project) / ".indexer" / "index.db"
    with Server(args, env=one_unit_hangs(args)) as server:
        async with server.client() as client:
            started = anyio.Event()

            async def on_progress(done, total, message):
                started.set()

            async with anyio.create_task_group() as tasks:
                tasks.start_soon(lambda: client.call_tool("refresh_index", {}, progress_callback=on_progress))
                await started.wait()
                check(lock_is_held(db), "the build runs")
                # Cancels the request: the SDK tells the server so.
                tasks.cancel_scope.cancel()
            # The worker hangs for 300 s (the unit timeout): only the
            # cancellation can end the build within the bound.
            deadline = time.monotonic() + 60
            status = {}
            while time.monotonic() < deadline:
                status = (await call(client, project, "get_index_status", {})).structured_content
                # The build lets go of the index's lock a moment before the
                # server has reaped it and forgotten its progress: both.
                if not status["build_running"] and status["refresh"] is None:
                    break
                await anyio.sleep(0.05)
            equal((status["build_running"], status["refresh"], status["last_run"]["status"], status["units_pending"]),
                  (False, None, "interrupted", 1), "the index after a cancelled refresh")
            # The server still serves, and builds again.
            result = await call(client, project, "find_symbols", {"pattern": "total_area"})
            equal((result.structured_content["total"], result.structured_content["partial"]), (1, False), "a query after the cancelled refresh")


def watchers(project: str) -> list[int]:
    """The pids of the `indexer watch` processes watching `project`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[1:3] == [b"watch", os.fsencode(os.path.abspath(project))]:
            pids.append(int(entry.name))
    return pids


async def poll(what: str, ask, done) -> object:
    """Asks `ask()` until `done(answer)`; a bound on the wait (60 s), not a
    timing assertion: the watcher's builds of the demo take a second."""
    deadline = time.monotonic() + 60
    answer = None
    while time.monotonic() < deadline:
        answer = await ask()
        if done(answer):
            return answer
        await anyio.sleep(0.1)
    failures.append(f"{what}: still {answer!r} after 60 s")
    return answer


async def watch_scenario(args) -> None:
    project = args.project
    db = Path(project) / ".indexer" / "index.db"

    async def status(client) -> dict:
        result = await client.call_tool("get_index_status", {})
        # Before its first commit the index does not exist: the error says
        # the watcher builds it, not to call refresh_index.
        check(not result.is_error or "being built for the first time" in error_text(result),
              f"get_index_status before the first build: {error_text(result)!r}")
        return {} if result.is_error else result.structured_content

    async def found(client, name: str) -> list[tuple]:
        result = await call(client, project, "find_symbols", {"pattern": name})
        return [] if result.is_error else rows(result, project, "items", ("qualified_name", "file", "line"))

    # No index: the watcher's first build makes it, no refresh_index needed.
    with Server(args, extra=["--watch"]) as server:
        async with server.client() as client:
            indexed = await poll("the watcher's first build", lambda: status(client),
                                 lambda s: s.get("units_indexed") == 3 and not s.get("build_running"))
            equal({k: indexed.get(k) for k in ("units", "units_indexed", "watching", "watch_stopped", "refresh")},
                  {"units": 3, "units_indexed": 3, "watching": True, "watch_stopped": None, "refresh": None},
                  "get_index_status while watching")
            equal(len(watchers(project)), 1, "one watcher runs")

            result = await client.call_tool("refresh_index", {})
            check(result.is_error and "the server watches" in error_text(result) and "indexer build --full" in error_text(result),
                  f"refresh_index while watching is refused: {error_text(result)!r}")

            # An edit: the watcher re-indexes the file by itself.
            with open(Path(project) / "src" / "total.cpp", "a") as f:
                f.write("double new_watch_fn() { return 1; }\n")
            equal(await poll("the new function", lambda: found(client, "new_watch_fn"), bool),
                  [("new_watch_fn", "src/total.cpp", 16)], "find_symbols after an edit, while watching")
    # The server stopped its watcher (SIGTERM) before it exited.
    await poll("the watcher after the server's end", lambda: anyio.to_thread.run_sync(watchers, project), lambda w: w == [])
    check(not lock_is_held(db), "no build survives the server")

    # A watcher that dies is reported; the server goes on, and builds again.
    with Server(args, extra=["--watch"]) as server:
        async with server.client() as client:
            await poll("the watcher's start", lambda: anyio.to_thread.run_sync(watchers, project), bool)
            await poll("the second server's first build", lambda: status(client),
                       lambda s: (s.get("last_run") or {}).get("status") == "complete" and not s.get("build_running"))
            for pid in watchers(project):
                os.kill(pid, 9)
            stopped = await poll("the watcher's death", lambda: status(client), lambda s: s.get("watching") is False)
            text = stopped.get("watch_stopped") or ""
            check("was killed by signal 9" in text and "call refresh_index" in text, f"why the watch stopped: {text!r}")
            result = await call(client, project, "refresh_index", {})
            equal((result.structured_content or {}).get("status"), "complete", f"refresh_index once the watcher died: {error_text(result)!r}")
            equal(await found(client, "new_watch_fn"), [("new_watch_fn", "src/total.cpp", 16)], "the index after the watcher's death")


def post(url: str, origin: str | None) -> int:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "origin-test", "version": "1"}}}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    if origin:
        headers["Origin"] = origin
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


async def origin_scenario(args) -> None:
    with Server(args) as server:
        equal(post(server.url, "https://evil.example"), 403, "a foreign Origin")
        equal(post(server.url, "http://192.168.1.7:8080"), 403, "an Origin on another machine of the network")
        equal(post(server.url, "http://localhost:3000"), 200, "a local Origin")
        equal(post(server.url, None), 200, "no Origin (not a browser)")
        equal(post(server.url.replace("/mcp", "/other"), None), 404, "another path")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenario", choices=["tools", "partial", "cancel", "origin", "watch"])
    parser.add_argument("--indexer", required=True)
    parser.add_argument("--project", required=True)
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio")
    parser.add_argument("--mode", choices=["legacy", "auto"], default="legacy")
    args = parser.parse_args()
    scenarios = {"tools": tools_scenario, "partial": partial_scenario, "cancel": cancel_scenario, "origin": origin_scenario, "watch": watch_scenario}
    scenario = scenarios[args.scenario]
    anyio.run(scenario, args)
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"{args.scenario} over {args.transport} ({args.mode}): {'ok' if not failures else f'{len(failures)} failed'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

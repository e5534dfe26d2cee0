#!/usr/bin/env bash
# The MCP conformance suite (npm @modelcontextprotocol/conformance, pinned)
# against `indexer mcp --http`, on testdata/demo with an index in a
# temporary directory. Known failures, each with its reason, are in
# tests/mcp/conformance-expected-failures.yml: the suite fails on any other
# failure, and on a listed one that passes (the list must then shrink).
# Run by `make conformance` (and so by `make test`).
set -euo pipefail
cd "$(dirname "$0")/../.."

# 0.1.13 and later need node 22 (fs.globSync); 0.1.12 runs on node 20.
CONFORMANCE=@modelcontextprotocol/conformance@0.1.12
INDEXER=${INDEXER:-target/release/indexer}

work=$(mktemp -d)
server=""
cleanup() {
    [ -n "$server" ] && kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

"$INDEXER" build testdata/demo --db "$work/index.db" -q
"$INDEXER" mcp testdata/demo --db "$work/index.db" --http 127.0.0.1:0 2>"$work/server.err" &
server=$!
url=""
for _ in $(seq 100); do
    url=$(grep -o 'http://[^ ]*/mcp' "$work/server.err" || true)
    [ -n "$url" ] && break
    sleep 0.1
done
if [ -z "$url" ]; then
    echo "indexer mcp --http did not start:" >&2
    cat "$work/server.err" >&2
    exit 1
fi
# Debian 12's own node is 18: the suite then runs on node 20 from npm's
# registry (the `node` package), so `make test` passes on a fresh machine.
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -ge 20 ]; then
    runner=(npx --yes "$CONFORMANCE")
else
    runner=(npx --yes -p node@20 -p "$CONFORMANCE" conformance)
fi
"${runner[@]}" server --url "$url" \
    --expected-failures tests/mcp/conformance-expected-failures.yml \
    --output-dir "$work/results" </dev/null

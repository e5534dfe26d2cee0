# Quick start: `make demo` then `make test`. Both install what is missing
# first (libclang through the system package manager).

CARGO ?= cargo
INDEXER := target/release/indexer
DEMO_DB := target/demo/index.db

.PHONY: deps bench-deps build demo test conformance bench-corpora bench clean

deps:
	@.ci/install-deps

build: deps
	$(CARGO) build --release

demo: build
	rm -f $(DEMO_DB)
	$(INDEXER) build testdata/demo --db $(DEMO_DB)
	@echo '--- indexer find area'
	$(INDEXER) find area --db $(DEMO_DB)
	@echo '--- indexer callers geo::Shape::area'
	$(INDEXER) callers geo::Shape::area --db $(DEMO_DB)
	@echo '--- indexer status'
	$(INDEXER) status testdata/demo --db $(DEMO_DB)

test: deps
	$(CARGO) test --release
	tests/mcp/conformance.sh

# The MCP conformance suite against `indexer mcp --http` (npx; expected
# failures with their reasons in tests/mcp/conformance-expected-failures.yml).
conformance: build
	tests/mcp/conformance.sh

bench-deps:
	@.ci/install-deps --bench

bench-corpora: bench-deps
	benches/fetch-corpora.sh

# Every benchmark of docs/benchmarks.md, on a quiet machine (about an hour
# and a half on 2 cores; `benches/soak.py llvm` is separate, see benches/README.md).
bench: build bench-corpora
	python3 benches/compare.py --repeat 3 leveldb
	python3 benches/compare.py protobuf
	python3 benches/compare.py libgit2 abseil spdlog wxwidgets
	python3 benches/scale.py
	python3 benches/refresh.py --units 4 8 16 32
	python3 benches/cancel.py --corpus leveldb
	python3 benches/cancel.py --corpus protobuf
	rm -f "$${TMPDIR:-/tmp}"/indexer-latency-protobuf.db*
	python3 benches/query_latency.py

clean:
	$(CARGO) clean

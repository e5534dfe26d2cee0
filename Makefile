# Quick start: `make demo` then `make test`. Both install what is missing
# first (libclang through the system package manager).

CARGO ?= cargo
INDEXER := target/release/indexer
DEMO_DB := target/demo/index.db

.PHONY: deps build demo test bench-corpora bench clean

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

bench-corpora: deps
	benches/fetch-corpora.sh

bench: build bench-corpora
	python3 benches/compare.py

clean:
	$(CARGO) clean

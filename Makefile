# waypost — `make demo` runs the stop-resume demo on an embedded SQLite file;
# `make test` runs every check and suite (PostgreSQL found or started by
# tests/support/with-postgres.sh); `make bench` prints the throughput figures.

CARGO ?= cargo
DEMO_DB ?= .demo/waypost-demo.db
DEMO = target/debug/demo --db $(DEMO_DB)

.PHONY: demo test bench lint check-features suites examples clean

demo:
	$(CARGO) build --quiet -p waypost-examples --bin demo
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	@echo '$$ demo append --events 20' && $(DEMO) append --events 20
	@echo '$$ demo status' && $(DEMO) status
	@echo '$$ demo process --stop-after 5' && $(DEMO) process --stop-after 5
	@echo '$$ demo status' && $(DEMO) status
	@echo '$$ demo process' && $(DEMO) process
	@echo '$$ demo status' && $(DEMO) status

test: lint check-features
	tests/support/with-postgres.sh $(MAKE) --no-print-directory suites examples

lint:
	python3 tests/support/check_snippets.py README.md
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings

check-features:
	$(CARGO) check --quiet -p waypost --no-default-features
	$(CARGO) check --quiet -p waypost --no-default-features --features sqlite
	$(CARGO) check --quiet -p waypost --no-default-features --features postgres

suites:
	$(CARGO) test --workspace --all-features

examples:
	$(CARGO) run --quiet -p waypost-examples --bin quickstart
	mkdir -p .demo && rm -f .demo/quickstart.db*
	WAYPOST_URL=sqlite:.demo/quickstart.db $(CARGO) run --quiet -p waypost-examples --bin quickstart
	$(MAKE) --no-print-directory demo

bench:
	tests/support/with-postgres.sh $(CARGO) bench -p waypost --bench throughput

clean:
	rm -rf .demo
	$(CARGO) clean

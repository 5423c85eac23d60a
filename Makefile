# waypost — `make demo` runs the stop-resume demo on an embedded SQLite file;
# `make test` runs every check and suite, and builds and installs the artifacts (make
# dist-check); `make bench` prints the throughput and scale figures.
# Every target that runs suites or benches (test, fuzz, bench*) runs them inside
# tests/support/with-postgres.sh and tests/support/with-mysql.sh, which find or start a
# PostgreSQL and a MySQL/MariaDB server and export WAYPOST_TEST_POSTGRES_URL and
# WAYPOST_TEST_MYSQL_URL (see tests/support/README.md).

CARGO ?= cargo
DEMO_DB ?= .demo/waypost-demo.db
DEMO = target/debug/waypost demo --db $(DEMO_DB)

VENV ?= .venv
PYTHON = $(VENV)/bin/python

FUZZ_CASES ?= 3000

PHONY_NOTICES := cargo-about notices notices-check mdbook docs
.PHONY: $(PHONY_NOTICES) dist dist-check fuzz fuzz-suites demo test browser bench bench-smoke bench-claims bench-python bench-node lint check-features suites examples clean python python-test python-exit-check node node-test

demo:
	$(CARGO) build --quiet -p waypost-cli --bin waypost
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	@echo '$$ waypost demo append --events 20' && $(DEMO) append --events 20
	@echo '$$ waypost demo status' && $(DEMO) status
	@echo '$$ waypost demo process --stop-after 5' && $(DEMO) process --stop-after 5
	@echo '$$ waypost demo status' && $(DEMO) status
	@echo '$$ waypost demo process' && $(DEMO) process
	@echo '$$ waypost demo status' && $(DEMO) status
	@echo '$$ waypost status' && target/debug/waypost status --url sqlite:$(DEMO_DB)

test: lint check-features notices-check docs browser
	tests/support/with-postgres.sh tests/support/with-mysql.sh $(MAKE) --no-print-directory suites examples
	$(MAKE) --no-print-directory dist-check

# Headless Chromium for the dashboard test (Debian's package), installed when missing.
browser:
	tests/support/ensure-chromium.sh

lint:
	python3 tests/support/check_snippets.py README.md bindings-python/README.md bindings-node/README.md docs/src/*.md
	python3 tests/support/check_links.py README.md CONTRIBUTING.md bindings-python/README.md bindings-node/README.md tests/conformance/README.md docs/src/*.md
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --quiet --no-deps -p waypost --all-features

# The guide (docs/, an mdBook) built into target/book; mdbook is installed from crates.io
# when missing. Its links are checked by lint (check_links.py), its snippets too.
MDBOOK_VERSION = 0.5.4

mdbook:
	@command -v mdbook >/dev/null 2>&1 || $(CARGO) install --quiet --locked --no-default-features --features search mdbook@$(MDBOOK_VERSION)

docs: mdbook
	mdbook build docs

# THIRD-PARTY-NOTICES.md: the licenses of every crate the artifacts link, generated from
# Cargo.lock by cargo-about (installed from crates.io when missing); notices-check fails
# when the committed file is not what Cargo.lock gives today.
CARGO_ABOUT_VERSION = 0.9.3
NOTICES = $(CARGO) about generate --locked --workspace --fail -c about.toml tests/support/notices/notices.hbs

cargo-about:
	@command -v cargo-about >/dev/null 2>&1 || $(CARGO) install --quiet --locked --features cli cargo-about@$(CARGO_ABOUT_VERSION)

notices: cargo-about
	$(NOTICES) -o THIRD-PARTY-NOTICES.md

notices-check: cargo-about
	$(NOTICES) -o target/THIRD-PARTY-NOTICES.md
	@diff -q THIRD-PARTY-NOTICES.md target/THIRD-PARTY-NOTICES.md >/dev/null || \
	  { echo "THIRD-PARTY-NOTICES.md is not current: run make notices"; exit 1; }

check-features:
	$(CARGO) check --quiet -p waypost --no-default-features
	$(CARGO) check --quiet -p waypost --no-default-features --features sqlite
	$(CARGO) check --quiet -p waypost --no-default-features --features sqlite-system
	$(CARGO) check --quiet -p waypost --no-default-features --features postgres
	$(CARGO) check --quiet -p waypost --no-default-features --features mysql
	$(CARGO) check --quiet -p waypost --no-default-features --features embed

suites: python node
	$(CARGO) test --workspace --all-features
	$(MAKE) --no-print-directory python-test python-exit-check node-test bench-smoke

# Every benchmark once, briefly, on small tables (WAYPOST_BENCH_SMOKE=1): a check that each
# runs to the end, never a measurement (debug builds; the figures mean nothing).
bench-smoke:
	WAYPOST_BENCH_SMOKE=1 $(CARGO) test --quiet -p waypost --bench throughput
	WAYPOST_BENCH_SMOKE=1 $(CARGO) test --quiet -p waypost-cli --bench scale > target/bench-smoke-scale.txt
	WAYPOST_BENCH_SMOKE=1 $(PYTHON) bindings-python/bench/compare_eventsource.py > target/bench-smoke-python.txt
	BENCH_EVENTS=200 $(PYTHON) bindings-python/bench/strategies.py > target/bench-smoke-strategies.txt
	WAYPOST_BENCH_SMOKE=1 node bindings-node/bench/compare.mjs > target/bench-smoke-node.txt
	$(CARGO) build --quiet -p waypost-examples --bin claimer
	CLAIMER=target/debug/claimer BENCH_ITEMS=40 tests/support/bench-claims.sh > target/bench-smoke-claims.txt
	@echo "bench-smoke: every benchmark ran (its output is in target/bench-smoke-*.txt)"

# The Python package: a virtualenv with the pinned tools, and the extension built into it.
$(VENV)/.installed: bindings-python/requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r bindings-python/requirements-dev.txt
	touch $@

python: $(VENV)/.installed
	tests/support/ensure-libsqlite3.sh
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q -m cli/Cargo.toml

python-test:
	$(PYTHON) -m pytest -q
	$(PYTHON) -m mypy.stubtest waypost._waypost
	$(PYTHON) -m mypy bindings-python/python/waypost examples/python
	$(PYTHON) examples/python/quickstart.py
	$(PYTHON) examples/python/tutorial_checkpoints.py
	$(PYTHON) examples/python/health_check.py
	$(PYTHON) examples/python/file_worker.py
	$(PYTHON) examples/python/exactly_once.py
	$(PYTHON) -m pytest -q -p no:cacheprovider tests/crash
	mkdir -p .demo && rm -f .demo/tutorial.db*
	WAYPOST_URL=sqlite:.demo/tutorial.db $(PYTHON) examples/python/tutorial_checkpoints.py

# An interpreter that crashes at exit (a runtime torn down too late, a waypost thread
# entering the interpreter while it finalizes) fails here even when every test passed:
# every run must exit 0. Sixty runs of tests/python/exit_probe.py, which leaves every
# store busy at exit in three ways, then five runs of the suites. The suites that mostly
# drive other processes or servers (fuzz, restarts, TLS, the SQLite driver matrix),
# eventsource's suites and the shared cases through waypost.sync run once, above;
# waypost.sync's own tests (its loop thread at exit) run every time.
EXIT_PROBE_RUNS ?= 60
EXIT_SUITE_RUNS ?= 5

python-exit-check:
	@mkdir -p .demo
	@for i in $$(seq 1 $(EXIT_PROBE_RUNS)); do \
	  rm -rf .demo/exit-probe && mkdir -p .demo/exit-probe; \
	  $(PYTHON) tests/python/exit_probe.py $$i .demo/exit-probe > .demo/exit-check.log 2>&1 \
	    || { cat .demo/exit-check.log; echo "python-exit-check: probe run $$i exited $$?"; exit 1; }; \
	done; echo "python-exit-check: $(EXIT_PROBE_RUNS) probe runs, every exit 0"
	@for i in $$(seq 1 $(EXIT_SUITE_RUNS)); do \
	  $(PYTHON) -m pytest -q -p no:cacheprovider tests/python bindings-python/tests --ignore=bindings-python/tests/test_cli.py --ignore=tests/python/test_fuzz.py --ignore=tests/python/test_restarts.py --ignore=bindings-python/tests/test_sqlite_drivers.py --ignore=bindings-python/tests/test_unclosed.py --ignore=tests/python/test_tls.py --ignore=tests/python/test_eventsource.py -k 'not test_sync_' > .demo/exit-check.log 2>&1 \
	    || { cat .demo/exit-check.log; echo "python-exit-check: run $$i exited $$?"; exit 1; }; \
	done; echo "python-exit-check: $(EXIT_SUITE_RUNS) suite runs, every exit 0"

# The artifacts users install (tests/support/dist.sh): the abi3 manylinux wheel, the sdist,
# and the npm main and platform packages, in dist/; dist-check installs each the way a user
# does (no cargo on PATH, nothing fetched) and saves a position through it.
dist: $(VENV)/.installed
	tests/support/ensure-libsqlite3.sh
	@test -x bindings-node/node_modules/.bin/napi || (cd bindings-node && npm ci --no-audit --no-fund --loglevel=error)
	tests/support/dist.sh

dist-check: dist
	tests/support/dist-check.sh

# The hostile-input property suites (core/tests/fuzz.rs, tests/python/test_fuzz.py,
# tests/node/fuzz.test.mjs), which `make test` runs with their small default counts
# (WAYPOST_FUZZ_CASES unset), here with FUZZ_CASES cases per method and backend (about
# 20x); WAYPOST_FUZZ_SEED picks other inputs. Counts land in .demo/fuzz-counts-*.txt.
fuzz: python node
	tests/support/with-postgres.sh tests/support/with-mysql.sh $(MAKE) --no-print-directory fuzz-suites

fuzz-suites:
	WAYPOST_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test -p waypost --all-features --test fuzz
	WAYPOST_FUZZ_CASES=$(FUZZ_CASES) $(PYTHON) -m pytest -q -p no:cacheprovider tests/python/test_fuzz.py
	cd bindings-node && WAYPOST_FUZZ_CASES=$(FUZZ_CASES) node --test ../tests/node/fuzz.test.mjs

examples:
	$(CARGO) run --quiet -p waypost-examples --bin quickstart
	mkdir -p .demo && rm -f .demo/quickstart.db*
	WAYPOST_URL=sqlite:.demo/quickstart.db $(CARGO) run --quiet -p waypost-examples --bin quickstart
	$(MAKE) --no-print-directory demo

bench:
	tests/support/with-postgres.sh tests/support/with-mysql.sh $(CARGO) bench -p waypost --bench throughput
	tests/support/with-postgres.sh $(CARGO) bench -p waypost-cli --bench scale

# Claims per second for 1 and 4 worker processes on SQLite and PostgreSQL.
bench-claims:
	$(CARGO) build --release --quiet -p waypost-examples --bin claimer
	tests/support/with-postgres.sh tests/support/with-mysql.sh tests/support/bench-claims.sh

# The Node package: npm ci (the napi CLI, the typings' checkers and the bench peers), the
# addon built by napi, and its generated loader and typings unchanged from what is committed.
# node-test also compiles a typed example with `tsc --strict` and checks the package's
# typings resolve in every module mode (@arethetypeswrong/cli).
node:
	cd bindings-node && npm ci --no-audit --no-fund --loglevel=error && npm run build --silent

node-test:
	git diff --exit-code -- bindings-node/generated.js bindings-node/generated.d.ts
	cd bindings-node && node --test tests/ ../tests/node/
	bindings-node/node_modules/.bin/tsc -p examples/node/typed/tsconfig.json
	cd bindings-node && node_modules/.bin/attw --pack . --format ascii --quiet
	node examples/node/first-steps.mjs
	node examples/node/quickstart.mjs
	node examples/node/file-worker/index.mjs
	node examples/node/exactly-once.mjs
	mkdir -p .demo && rm -f .demo/node.db*
	WAYPOST_URL=sqlite:.demo/node.db node examples/node/quickstart.mjs

# waypost beside raw better-sqlite3 and pg loops (installed under bindings-node/bench only).
bench-node:
	cd bindings-node/bench && npm install --no-audit --no-fund --loglevel=error
	cd bindings-node && npm ci --no-audit --no-fund --loglevel=error && npm run build:release --silent
	tests/support/with-postgres.sh tests/support/with-mysql.sh node bindings-node/bench/compare.mjs
	cd bindings-node && npm run build --silent

# waypost beside eventsource-py 0.8.1 (installed into .venv for this only), release build.
bench-python: $(VENV)/.installed
	$(VENV)/bin/pip install -q --disable-pip-version-check -r bindings-python/requirements-bench.txt
	VIRTUAL_ENV=$(CURDIR)/$(VENV) $(VENV)/bin/maturin develop -q --release
	tests/support/with-postgres.sh tests/support/with-mysql.sh $(PYTHON) bindings-python/bench/compare_eventsource.py
	tests/support/with-postgres.sh tests/support/with-mysql.sh $(PYTHON) bindings-python/bench/strategies.py

clean:
	rm -rf .demo $(VENV)
	$(CARGO) clean

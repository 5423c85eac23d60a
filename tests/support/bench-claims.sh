#!/usr/bin/env bash
# Claims per second for 1 and 4 `claimer` workers over 2,000 items, on a fresh SQLite
# file and a fresh PostgreSQL schema (run by `make bench-claims`, inside with-postgres.sh).
set -euo pipefail
claimer=${CLAIMER:-target/release/claimer}
items=${BENCH_ITEMS:-2000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() { # label, then the target arguments
  local label=$1; shift
  local start end
  start=$(date +%s.%N)
  for w in $(seq 1 "$workers"); do
    # Each worker starts at its own share of the list, as workers handed a shuffled
    # listing would; they still meet on the rest.
    "$claimer" "$@" --items "$items" --worker "w$w" --start $(( (w - 1) * items / workers )) \
      > "$work/out.$w" 2>/dev/null &
  done
  wait
  end=$(date +%s.%N)
  local done
  done=$(cat "$work"/out.* | grep -c '^completed ' || true)
  rm -f "$work"/out.*
  printf '%-34s %7d items  %8.0f claims/s (claim + complete)\n' "$label, $workers worker(s)" "$done" \
    "$(echo "$done / ($end - $start)" | bc -l)"
}

for workers in 1 4; do
  run "SQLite" --url "sqlite:$work/claims-$workers.db"
done
url=${WAYPOST_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}
schema="waypost_bench_claims_$$"
for workers in 1 4; do
  run "PostgreSQL" --url "$url" --schema "${schema}_$workers"
done
for workers in 1 4; do
  psql -q "$url" -c "DROP SCHEMA IF EXISTS ${schema}_$workers CASCADE" >/dev/null 2>&1 || true
done

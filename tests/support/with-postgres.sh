#!/usr/bin/env bash
# Run a command with WAYPOST_TEST_POSTGRES_URL pointing at a reachable
# PostgreSQL server (user postgres, trust auth).
#
# Usage: tests/support/with-postgres.sh CMD [ARGS...]
#   e.g. tests/support/with-postgres.sh cargo test --workspace
#        tests/support/with-postgres.sh --url   (print the server found; see below)
#
# The server is chosen in this order:
#   1. WAYPOST_TEST_POSTGRES_URL, if already set. It must answer
#      (psql ... 'select 1'), otherwise this script fails with exit 1.
#   2. A server at 127.0.0.1:5432 (user postgres, database postgres).
#   3. A throwaway cluster on a free loopback port, created in a temp dir
#      with initdb/pg_ctl from PATH or the newest /usr/lib/postgresql/*/bin.
#      If those are missing and we are root with apt-get, the Debian package
#      `postgresql` is installed first. When running as root, the cluster is
#      run as the `postgres` system user (created if missing). The cluster is
#      stopped and its temp dir removed when this script exits.
#   4. Otherwise: with CI=true this is an error (exit 1), because the
#      PostgreSQL suites must never be skipped under CI; locally a warning
#      is printed and CMD runs without the variable (its PostgreSQL tests
#      are then skipped).
#
# CMD runs as a child process; this script exits with CMD's exit status.
# Requires psql (to check servers) and, for step 3, python3 or bash's
# /dev/tcp to pick a free port.
#
# Shared helpers (free_port, find_pg_bin, as_pg, ...) are in tests/support/lib.sh.
#
# Internal override (for testing this script): WAYPOST_TEST_POSTGRES_LOCAL_URL
# replaces the URL probed in step 2.
set -euo pipefail

readonly ME="with-postgres.sh"
readonly LOCAL_URL="${WAYPOST_TEST_POSTGRES_LOCAL_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

if [[ $# -eq 0 ]]; then
    say "usage: tests/support/with-postgres.sh CMD [ARGS...] | --url"
    exit 2
fi
# --url: print the server steps 1-2 choose and exit (1 when there is none). The suites'
# helpers ask this when run without this wrapper (WAYPOST_TEST_POSTGRES_URL unset): one
# discovery for every language. It starts no throwaway server, which would stop with it.
URL_ONLY=""
[[ "$1" == "--url" ]] && URL_ONLY=1

# Exit 0 if a server answers at URL $1. Output is suppressed so that no host
# name from a user-supplied URL is ever echoed.
reachable() {
    command -v psql >/dev/null 2>&1 || return 1
    PGCONNECT_TIMEOUT=5 psql -X -w "$1" -Atqc 'select 1' >/dev/null 2>&1
}

# ---------------------------------------------------------------- step 3 ---
PG_TMP=""    # temp dir of the throwaway cluster, if one was created

cleanup() {
    if [[ -n "$PG_TMP" && -d "$PG_TMP" ]]; then
        # postmaster.pid exists from the moment the server starts, even if
        # we are interrupted while pg_ctl start is still waiting.
        if [[ -f "$PG_TMP/data/postmaster.pid" ]]; then
            as_pg "$PG_TMP" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w -t 60 stop \
                >/dev/null 2>&1 || say "warning: could not stop the throwaway cluster"
        fi
        rm -rf -- "$PG_TMP" || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_postgres_user() {
    id -u postgres >/dev/null 2>&1 && return 0
    command -v useradd >/dev/null 2>&1 || return 1
    useradd --system --no-create-home postgres
}

# Start a throwaway cluster; on success set URL. Called in an `if`, where
# set -e is inactive, so every step checks its own status.
start_throwaway() {
    local port

    if ! find_pg_bin; then
        apt_install postgresql "initdb/pg_ctl" || return 1
        find_pg_bin || { say "initdb/pg_ctl still not found after installing"; return 1; }
    fi
    if is_root; then
        command -v runuser >/dev/null 2>&1 || { say "runuser not found (needed as root)"; return 1; }
        ensure_postgres_user || { say "could not create the postgres system user"; return 1; }
    fi
    port="$(free_port)" || { say "could not find a free loopback port"; return 1; }

    PG_TMP="$(pg_temp_dir waypost-pg)" || { PG_TMP=""; return 1; }

    if ! as_pg "$PG_TMP" "$PG_BIN/initdb" -D "$PG_TMP/data" -U postgres --auth=trust \
            -E UTF8 --locale=C --no-sync >"$PG_TMP/initdb.log" 2>&1; then
        say "initdb failed:"
        cat "$PG_TMP/initdb.log" >&2 || true
        return 1
    fi
    if ! as_pg "$PG_TMP" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -w -t 60 -l "$PG_TMP/log" \
            -o "-c listen_addresses=127.0.0.1 -p $port -k '$PG_TMP' -c fsync=off" \
            start >"$PG_TMP/pg_ctl.log" 2>&1; then
        say "pg_ctl start failed:"
        cat "$PG_TMP/pg_ctl.log" >&2 || true
        if [[ -s "$PG_TMP/log" ]]; then
            say "server log:"
            cat "$PG_TMP/log" >&2 || true
        fi
        return 1
    fi
    URL="postgres://postgres@127.0.0.1:$port/postgres"
    if command -v psql >/dev/null 2>&1 && ! reachable "$URL"; then
        say "throwaway cluster started but does not answer at $URL"
        return 1
    fi
}

# ------------------------------------------------------------ choose one ---
URL=""
if [[ -n "${WAYPOST_TEST_POSTGRES_URL:-}" ]]; then
    if ! command -v psql >/dev/null 2>&1; then
        say "error: psql not found; cannot check WAYPOST_TEST_POSTGRES_URL"
        exit 1
    fi
    if ! reachable "$WAYPOST_TEST_POSTGRES_URL"; then
        say "error: WAYPOST_TEST_POSTGRES_URL is set but no PostgreSQL server answers there"
        exit 1
    fi
    URL="$WAYPOST_TEST_POSTGRES_URL"
    # Echo the URL only if it is password-less and on loopback; otherwise it
    # may carry a secret or name another host.
    if loopback_url 'postgres(ql)?' "$URL"; then
        say "using PostgreSQL server $URL (from WAYPOST_TEST_POSTGRES_URL)"
    else
        say "using the PostgreSQL server given in WAYPOST_TEST_POSTGRES_URL"
    fi
elif reachable "$LOCAL_URL"; then
    URL="$LOCAL_URL"
    say "using local PostgreSQL server $URL"
elif [[ -z "$URL_ONLY" ]] && start_throwaway; then
    say "using throwaway PostgreSQL cluster $URL (removed afterwards)"
else
    # Tear down a half-started cluster now rather than after CMD.
    cleanup
    PG_TMP="" URL=""
    if [[ "${CI:-}" == "true" ]]; then
        say "error: no PostgreSQL server available and none could be started;" \
            "PostgreSQL suites must not be skipped under CI"
        exit 1
    fi
    say "warning: no PostgreSQL server available; PostgreSQL tests will be skipped"
fi

if [[ -n "$URL_ONLY" ]]; then
    [[ -n "$URL" ]] && printf '%s\n' "$URL"
    [[ -n "$URL" ]]
    exit
fi
if [[ -n "$URL" ]]; then
    export WAYPOST_TEST_POSTGRES_URL="$URL"
else
    unset WAYPOST_TEST_POSTGRES_URL
fi

# Run CMD as a child (not exec) so the EXIT trap can clean up afterwards.
status=0
"$@" || status=$?
exit "$status"

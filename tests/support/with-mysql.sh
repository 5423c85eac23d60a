#!/usr/bin/env bash
# Run a command with WAYPOST_TEST_MYSQL_URL pointing at a reachable
# MySQL/MariaDB server (user root, empty password, on loopback).
#
# Usage: tests/support/with-mysql.sh CMD [ARGS...]
#   e.g. tests/support/with-mysql.sh cargo test --workspace
#        tests/support/with-mysql.sh --url   (print the server found; see below)
#
# The server is chosen in this order:
#   1. WAYPOST_TEST_MYSQL_URL, if already set. It must answer
#      (mariadb ... -e 'select 1'), otherwise this script fails with exit 1.
#   2. A server at mysql://root@127.0.0.1:3306/test (root, empty password). If it
#      answers but has no database `test`, that database is created.
#   3. A throwaway MariaDB server on a free loopback port: mariadb-install-db into a
#      temp dir, then mariadbd --no-defaults with its datadir, socket, pid file and
#      log in that dir, listening on 127.0.0.1 only, and a database `test`. The
#      binaries come from PATH or /usr/sbin, /usr/libexec, /usr/bin; if they (or the
#      client) are missing and we are root with apt-get, the Debian package
#      `mariadb-server` is installed first. As root the server runs as root
#      (--user=root; mariadbd refuses root without it), so the temp dir needs no
#      other owner. The server is stopped and its temp dir removed when this script
#      exits.
#   4. Otherwise: with CI=true this is an error (exit 1), because the MySQL
#      suites must never be skipped under CI; locally a warning is printed and
#      CMD runs without the variable (its MySQL tests are then skipped).
#
# CMD runs as a child process; this script exits with CMD's exit status.
# Requires the mariadb client (or mysql) to check servers; URLs are mysql:// or
# mariadb:// (user, password percent-encoded). Shared helpers (free_port,
# apt_install, ...) are in tests/support/lib.sh.
#
# Internal override (for testing this script): WAYPOST_TEST_MYSQL_LOCAL_URL
# replaces the URL probed in step 2.
set -euo pipefail

readonly ME="with-mysql.sh"
readonly LOCAL_URL="${WAYPOST_TEST_MYSQL_LOCAL_URL:-mysql://root@127.0.0.1:3306/test}"

# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

if [[ $# -eq 0 ]]; then
    say "usage: tests/support/with-mysql.sh CMD [ARGS...] | --url"
    exit 2
fi
# --url: print the server steps 1-2 choose and exit (1 when there is none). The suites'
# helpers ask this when run without this wrapper (WAYPOST_TEST_MYSQL_URL unset): one
# discovery for every language. It starts no throwaway server, which would stop with it.
URL_ONLY=""
[[ "$1" == "--url" ]] && URL_ONLY=1

# The command-line client: mariadb, else mysql (empty when neither exists).
MY_CLIENT=""
find_client() {
    MY_CLIENT="$(command -v mariadb 2>/dev/null || command -v mysql 2>/dev/null || true)"
    [[ -n "$MY_CLIENT" ]]
}
find_client || true

# Percent-decode $1 (backslashes kept literally).
url_decode() {
    local s="${1//\\/\\\\}"
    printf '%b' "${s//%/\\x}"
}

# Split mysql://USER:PASSWORD@HOST:PORT/DATABASE?... into U_USER, U_PASS (U_HAS_PASS=1
# when a password is given), U_HOST, U_PORT and U_DB. Defaults: user root, host
# localhost, port 3306, no database.
parse_url() {
    local rest auth userinfo hostport path
    [[ "$1" =~ ^(mysql|mariadb)://(.*)$ ]] || return 1
    rest="${BASH_REMATCH[2]}"
    auth="${rest%%[/?#]*}"
    path="${rest:${#auth}}"
    U_USER="" U_PASS="" U_HAS_PASS=0
    if [[ "$auth" == *@* ]]; then
        userinfo="${auth%@*}"
        hostport="${auth##*@}"
        U_USER="$(url_decode "${userinfo%%:*}")"
        if [[ "$userinfo" == *:* ]]; then
            U_PASS="$(url_decode "${userinfo#*:}")"
            U_HAS_PASS=1
        fi
    else
        hostport="$auth"
    fi
    if [[ "$hostport" =~ ^\[([0-9A-Fa-f:.]+)\](:([0-9]+))?$ ]]; then
        U_HOST="${BASH_REMATCH[1]}" U_PORT="${BASH_REMATCH[3]}"
    elif [[ "$hostport" =~ ^([^:]*)(:([0-9]+))?$ ]]; then
        U_HOST="${BASH_REMATCH[1]}" U_PORT="${BASH_REMATCH[3]}"
    else
        return 1
    fi
    path="${path%%[?#]*}"
    U_DB="$(url_decode "${path#/}")"
    : "${U_USER:=root}" "${U_HOST:=localhost}" "${U_PORT:=3306}"
}

# my_sql URL DB SQL: run SQL on the server of URL (in database DB unless empty) over
# TCP. The password travels in MYSQL_PWD, never on the command line; --no-defaults
# keeps option files (~/.my.cnf) out of it. Output is the client's.
my_sql() {
    local sql="$3" db=()
    [[ -n "$MY_CLIENT" ]] || return 1
    parse_url "$1" || return 1
    if [[ -n "$2" ]]; then db=(-D "$2"); fi
    (
        unset MYSQL_PWD
        if [[ "$U_HAS_PASS" -eq 1 ]]; then export MYSQL_PWD="$U_PASS"; fi
        exec "$MY_CLIENT" --no-defaults --protocol=TCP -h "$U_HOST" -P "$U_PORT" -u "$U_USER" \
            --connect-timeout=5 "${db[@]}" -N -B -e "$sql"
    )
}

# Exit 0 if a server answers at URL $1 (in its database, when it names one). Output
# is suppressed so that no host name from a user-supplied URL is ever echoed.
reachable() {
    parse_url "$1" >/dev/null 2>&1 || return 1
    my_sql "$1" "$U_DB" 'select 1' >/dev/null 2>&1
}

# Exit 0 if a server answers at URL $1 and has (now) the database the URL names.
reachable_creating_database() {
    reachable "$1" && return 0
    parse_url "$1" >/dev/null 2>&1 || return 1
    [[ -n "$U_DB" && "$U_DB" != *'`'* ]] || return 1
    my_sql "$1" "" "CREATE DATABASE IF NOT EXISTS \`$U_DB\`" >/dev/null 2>&1 || return 1
    say "created database $U_DB"
    reachable "$1"
}

# ---------------------------------------------------------------- step 3 ---
MY_TMP=""       # temp dir of the throwaway server, if one was created
MY_PID=""       # its mariadbd process (a child of this script)
MY_READY=""     # set once it has answered
MY_SERVER=""    # mariadbd
MY_INSTALL_DB="" # mariadb-install-db

# Exit 0 while MY_PID is a live process (not a zombie awaiting wait).
server_alive() {
    [[ -n "$MY_PID" ]] && kill -0 "$MY_PID" 2>/dev/null || return 1
    local stat
    stat="$(cat "/proc/$MY_PID/stat" 2>/dev/null || true)"
    [[ "${stat##*) }" != Z* ]]
}

# Stop the throwaway server. Once it has answered, SIGTERM (mariadbd's clean shutdown),
# then SIGKILL after 30 s. Before that, SIGKILL at once: a SIGTERM during startup leaves
# MariaDB 10.11 hung, neither serving nor stopping (seen here), and its data is thrown
# away anyway.
stop_server() {
    local i
    [[ -n "$MY_PID" ]] || return 0
    if server_alive && [[ -n "$MY_READY" ]]; then
        kill -TERM "$MY_PID" 2>/dev/null || true
        for ((i = 0; i < 300; i++)); do
            server_alive || break
            sleep 0.1
        done
        if server_alive; then
            say "warning: the throwaway server did not stop within 30 s; killing it"
        fi
    fi
    if server_alive; then
        kill -KILL "$MY_PID" 2>/dev/null || true
    fi
    wait "$MY_PID" 2>/dev/null || true
    MY_PID="" MY_READY=""
}

# Processes still running on our datadir, e.g. the bootstrap mariadbd of an interrupted
# mariadb-install-db (a grandchild that outlives it). /proc/PID/cmdline is NUL-separated.
datadir_pids() {
    local f pid
    for f in /proc/[0-9]*/cmdline; do
        pid="${f#/proc/}"
        pid="${pid%/cmdline}"
        grep -qzxF -- "--datadir=$MY_TMP/data" "$f" 2>/dev/null && echo "$pid"
    done
    return 0
}

# TERM them, wait up to 30 s, then KILL (they are ours: they name our temp dir).
stop_leftovers() {
    local pids i
    pids="$(datadir_pids)"
    [[ -n "$pids" ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 300; i++)); do
        [[ -n "$(datadir_pids)" ]] || return 0
        sleep 0.1
    done
    pids="$(datadir_pids)"
    # shellcheck disable=SC2086
    [[ -z "$pids" ]] || kill -KILL $pids 2>/dev/null || true
    sleep 0.2
}

cleanup() {
    stop_server
    if [[ -n "$MY_TMP" && -d "$MY_TMP" ]]; then
        stop_leftovers
        rm -rf -- "$MY_TMP" || say "warning: could not remove the throwaway server's temp dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# First executable among the arguments (names looked up on PATH, then in the usual
# directories, which a non-root PATH often lacks).
find_exe() {
    local name dir
    for name in "$@"; do
        if command -v "$name" >/dev/null 2>&1; then
            command -v "$name"
            return 0
        fi
        for dir in /usr/sbin /usr/libexec /usr/bin /usr/local/sbin /usr/local/bin; do
            if [[ -x "$dir/$name" ]]; then
                echo "$dir/$name"
                return 0
            fi
        done
    done
    return 1
}

# Set MY_SERVER and MY_INSTALL_DB (MariaDB's; Oracle MySQL has no install-db).
find_mariadb_bins() {
    MY_SERVER="$(find_exe mariadbd mysqld)" || return 1
    "$MY_SERVER" --version 2>/dev/null | grep -q MariaDB || return 1
    MY_INSTALL_DB="$(find_exe mariadb-install-db mysql_install_db)" || return 1
}

show_log() {
    if [[ -s "$MY_TMP/mysqld.err" ]]; then
        say "server log (tail):"
        tail -n 30 "$MY_TMP/mysqld.err" >&2 || true
    fi
}

# Start a throwaway server; on success set URL. Called in an `if`, where
# set -e is inactive, so every step checks its own status.
start_throwaway() {
    local port i as_root=()

    if ! find_mariadb_bins || ! find_client; then
        apt_install mariadb-server "mariadbd/mariadb-install-db/mariadb" || return 1
        if ! find_mariadb_bins || ! find_client; then
            say "mariadbd/mariadb-install-db/mariadb still not found after installing"
            return 1
        fi
    fi
    # mariadbd refuses to run as root unless told to; running as root keeps the temp
    # dir (and a TMPDIR below /root) usable without handing it to the mysql user.
    if is_root; then as_root=(--user=root); fi
    port="$(free_port)" || { say "could not find a free loopback port"; return 1; }

    MY_TMP="$(mktemp -d "${TMPDIR:-/tmp}/waypost-my.XXXXXX")" || { MY_TMP=""; return 1; }
    if (( ${#MY_TMP} > 90 )); then
        # A unix socket path must stay below 108 bytes.
        rm -rf -- "$MY_TMP"
        MY_TMP="$(mktemp -d /tmp/waypost-my.XXXXXX)" || { MY_TMP=""; return 1; }
    fi

    if ! "$MY_INSTALL_DB" --no-defaults --datadir="$MY_TMP/data" "${as_root[@]}" \
            --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve \
            >"$MY_TMP/install-db.log" 2>&1; then
        say "mariadb-install-db failed:"
        cat "$MY_TMP/install-db.log" >&2 || true
        return 1
    fi
    # Character set and collation as Debian's packaged server has them (MariaDB's own
    # default is latin1); commits are flushed to the OS, fsynced once a second.
    "$MY_SERVER" --no-defaults --datadir="$MY_TMP/data" --port="$port" \
        --bind-address=127.0.0.1 --socket="$MY_TMP/mysqld.sock" \
        --pid-file="$MY_TMP/mysqld.pid" --log-error="$MY_TMP/mysqld.err" \
        "${as_root[@]}" --skip-name-resolve \
        --character-set-server=utf8mb4 --collation-server=utf8mb4_general_ci \
        --innodb-flush-log-at-trx-commit=2 \
        </dev/null >"$MY_TMP/mysqld.out" 2>&1 &
    MY_PID=$!

    URL="mysql://root@127.0.0.1:$port/test"
    for ((i = 0; i < 600; i++)); do   # up to 60 s
        # Ours, not another server that took the port meanwhile: it names our socket.
        if [[ "$(my_sql "mysql://root@127.0.0.1:$port" "" 'select @@socket' 2>/dev/null)" == "$MY_TMP/mysqld.sock" ]]; then
            MY_READY=1
            break
        fi
        if ! server_alive; then
            say "mariadbd exited during startup:"
            cat "$MY_TMP/mysqld.out" >&2 || true
            show_log
            return 1
        fi
        sleep 0.1
    done
    if [[ -z "$MY_READY" ]]; then
        say "the throwaway server did not answer within 60 s"
        show_log
        return 1
    fi
    if ! my_sql "$URL" "" 'CREATE DATABASE test' >/dev/null || ! reachable "$URL"; then
        say "throwaway server started but does not answer at $URL"
        return 1
    fi
}

# ------------------------------------------------------------ choose one ---
URL=""
if [[ -n "${WAYPOST_TEST_MYSQL_URL:-}" ]]; then
    if [[ -z "$MY_CLIENT" ]]; then
        say "error: mariadb (or mysql) client not found; cannot check WAYPOST_TEST_MYSQL_URL"
        exit 1
    fi
    if ! reachable "$WAYPOST_TEST_MYSQL_URL"; then
        say "error: WAYPOST_TEST_MYSQL_URL is set but no MySQL/MariaDB server answers there"
        exit 1
    fi
    URL="$WAYPOST_TEST_MYSQL_URL"
    # Echo the URL only if it is password-less and on loopback; otherwise it
    # may carry a secret or name another host.
    if loopback_url '(mysql|mariadb)' "$URL"; then
        say "using MySQL server $URL (from WAYPOST_TEST_MYSQL_URL)"
    else
        say "using the MySQL server given in WAYPOST_TEST_MYSQL_URL"
    fi
elif reachable_creating_database "$LOCAL_URL"; then
    URL="$LOCAL_URL"
    say "using local MySQL server $URL"
elif [[ -z "$URL_ONLY" ]] && start_throwaway; then
    say "using throwaway MariaDB server $URL (removed afterwards)"
else
    # Tear down a half-started server now rather than after CMD.
    cleanup
    MY_TMP="" URL=""
    if [[ "${CI:-}" == "true" ]]; then
        say "error: no MySQL/MariaDB server available and none could be started;" \
            "MySQL suites must not be skipped under CI"
        exit 1
    fi
    say "warning: no MySQL/MariaDB server available; MySQL tests will be skipped"
fi

if [[ -n "$URL_ONLY" ]]; then
    [[ -n "$URL" ]] && printf '%s\n' "$URL"
    [[ -n "$URL" ]]
    exit
fi
if [[ -n "$URL" ]]; then
    export WAYPOST_TEST_MYSQL_URL="$URL"
else
    unset WAYPOST_TEST_MYSQL_URL
fi

# Run CMD as a child (not exec) so the EXIT trap can clean up afterwards.
status=0
"$@" || status=$?
exit "$status"

# shellcheck shell=bash disable=SC2034  # PG_BIN is read by the scripts that source this
# Shell functions shared by the test-server scripts in tests/support (with-postgres.sh,
# pg-throwaway.sh, with-mysql.sh). Sourced, never run:
#
#   readonly ME="name.sh"     # before sourcing: say() prefixes every message with it
#   . "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
#
# Defines only functions (and PG_BIN, set by find_pg_bin); sourcing it runs nothing.
# Messages go to stderr; only functions that "print" something write to stdout.

# Message to stderr, prefixed with the calling script's name ($ME).
say() { printf '%s: %s\n' "${ME:-tests/support}" "$*" >&2; }

is_root() { [[ "$(id -u)" -eq 0 ]]; }

# Print a free TCP port on 127.0.0.1 (python3, else random high ports probed through
# bash's /dev/tcp until one refuses connections).
free_port() {
    local p i
    if command -v python3 >/dev/null 2>&1; then
        python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()' && return 0
    fi
    for ((i = 0; i < 50; i++)); do
        p=$(( 20000 + (RANDOM * 32768 + RANDOM) % 40000 ))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

# apt_install PACKAGE WHAT: install a Debian package because WHAT (e.g. "initdb/pg_ctl")
# is missing; only as root with apt-get, otherwise say why not and fail.
apt_install() {
    local package="$1" what="$2"
    if ! is_root || ! command -v apt-get >/dev/null 2>&1; then
        say "$what not found (not installing: needs root and apt-get)"
        return 1
    fi
    say "$what not found; installing the Debian package $package"
    apt-get update -qq >&2 || { say "apt-get update failed"; return 1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$package" >&2 ||
        { say "installing $package failed"; return 1; }
}

# loopback_url SCHEME_REGEX URL: exit 0 if URL is password-less and on loopback, so it
# may be echoed (any other URL may carry a secret or name another host).
loopback_url() {
    [[ "$2" =~ ^$1://[A-Za-z0-9_.-]+@(127\.0\.0\.1|localhost|\[::1\])(:[0-9]+)?(/[A-Za-z0-9_.-]*)?$ ]]
}

# ------------------------------------------------------------ PostgreSQL ---
PG_BIN="" # directory holding initdb and pg_ctl, set by find_pg_bin

# Set PG_BIN to a directory containing both initdb and pg_ctl: the one they live in when
# both are on PATH (resolving symlinks such as /usr/local/bin/initdb), else the newest
# /usr/lib/postgresql/*/bin.
find_pg_bin() {
    local initdb pg_ctl d
    initdb="$(command -v initdb 2>/dev/null || true)"
    pg_ctl="$(command -v pg_ctl 2>/dev/null || true)"
    if [[ -n "$initdb" && -n "$pg_ctl" ]]; then
        initdb="$(readlink -f -- "$initdb")"
        pg_ctl="$(readlink -f -- "$pg_ctl")"
        if [[ "$(dirname -- "$initdb")" == "$(dirname -- "$pg_ctl")" ]]; then
            PG_BIN="$(dirname -- "$initdb")"
            return 0
        fi
    fi
    # Newest versioned install first (sort -V so that 10 > 9).
    while IFS= read -r d; do
        if [[ -x "$d/initdb" && -x "$d/pg_ctl" ]]; then
            PG_BIN="$d"
            return 0
        fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -rV)
    return 1
}

# as_pg DIR CMD [ARGS...]: run a PostgreSQL server binary in DIR; as root, as the
# postgres user (initdb and pg_ctl refuse to run as root). The cd means the postgres
# user never needs access to the caller's working directory.
as_pg() {
    local dir="$1"
    shift
    if is_root; then
        (cd "$dir" && runuser -u postgres -- "$@")
    else
        (cd "$dir" && "$@")
    fi
}

# pg_temp_dir PREFIX: print a new temp dir for a cluster (TMPDIR, else /tmp); as root it
# belongs to the postgres user and, when TMPDIR is unreachable for that user (e.g. below
# /root), is made in /tmp instead. Removes what it made when it fails.
pg_temp_dir() {
    local dir
    dir="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")" || return 1
    if is_root; then
        chown postgres: "$dir" || { rm -rf -- "$dir"; return 1; }
        if ! runuser -u postgres -- test -w "$dir"; then
            rm -rf -- "$dir"
            dir="$(mktemp -d "/tmp/$1.XXXXXX")" || return 1
            chown postgres: "$dir" || { rm -rf -- "$dir"; return 1; }
        fi
    fi
    printf '%s\n' "$dir"
}

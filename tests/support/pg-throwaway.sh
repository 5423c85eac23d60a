#!/usr/bin/env bash
# A throwaway PostgreSQL cluster of a test's own, which the test may restart or stop
# (the server-fault tests: core/tests/restarts.rs, tests/python/test_restarts.py,
# tests/node/restarts.test.mjs). Never touches any other server.
#
# Usage:
#   pg-throwaway.sh check                 exit 0 if a cluster can be made here; else
#                                          print why and exit 3 (the caller skips, or
#                                          fails under CI=true)
#   pg-throwaway.sh create                initdb into a new temp dir, pick a free
#                                          loopback port, start; prints "DIR PORT"
#   pg-throwaway.sh create-tls            the same with ssl=on and a CA made for it (see
#                                          below); prints "DIR PORT"
#   pg-throwaway.sh start DIR             start it again (same port)
#   pg-throwaway.sh stop DIR [MODE]       stop it (pg_ctl -m MODE, default fast)
#   pg-throwaway.sh restart DIR [MODE]    pg_ctl restart -m MODE (default fast), same port
#   pg-throwaway.sh destroy DIR           stop it if running and remove DIR
#
# The cluster: trust auth, user postgres, listen_addresses=127.0.0.1, its socket in DIR,
# fsync off. With create-tls, DIR/tls holds a CA made here (ca.pem), the server's
# certificate from it (server.pem, naming DNS:localhost only, so that 127.0.0.1 is a wrong
# host name), a second, unrelated CA (other-ca.pem), and a client certificate and key
# (client.pem, client.key) for the role waypost_cert, which may log in over TLS with that
# certificate only (pg_hba `cert`). Its port and settings are in DIR/data/postgresql.conf, so every start and
# restart keeps the port. As root, initdb and pg_ctl run as the `postgres` user
# (`runuser -u postgres --`), and DIR is made accessible to it. initdb and pg_ctl come
# from PATH or the newest /usr/lib/postgresql/*/bin. Progress goes to stderr; only
# `create` writes to stdout. Shared helpers (find_pg_bin, as_pg, free_port, ...) are in
# tests/support/lib.sh.
set -euo pipefail

readonly ME="pg-throwaway.sh"
# shellcheck source=SCRIPTDIR/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

# Why no cluster can be made here (empty when one can).
problem() {
    if ! find_pg_bin; then
        echo "initdb/pg_ctl not found (PATH, /usr/lib/postgresql/*/bin)"
    elif ! command -v python3 >/dev/null 2>&1; then
        echo "python3 not found (needed to pick a free port)"
    elif is_root && ! command -v runuser >/dev/null 2>&1; then
        echo "running as root but runuser is missing"
    elif is_root && ! id -u postgres >/dev/null 2>&1; then
        echo "running as root but there is no postgres user"
    fi
}

show_log() {
    local dir="$1"
    if [[ -s "$dir/log" ]]; then
        say "server log (tail):"
        tail -n 30 "$dir/log" >&2 || true
    fi
}

pg_ctl_in() {
    local dir="$1"
    shift
    if ! as_pg "$dir" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 "$@" >"$dir/pg_ctl.out" 2>&1; then
        say "pg_ctl $* failed:"
        cat "$dir/pg_ctl.out" >&2 || true
        show_log "$dir"
        return 1
    fi
}

need_dir() {
    [[ -n "${1:-}" && -d "$1/data" ]] || { say "not a throwaway cluster: ${1:-<missing DIR>}"; exit 2; }
}

# make_tls DIR: the CAs and certificates of create-tls, in DIR/tls (P-256 keys, 2 days).
make_tls() {
    local t="$1/tls" days=2 ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    mkdir -p "$t"
    (
        cd "$t"
        for ca in ca other-ca; do
            openssl req -x509 "${ec[@]}" -keyout "$ca.key" -out "$ca.pem" -days "$days" -subj "/CN=waypost test $ca" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
        done
        sign() { # NAME CN EXTENSIONS
            openssl req "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "/CN=$2"
            printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=critical,digitalSignature" "$3" >"$1.ext"
            openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
                -extfile "$1.ext" -out "$1.pem"
        }
        sign server localhost $'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth'
        sign client waypost_cert "extendedKeyUsage=clientAuth"
        chmod 600 ./*.key
    ) >"$1/openssl.log" 2>&1 || { say "openssl failed:"; cat "$1/openssl.log" >&2; return 1; }
    if is_root; then chown -R postgres "$t"; fi
}

create() {
    local why dir port tls="${1:-}"
    why="$(problem)"
    [[ -z "$why" && ( -z "$tls" || -n "$(command -v openssl)" ) ]] || { say "${why:-openssl not found}"; exit 3; }
    find_pg_bin
    dir="$(pg_temp_dir waypost-pgt)"
    if ! as_pg "$dir" "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C --no-sync \
        >"$dir/initdb.log" 2>&1; then
        say "initdb failed:"
        cat "$dir/initdb.log" >&2 || true
        rm -rf -- "$dir"
        exit 1
    fi
    port="$(free_port)"
    as_pg "$dir" sh -c "cat >> '$dir/data/postgresql.conf'" <<EOF
# pg-throwaway.sh
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
fsync = off
EOF
    if [[ -n "$tls" ]]; then
        make_tls "$dir" || { rm -rf -- "$dir"; exit 1; }
        as_pg "$dir" sh -c "cat >> '$dir/data/postgresql.conf'" <<EOF
ssl = on
ssl_cert_file = '$dir/tls/server.pem'
ssl_key_file = '$dir/tls/server.key'
ssl_ca_file = '$dir/tls/ca.pem'
EOF
        as_pg "$dir" sh -c "{ echo 'hostssl all waypost_cert 127.0.0.1/32 cert'; echo 'host all waypost_cert all reject'; \
            cat '$dir/data/pg_hba.conf'; } > '$dir/hba' && mv '$dir/hba' '$dir/data/pg_hba.conf'"
    fi
    if ! pg_ctl_in "$dir" start; then
        rm -rf -- "$dir"
        exit 1
    fi
    if [[ -n "$tls" ]] && ! "$PG_BIN/psql" -X -q -h "$dir" -p "$port" -U postgres -d postgres \
        -c "CREATE ROLE waypost_cert LOGIN SUPERUSER" >"$dir/psql.log" 2>&1; then
        say "could not create the role waypost_cert:"
        cat "$dir/psql.log" >&2
        destroy "$dir"
        exit 1
    fi
    echo "$dir $port"
}

destroy() {
    local dir="$1"
    [[ -n "$dir" && -d "$dir" ]] || return 0
    if [[ -f "$dir/data/postmaster.pid" ]] && find_pg_bin; then
        as_pg "$dir" "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null 2>&1 ||
            say "warning: could not stop the cluster in $dir"
    fi
    rm -rf -- "$dir"
}

case "${1:-}" in
    check)
        why="$(problem)"
        [[ -z "$why" ]] || { echo "$why"; exit 3; }
        ;;
    create) create ;;
    create-tls) create tls ;;
    start)
        need_dir "${2:-}"
        find_pg_bin
        pg_ctl_in "$2" start
        ;;
    stop)
        need_dir "${2:-}"
        find_pg_bin
        pg_ctl_in "$2" -m "${3:-fast}" stop
        ;;
    restart)
        need_dir "${2:-}"
        find_pg_bin
        pg_ctl_in "$2" -m "${3:-fast}" restart
        ;;
    destroy) destroy "${2:-}" ;;
    *)
        say "usage: $ME check | create | create-tls | start DIR | stop DIR [MODE] | restart DIR [MODE] | destroy DIR"
        exit 2
        ;;
esac

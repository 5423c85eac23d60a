#!/usr/bin/env bash
# The Python extension links the system's shared libsqlite3 (the one CPython's sqlite3
# module loads), so building it needs the library's development files. As root it
# installs Debian's libsqlite3-dev when they are missing; otherwise it says what to run.
set -euo pipefail
if pkg-config --exists sqlite3 2>/dev/null || [ -e /usr/lib/x86_64-linux-gnu/libsqlite3.so ] || [ -e /usr/lib/libsqlite3.so ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-libsqlite3: installing Debian's libsqlite3-dev for the Python extension"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libsqlite3-dev pkg-config >/dev/null
else
  echo "ensure-libsqlite3: libsqlite3's development files are missing; install libsqlite3-dev (Debian) or sqlite-devel" >&2
  exit 1
fi

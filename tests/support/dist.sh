#!/usr/bin/env bash
# make dist: the artifacts users install, written to dist/.
#   waypost-<v>-cp310-abi3-manylinux_<glibc>_x86_64.whl  the Python package (release build),
#       tagged by auditwheel; libsqlite3.so.0 is left to the system on purpose (below)
#   waypost-<v>.tar.gz                                   the Python sdist (pip install builds it)
#   waypost_cli-<v>-py3-none-manylinux_<glibc>_x86_64.whl the operator CLI, a native executable
#       (`pip install 'waypost[cli]'`), kept out of the library's wheel; its own SQLite
#   waypost_cli-<v>.tar.gz                               its sdist
#   waypost-<v>.tgz                                      the npm main package (JS, typings)
#   waypost-linux-x64-gnu-<v>.tgz                        its platform package (the release addon)
# The npm packages are laid out the napi-rs way: bindings-node/npm/<platform>/ holds each
# platform package; `napi artifacts` moves the addon there and `napi pre-publish` names the
# platform packages as the main package's optionalDependencies. Nothing is published.
#
# Why libsqlite3.so.0 is not vendored: the extension links the system's shared SQLite, the
# one CPython's sqlite3 module loads, so that a process holds one copy of SQLite (docs,
# "SQLite beside your own driver"). auditwheel would otherwise copy it into the wheel under
# a new name: a second copy beside sqlite3 again. Every glibc Linux that runs the wheel's
# manylinux tag ships libsqlite3.so.0 (CPython's sqlite3 module needs it); where it is
# missing, `import waypost` says what to install.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
VENV=${VENV:-.venv}
PY=$VENV/bin/python
TARGET=x86_64-unknown-linux-gnu # napi's CLI always builds for it; one release build tree for both

rm -rf dist target/dist && mkdir -p dist target/dist/wheel target/dist/npm-build
"$VENV/bin/pip" install -q --disable-pip-version-check -r bindings-python/requirements-dist.txt

echo "dist: the Python wheel (release)"
VIRTUAL_ENV=$PWD/$VENV "$VENV/bin/maturin" build -q --release --strip --target "$TARGET" \
  --auditwheel skip -i "$PY" -o target/dist/wheel
PATH="$ROOT/$VENV/bin:$PATH" "$VENV/bin/auditwheel" repair -w dist --exclude libsqlite3.so.0 target/dist/wheel/waypost-*.whl
echo "dist: the Python sdist"
"$VENV/bin/maturin" sdist -o dist
echo "dist: the CLI's wheel (release) and sdist"
VIRTUAL_ENV=$PWD/$VENV "$VENV/bin/maturin" build -q --release --strip --target "$TARGET" \
  -m cli/Cargo.toml -o dist
"$VENV/bin/maturin" sdist -m cli/Cargo.toml -o dist

echo "dist: the npm packages (release addon)"
NAPI=$PWD/bindings-node/node_modules/.bin/napi
stage=target/dist/npm
rm -rf "$stage" && mkdir -p "$stage"
(cd bindings-node && "$NAPI" build --platform --release --strip --no-js --dts ../target/dist/npm-build/generated.d.ts -o ../target/dist/npm-build)
cp bindings-node/package.json bindings-node/index.js bindings-node/index.d.ts \
   bindings-node/generated.js bindings-node/generated.d.ts bindings-node/README.md \
   LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.md "$stage/"
cp -r bindings-node/npm "$stage/npm"
for dir in "$stage"/npm/*/; do cp LICENSE-MIT LICENSE-APACHE THIRD-PARTY-NOTICES.md "$dir"; done
(cd "$stage" \
  && "$NAPI" artifacts -d ../npm-build --npm-dir npm \
  && "$NAPI" pre-publish -p npm -t npm --skip-optional-publish)
for dir in "$stage"/npm/*/; do (cd "$dir" && npm pack -q --pack-destination "$ROOT/dist" >/dev/null); done
(cd "$stage" && npm pack -q --ignore-scripts --pack-destination "$ROOT/dist" >/dev/null)

echo "dist: written"
ls -l dist | awk 'NR > 1 { printf "  %-58s %6.1f MB\n", $9, $5 / 1048576 }'

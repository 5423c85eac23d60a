#!/usr/bin/env bash
# Installs Debian's chromium for the dashboard test when it is missing. As root (CI and
# the project's machines) it installs; otherwise it says what to run, and the test then
# reports itself skipped (under CI=true it fails instead).
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "ensure-chromium: installing Debian's chromium for the dashboard test"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  command -v chromium >/dev/null
else
  echo "ensure-chromium: chromium is missing; install Debian's chromium package to run the dashboard test"
fi

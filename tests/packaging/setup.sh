#!/usr/bin/env bash
# Installs what the packaging harness needs, skipping whatever is already there: its npm
# packages (Deno, Bun, Miniflare/workerd, Wrangler, Vite, webpack, Playwright's driver,
# publint, attw, TypeScript, the openai client; tests/packaging/package-lock.json) and
# Debian's Chromium (Playwright's own browser download does not work on this machine).
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "packaging setup: installing the harness's npm packages"
  bash ../../scripts/npm-ci.sh
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "packaging setup: installing Debian's chromium"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

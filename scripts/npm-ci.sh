#!/usr/bin/env bash
# `npm ci` in the current directory, tried up to three times: a registry that drops one
# connection should not fail a whole CI run. Each failure prints the end of npm's own log,
# since npm's console output may name only the log's path, and the free disk space.
set -uo pipefail
for try in 1 2 3; do
  if npm ci --no-audit --no-fund --loglevel=error; then
    exit 0
  fi
  log=$(ls -t "${npm_config_cache:-$HOME/.npm}"/_logs/*-debug-0.log 2>/dev/null | head -1)
  echo "npm ci failed (try $try of 3) in $PWD${log:+; the end of $log:}" >&2
  [ -n "$log" ] && grep -E ' error |verbose (code|reason|errno|syscall)' "$log" | tail -15 >&2
  df -h . >&2 || true
  [ "$try" -lt 3 ] && sleep $((try * 10))
done
exit 1

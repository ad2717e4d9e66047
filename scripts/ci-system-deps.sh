#!/usr/bin/env bash
# System packages some tests use, installed when missing. Never fails: the tests that need a
# package skip with a reason when it is absent (redis-server: the Redis cache tests; chromium: the
# browser test of `recsmith app`, driven by Playwright, which never downloads a browser of its own;
# wrk: only the optional closed-loop run of benchmarks/serve_load.py).
#   bash scripts/ci-system-deps.sh
set -u
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ci-system-deps: ${missing[*]} missing and apt-get not usable as root; the tests needing them will skip" >&2
    exit 0
fi
echo "ci-system-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1 \
    || echo "ci-system-deps: could not install ${missing[*]}; the tests needing them will skip" >&2
# Debian's package may start a system-wide redis-server; the tests start their own on a free port
exit 0

#!/bin/sh
# Debian's chromium, for the browser tests (tests/browser): the drill page is tested in a real headless
# browser. Present: nothing to do. Missing: as root with apt-get it is installed from Debian (said aloud,
# never silently); otherwise this says what to run and exits non-zero.
# The Makefile's test target calls it; EDGELAB_CHROMIUM=skip leaves the host alone (the browser tests then
# skip, or fail under EDGELAB_REQUIRE_E2E=1).
set -eu

if command -v chromium >/dev/null 2>&1; then
    exit 0
fi
if [ "${EDGELAB_CHROMIUM:-}" = skip ]; then
    echo "ensure-chromium: chromium is missing and EDGELAB_CHROMIUM=skip: the browser tests will not run" >&2
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: installing Debian's chromium for the browser tests (apt-get install -y --no-install-recommends chromium: no daemons)" >&2
    export DEBIAN_FRONTEND=noninteractive
    # Package lists may be missing or stale on a fresh machine: update once, only if the first try fails.
    apt-get install -y -q --no-install-recommends chromium >/dev/null || { apt-get update -q && apt-get install -y -q --no-install-recommends chromium >/dev/null; }
    command -v chromium >/dev/null 2>&1 && exit 0
    echo "ensure-chromium: apt-get finished but there is no chromium on PATH" >&2
    exit 1
fi
echo "ensure-chromium: chromium is missing and the browser tests need it." >&2
echo "  On Debian/Ubuntu, as root: apt-get install -y --no-install-recommends chromium   (or run this script as root)" >&2
echo "  Or set EDGELAB_CHROMIUM=skip to leave the host alone (the browser tests then skip)." >&2
exit 1

#!/usr/bin/env bash
# Installs everything the product and its tests need on a fresh Debian machine with
# Python 3.11: Debian packages (apt, only when missing) and a venv with the package.
# Idempotent; `make dev` and `make test` call it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# Debian packages, each installed only when its command is missing (one apt-get update):
# redis-server for the hot tier; prometheus (promtool), docker-compose and logrotate for
# the checks of deploy/ and docker-compose.yml (tests/deploy); chromium for rendering
# /docs offline (tests/api/test_docs.py, through playwright, which downloads no browser);
# faketime for executors whose clock is off (tests/hot/test_clock_skew.py).
APT_PACKAGES=()
need() {  # need COMMAND PACKAGE
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$1" ]; then
        APT_PACKAGES+=("$2")
    fi
}
need redis-server redis-server
need promtool prometheus
need docker-compose docker-compose
need logrotate logrotate
need chromium chromium
need faketime faketime
if [ ${#APT_PACKAGES[@]} -gt 0 ]; then
    echo "bootstrap: installing ${APT_PACKAGES[*]} with apt-get" >&2
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${APT_PACKAGES[@]}" >/dev/null
fi

if ! "$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 11) else 1)'; then
    echo "bootstrap: Python >= 3.11 is required, $("$PYTHON" --version) found" >&2
    exit 1
fi

if [ ! -x "$VENV/bin/python" ]; then
    echo "bootstrap: creating $VENV" >&2
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[dev,embedded]'
touch "$VENV/.installed"

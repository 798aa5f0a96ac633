#!/usr/bin/env bash
# Creates .venv (once) and installs rl_platform with torch pinned to the CPU build (constraints.txt).
# Usage: scripts/setup.sh [EXTRAS]   e.g. `dev,ray` for the tests, `bench` for the benchmark peers;
# no EXTRAS: what training needs. Each set of extras is installed once (a stamp per set and config).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".venv"
extras="${1:-}"
label="${extras:-base}"
label="${label//,/-}"
stamp="$venv/.installed-$label-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
quiet_pip() {  # pip warns about every optional local index it does not find; keep real errors
    PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
}
if [ ! -f "$stamp" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    echo "setting up $venv${extras:+ with extras [$extras]} (first time only)..."
    quiet_pip --upgrade pip
    quiet_pip -c constraints.txt "torch==2.13.0"
    quiet_pip -c constraints.txt -e ".${extras:+[$extras]}"
    rm -f "$venv/.installed-$label-"*
    touch "$stamp"
fi

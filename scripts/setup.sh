#!/usr/bin/env bash
# Creates .venv (once) and installs rl_platform with its dev and bench extras, torch pinned to the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".venv"
stamp="$venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
quiet_pip() {  # pip warns about every optional local index it does not find; keep real errors
    PYTHONWARNINGS=ignore "$venv/bin/python" -m pip install -q --disable-pip-version-check "$@" 2>&1 | { grep -v "^WARNING: Location" || true; }
}
if [ ! -f "$stamp" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    echo "setting up $venv (first time only)..."
    quiet_pip --upgrade pip
    quiet_pip -c constraints.txt "torch==2.13.0"
    quiet_pip -c constraints.txt -e ".[dev,bench,ray]"
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi

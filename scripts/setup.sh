#!/usr/bin/env bash
# Creates .venv (once) and installs rl_platform with its dev and bench extras, torch pinned to the CPU build.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=".venv"
stamp="$venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -c constraints.txt "torch==2.13.0"
    "$venv/bin/python" -m pip install -q -c constraints.txt -e ".[dev,bench]"
    rm -f "$venv"/.installed-*
    touch "$stamp"
fi

#!/usr/bin/env bash
# Creates the separate virtual env for the `imitation` library peer of benchmarks/imitation.py.
#
# imitation 1.0.1 pins gymnasium ~=0.29 and stable-baselines3 ~=2.2.1, which clash with the
# project's own .venv, so the peer lives in its own venv and is run as a subprocess
# (benchmarks/imitation_peer.py, which imports nothing from rl_platform).
#
# Usage: bash benchmarks/setup_imitation_peer.sh [VENV_DIR]   (default: .venv-imitation in the repo root)
#        bash benchmarks/setup_imitation_peer.sh [VENV_DIR] --freeze   (also rewrites the requirements file)
#
# Without --freeze it installs exactly the versions recorded in
# benchmarks/requirements-imitation-peer.txt (when that file exists); with --freeze it lets pip resolve
# imitation==1.0.1 afresh and records the result there.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv_dir="${1:-$repo_root/.venv-imitation}"
mode="${2:-}"
requirements="$repo_root/benchmarks/requirements-imitation-peer.txt"
python_bin="${PYTHON:-python3.11}"

"$python_bin" -m venv "$venv_dir"
pip=("$venv_dir/bin/python" -m pip install --quiet)

# torch first, pinned: an unpinned torch resolves to the CUDA build from PyPI.
"${pip[@]}" "torch==2.13.0"

if [[ "$mode" != "--freeze" && -f "$requirements" ]]; then
    "${pip[@]}" -r "$requirements"
else
    # numpy<2 keeps the numpy (1.26.4) that the recorded peer figures were measured with; without it pip
    # resolves numpy 2.4.6, which also runs (GAIL seed 2 gave the same first two evals).
    "${pip[@]}" "imitation==1.0.1" "seals==0.2.1" "numpy<2"
    {
        echo "# The imitation peer's venv (benchmarks/setup_imitation_peer.sh --freeze): pip freeze, torch pinned"
        echo "# to 2.13.0 (the CPU build, 2.13.0+cpu); $("$venv_dir/bin/python" --version)."
        "$venv_dir/bin/python" -m pip freeze --exclude-editable | sed 's/^torch==.*/torch==2.13.0/'
    } > "$requirements"
fi

"$venv_dir/bin/python" -c "import imitation, seals, stable_baselines3, gymnasium, torch; \
print('imitation', imitation.__version__, 'sb3', stable_baselines3.__version__, \
'gymnasium', gymnasium.__version__, 'torch', torch.__version__)"

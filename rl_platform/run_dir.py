"""Run directories: a unique folder per run, never shared, continued only by `--resume`.

A run's folder holds `config.yaml` (the resolved config), `run.json` (how it was started and every
resume), TensorBoard event files, `checkpoints/` (`latest.pt`, `best.pt`) and `metrics.json`.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import re
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rl_platform.errors import ConfigError, UserError

CHECKPOINT_FILE = "latest.pt"
BEST_CHECKPOINT_FILE = "best.pt"
BUFFER_FILE = "replay.pt"
RUN_INFO_FILE = "run.json"
METRICS_FILE = "metrics.json"
MAX_SUFFIX_CHARS = 60
CHECKPOINTS = {"best": BEST_CHECKPOINT_FILE, "last": CHECKPOINT_FILE}


def run_checkpoint(run_dir: str | Path, which: str = "best") -> tuple[str, Path]:
    """(`which` checkpoint it is, its path) of a run: `best` is checkpoints/best.pt, falling back to `last`
    (latest.pt) for a run without one (written before best checkpoints existed). The path may not exist."""
    checkpoints = Path(run_dir) / "checkpoints"
    if which == "best" and not (checkpoints / BEST_CHECKPOINT_FILE).is_file():
        which = "last"
    return which, checkpoints / CHECKPOINTS[which]

# Keys a resumed run may change: how long it trains, how it evaluates, checkpoints and logs. Anything else
# (an agent's hyperparameters, the env, the model) was baked into the checkpoint and its optimizer state.
RESUME_SAFE_KEYS = (
    "train.total_steps", "train.eval_every", "train.eval_episodes", "train.stop_return",
    "train.stop_confirm_episodes", "train.checkpoint_every", "train.save_buffer", "train.device",
    "train.torch_threads", "log.log_every",
)
# Overrides left out of a run's name: shown elsewhere in it (seed, agent), or budgets and logging rather than the
# experiment (train.*, log.*). Every override is recorded in run.json.
_UNNAMED_OVERRIDES = re.compile(r"^(seed|agent|agent\.name|train\..*|log\..*)$")


def overrides_suffix(overrides: Sequence[str]) -> str:
    """`lr=1e-4,num_envs=16` for `agent.lr=1e-4 env.num_envs=16`: the last key part and the value as typed,
    in a form safe for a folder name; long suffixes are cut and end in a hash of the whole."""
    parts = []
    for item in overrides:
        key, _, value = item.partition("=")
        if _UNNAMED_OVERRIDES.match(key):
            continue
        value = re.sub(r"\s+", "", value).strip("[](){}").replace(",", "-")  # [32, 32] -> 32-32
        parts.append(f"{key.rsplit('.', 1)[-1]}={value}")
    suffix = re.sub(r"[^A-Za-z0-9._=+,-]", "-", ",".join(parts))
    if len(suffix) > MAX_SUFFIX_CHARS:
        digest = hashlib.sha1(suffix.encode()).hexdigest()[:8]
        suffix = f"{suffix[:MAX_SUFFIX_CHARS - 9]}-{digest}"
    return suffix


def run_dir_name(env_id: str, agent_label: str, seed: int, overrides: Sequence[str] = ()) -> str:
    """`<env>__<agent>__<seed>__<YYYYmmdd-HHMMSS>[__<overrides>]`."""
    env = env_id.replace("/", "-").replace(":", "-")
    name = f"{env}__{agent_label}__{seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    suffix = overrides_suffix(overrides)
    return f"{name}__{suffix}" if suffix else name


def create_unique_dir(parent: Path, name: str) -> Path:
    """Create `parent/name`, or `name-2`, `name-3`, ... if taken: mkdir is atomic, so runs started in the
    same second (in other processes too) never get the same folder."""
    parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, 10_000):
        path = parent / (name if attempt == 1 else f"{name}-{attempt}")
        try:
            path.mkdir()
        except FileExistsError:
            continue
        return path
    raise UserError(f"cannot create a run directory under {parent}: too many runs named {name}.")


def is_run_dir(path: Path) -> bool:
    return (path / "config.yaml").is_file()


def claim_run_dir(path: Path, overwrite: bool) -> bool:
    """Make `path` (from `--run-dir`) ready for a new run; True if it was created here.

    An existing non-empty folder is refused: `--resume` continues a run, `--overwrite` replaces a run (only a
    folder that is a run directory, so a mistyped path cannot delete other files)."""
    if not path.exists():
        path.mkdir(parents=True)
        return True
    if not path.is_dir():
        raise UserError(f"--run-dir {path} exists and is not a directory.")
    if not any(path.iterdir()):
        return False
    if not is_run_dir(path):
        raise UserError(f"--run-dir {path} is not empty and holds no run (no config.yaml); choose another "
                        "directory.")
    if not overwrite:
        raise UserError(f"--run-dir {path} already holds a run. Continue it with `rlp train --resume {path}`, "
                        "replace it with --overwrite, or choose another directory.")
    shutil.rmtree(path)
    path.mkdir(parents=True)
    return True


def resume_changes(saved: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{key: [old, new]}` between two flat configs; a ConfigError for a key that a resume must not change."""
    changes = {key: [saved.get(key), value] for key, value in wanted.items() if saved.get(key) != value}
    for key in changes:
        if key not in RESUME_SAFE_KEYS:
            raise ConfigError(key, f"cannot be changed when resuming: the run was trained with "
                              f"{saved.get(key)!r}. Start a new run to try {wanted[key]!r}. A resume may change "
                              f"only: {', '.join(RESUME_SAFE_KEYS)}.")
    return changes


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def finished_at(run_dir: Path, checkpoint_step: int) -> dict[str, Any] | None:
    """The final metrics if the run in `run_dir` finished at `checkpoint_step` (its last checkpoint), else None."""
    metrics = read_json(run_dir / METRICS_FILE)
    if metrics is None or int(metrics.get("global_step", -1)) != checkpoint_step:
        return None
    return metrics


def record_start(run_dir: Path, overrides: Sequence[str], resumed_step: int | None,
                 changes: Mapping[str, list[Any]] | None = None) -> list[dict[str, Any]]:
    """Add this start to `run.json` (creation, or one more entry in its `resumes` list); returns the resumes."""
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    info = read_json(run_dir / RUN_INFO_FILE) or {"created": now, "overrides": list(overrides), "resumes": []}
    if resumed_step is not None:
        info["resumes"].append({"time": now, "from_step": resumed_step, "overrides": list(overrides),
                                "changed": dict(changes or {})})
    (run_dir / RUN_INFO_FILE).write_text(json.dumps(info, indent=2) + "\n")
    return info["resumes"]

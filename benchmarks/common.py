"""Small helpers shared by the benchmark scripts: machine info, JSON output and text tables."""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
"""The repository root (benchmarks/ lives directly under it)."""

DEFAULT_PACKAGES = ("rl_platform", "torch", "numpy", "gymnasium", "stable-baselines3", "numba")


def package_versions(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, str | None]:
    """Installed version of each distribution in `packages` (None where it is not installed)."""
    versions: dict[str, str | None] = {}
    for name in packages:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo where available, else `platform.processor()`."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> dict[str, Any]:
    """The commit the benchmark ran at and the tracked files that differed from it (None outside git): a
    result measured on uncommitted code says so."""
    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    changed = git("diff", "--name-only", "HEAD")
    files = None if changed is None else changed.split()
    return {"commit": git("rev-parse", "HEAD"), "dirty": None if files is None else bool(files),
            "uncommitted_files": files}


def machine_info(packages: Iterable[str] = DEFAULT_PACKAGES) -> dict[str, Any]:
    """Where and when a benchmark ran: date, commit, OS, Python, CPU, CPU counts and package versions."""
    try:
        usable_cpus: int | None = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable_cpus = None
    try:
        load_average: list[float] | None = [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        load_average = None
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        **git_commit(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cpu_count": usable_cpus,
        "load_average_at_start": load_average,
        "versions": package_versions(packages),
    }


def _json_default(value: Any) -> Any:
    """Make numpy scalars/arrays and paths JSON-serializable."""
    if hasattr(value, "tolist"):  # numpy scalar or array
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _finite_or_none(value: Any) -> Any:
    """Replace inf/nan floats (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    """Write `data` as indented JSON, atomically (via `<path>.tmp`), creating parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_finite_or_none(data), indent=2, default=_json_default) + "\n",
                   encoding="utf-8")
    tmp.replace(path)
    return path


def median(values: Sequence[float]) -> float | None:
    """Median of `values` (inf allowed, e.g. for censored runs); None when empty."""
    return statistics.median(values) if values else None


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with a header rule; cells are str()-ed, numbers right-aligned."""
    cells = [[str(c) for c in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def numeric(text: str) -> bool:
        return text.replace(".", "", 1).replace(",", "").replace("-", "", 1).isdigit()

    def line(row: Sequence[str]) -> str:
        return " | ".join(c.rjust(w) if numeric(c) else c.ljust(w)
                          for c, w in zip(row, widths, strict=True)).rstrip()

    rule = "-+-".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(row) for row in cells[1:])])

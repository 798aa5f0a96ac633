"""Packaging: top-level envs/, agents/, configs/ install as rl_platform.envs/.agents/.configs.

(a) the editable install in the test environment maps them onto the repo's folders;
(b) a regular wheel holds them under rl_platform/ (and nothing at the top level) and, installed into
    a fresh venv, imports from that venv's site-packages, outside the repo.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIRS = ("rl_platform", "envs", "agents", "configs")


def test_editable_install_maps_top_level_folders_into_rl_platform():
    import rl_platform.agents
    import rl_platform.agents.dqn
    import rl_platform.configs
    import rl_platform.envs

    assert Path(rl_platform.agents.__file__).resolve() == REPO_ROOT / "agents" / "__init__.py"
    assert Path(rl_platform.envs.__file__).resolve() == REPO_ROOT / "envs" / "__init__.py"
    assert Path(rl_platform.configs.__file__).resolve() == REPO_ROOT / "configs" / "__init__.py"
    dqn_init = REPO_ROOT / "agents" / "dqn" / "__init__.py"
    assert Path(rl_platform.agents.dqn.__file__).resolve() == dqn_init
    assert rl_platform.agents.dqn.DQNConfig.__module__ == "rl_platform.agents.dqn.dqn"


def test_top_level_folders_are_not_importable_under_their_own_names(tmp_path: Path):
    # Run from outside the repo: only the rl_platform.* names exist.
    code = ("import importlib.util as u; "
            "print([n for n in ('agents', 'envs', 'configs') if u.find_spec(n) is not None])")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, check=True, env=_env_without_pythonpath()).stdout
    assert out.strip() == "[]"


def _env_without_pythonpath() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    return env


def _source_dirs() -> set[str]:
    """The folders pyproject.toml's [tool.setuptools] package-dir maps into the package."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        return set(PACKAGE_DIRS)
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    package_dir = pyproject.get("tool", {}).get("setuptools", {}).get("package-dir", {})
    return {"rl_platform", *(path.split("/")[0] for path in package_dir.values())}


def _copy_source(dest: Path) -> Path:
    """The files a wheel is built from, without build/, egg-info or caches from the work tree."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", "dist")
    for name in sorted(_source_dirs()):
        shutil.copytree(REPO_ROOT / name, dest / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, dest / name)
    return dest


def _build_wheel(source: Path, out: Path) -> Path:
    base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)]
    proc = subprocess.run([*base[:5], "--no-build-isolation", *base[5:]], capture_output=True,
                          text=True)
    if proc.returncode != 0:  # e.g. setuptools here older than the build-system needs
        proc = subprocess.run(base, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = out.glob("rl_platform-*.whl")
    return wheel


def test_wheel_contains_subpackages_and_installs_into_a_fresh_venv(tmp_path: Path):
    wheel = _build_wheel(_copy_source(tmp_path / "src"), tmp_path / "dist")

    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("rl_platform/envs/__init__.py", "rl_platform/agents/__init__.py",
                     "rl_platform/agents/dqn/__init__.py", "rl_platform/agents/dqn/dqn.py",
                     "rl_platform/configs/dqn_cartpole.yaml", "rl_platform/cli.py"):
        assert expected in names, sorted(names)
    top_level = {name.split("/")[0] for name in names}
    stray = {"envs", "agents", "configs", "tests", "benchmarks", "scripts"}
    assert not top_level & stray, top_level
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    entry_text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "rlp = rl_platform.cli:main" in entry_text
    assert "dqn = rl_platform.agents.dqn" in entry_text

    # A fresh venv. Its --system-site-packages are the base interpreter's, which need not hold
    # numpy/torch/gymnasium, so the test environment's site-packages are appended by a .pth
    # line (a plain path: its own .pth files, such as the editable-install hook, are not run).
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True)
    python = venv / "bin" / "python"
    venv_site = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (venv_site / "_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                    "--no-index", "-q", str(wheel)], check=True, capture_output=True)

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    code = ("import rl_platform.agents.dqn, rl_platform.envs, rl_platform.configs, rl_platform; "
            "from rl_platform.config import bundled_config_path; "
            "print(rl_platform.__file__); print(rl_platform.agents.__file__); "
            "print(rl_platform.envs.__file__); print(bundled_config_path('dqn_cartpole'))")
    proc = subprocess.run([str(python), "-c", code], cwd=outside, capture_output=True, text=True,
                          env=_env_without_pythonpath())
    assert proc.returncode == 0, proc.stderr
    for line in proc.stdout.split():
        path = Path(line).resolve()
        assert path.is_relative_to(venv_site.resolve()), (path, venv_site)
        assert not path.is_relative_to(REPO_ROOT), path

    # The installed console script finds the agent (entry point) and the bundled config.
    proc = subprocess.run([str(venv / "bin" / "rlp"), "list"], cwd=outside, capture_output=True,
                          text=True, env=_env_without_pythonpath())
    assert proc.returncode == 0, proc.stderr
    assert "dqn" in proc.stdout and "dqn_cartpole.yaml" in proc.stdout


@pytest.mark.parametrize("name", PACKAGE_DIRS)
def test_package_dirs_exist(name):
    assert (REPO_ROOT / name / "__init__.py").is_file()

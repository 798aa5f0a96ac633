"""The on-disk kernel cache: fingerprints are stable across processes and change with anything compiled;
a new process loads the kernels it compiled before, and never those of a changed env."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import types
from pathlib import Path

import numba
import pytest

from rl_platform.envs.classic_control.cartpole import CARTPOLE
from rl_platform.envs.kernel import compiled_functions
from rl_platform.envs.kernel_cache import cached_njit, env_fingerprint
from rl_platform.envs.minatar import BREAKOUT, make_env_def

REPO = Path(__file__).resolve().parents[2]


def run_python(script: str, extra_env: dict[str, str], pythonpath: Path | None = None) -> dict:
    """Run `script` in a fresh interpreter of this venv; it prints one JSON object as its last line."""
    env = {key: value for key, value in os.environ.items() if key != "RLP_KERNEL_CACHE"}
    env.update(extra_env)
    if pythonpath is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(pythonpath), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def module_from_source(name: str, source: str) -> types.ModuleType:
    """A fresh module (not in sys.modules) holding `source`: same names and qualnames every time."""
    module = types.ModuleType(name)
    exec(textwrap.dedent(source), module.__dict__)  # noqa: S102  (test fixture code)
    return module


# -- fingerprints ---------------------------------------------------------------------------------

FINGERPRINT_SCRIPT = """
    import json
    from rl_platform.envs.classic_control.cartpole import CARTPOLE
    from rl_platform.envs.kernel import compiled_functions
    from rl_platform.envs.kernel_cache import env_fingerprint
    print(json.dumps({"fingerprint": env_fingerprint(compiled_functions(CARTPOLE))}))
"""


def test_fingerprint_is_the_same_in_fresh_processes_whatever_the_hash_seed():
    first = run_python(FINGERPRINT_SCRIPT, {"PYTHONHASHSEED": "1"})["fingerprint"]
    second = run_python(FINGERPRINT_SCRIPT, {"PYTHONHASHSEED": "2"})["fingerprint"]
    assert first is not None
    assert first == second == env_fingerprint(compiled_functions(CARTPOLE))


def test_fingerprint_differs_between_envs():
    breakout = make_env_def(BREAKOUT)
    assert env_fingerprint(CARTPOLE.functions) != env_fingerprint(breakout.functions)


STEP_SOURCE = """
    import numba
    import tiny_consts

    SCALE = 1.0

    @numba.njit(inline="always")
    def helper(x):
        return x + 1.0

    def step_one(state, action, params, rng):
        state[0] = helper(state[0]) * SCALE + tiny_consts.OFFSET
        return SCALE, False
"""


def step_module(source: str = STEP_SOURCE) -> types.ModuleType:
    consts = module_from_source("tiny_consts", "OFFSET = 0.5")
    module = types.ModuleType("tiny_step")
    module.__dict__["tiny_consts"] = consts  # as `import tiny_consts` would bind it
    exec(textwrap.dedent(source).replace("import tiny_consts\n", ""), module.__dict__)  # noqa: S102
    return module


def test_fingerprint_is_the_same_for_the_same_source_in_another_module_object():
    assert env_fingerprint([step_module().step_one]) == env_fingerprint([step_module().step_one])


def test_fingerprint_changes_with_a_module_level_constant():
    module = step_module()
    before = env_fingerprint([module.step_one])
    module.SCALE = 2.0
    assert env_fingerprint([module.step_one]) != before
    module.SCALE = 1  # same value, other type: Numba types it differently
    assert env_fingerprint([module.step_one]) not in (before, None)


def test_fingerprint_changes_with_a_constant_read_from_another_module():
    module = step_module()
    before = env_fingerprint([module.step_one])
    module.tiny_consts.OFFSET = 0.25
    assert env_fingerprint([module.step_one]) != before


def test_fingerprint_changes_with_the_code_of_a_called_njit_helper():
    before = env_fingerprint([step_module().step_one])
    changed = step_module(STEP_SOURCE.replace("return x + 1.0", "return x + 2.0"))
    assert env_fingerprint([changed.step_one]) != before


def test_fingerprint_changes_with_a_closure_cell_value():
    def make_step(reward: float):
        def step_one(state, action, params, rng):
            return reward, False
        return step_one

    assert env_fingerprint([make_step(1.0)]) == env_fingerprint([make_step(1.0)])
    assert env_fingerprint([make_step(1.0)]) != env_fingerprint([make_step(2.0)])


def test_fingerprint_follows_recursive_helpers_without_looping():
    module = module_from_source("recursive", """
        import numba

        @numba.njit
        def countdown(n):
            return 0 if n <= 0 else countdown(n - 1)

        def step_one(state, action, params, rng):
            return float(countdown(3)), False
    """)
    assert env_fingerprint([module.step_one]) is not None


def test_fingerprint_is_none_for_a_global_it_cannot_hash():
    module = module_from_source("opaque", """
        class Thing:
            value = 1.0

        THING = Thing()
        UNUSED = Thing()

        def uses_thing(state, action, params, rng):
            return THING.value, False

        def ignores_thing(state, action, params, rng):
            return 1.0, False
    """)
    assert env_fingerprint([module.uses_thing]) is None
    assert env_fingerprint([module.ignores_thing]) is not None  # only what the code names counts


def test_unfingerprinted_kernel_is_compiled_without_disk_cache():
    def kernel(x):
        return x + 1

    dispatcher = cached_njit(kernel, None)
    assert dispatcher(1) == 2
    assert dispatcher.stats.cache_path is None
    assert isinstance(dispatcher, numba.core.dispatcher.Dispatcher)


# -- the cache across processes -------------------------------------------------------------------

CARTPOLE_SCRIPT = """
    import json
    import numpy as np
    from rl_platform.envs.classic_control.cartpole import CARTPOLE
    from rl_platform.envs.kernel import cpu_kernels
    from rl_platform.envs.vector import NumbaVectorEnv

    envs = NumbaVectorEnv(CARTPOLE, 8)
    envs.reset(seed=7)
    obs, rewards, *_ = envs.step(np.array([0, 1] * 4))
    kernels = cpu_kernels(CARTPOLE)
    hits = {name: sum(getattr(kernels, name).stats.cache_hits.values())
            for name in ("reset_all_serial", "step_all_serial")}
    print(json.dumps({"hits": hits, "obs": obs.tolist(), "rewards": rewards.tolist()}))
"""


def test_second_process_loads_kernels_from_the_cache(tmp_path: Path):
    cache = {"NUMBA_CACHE_DIR": str(tmp_path)}
    cold = run_python(CARTPOLE_SCRIPT, cache)
    warm = run_python(CARTPOLE_SCRIPT, cache)
    off = run_python(CARTPOLE_SCRIPT, {**cache, "RLP_KERNEL_CACHE": "0"})
    assert cold["hits"] == {"reset_all_serial": 0, "step_all_serial": 0}
    assert warm["hits"] == {"reset_all_serial": 1, "step_all_serial": 1}
    assert off["hits"] == {"reset_all_serial": 0, "step_all_serial": 0}
    assert warm["obs"] == cold["obs"] == off["obs"]
    assert warm["rewards"] == cold["rewards"] == off["rewards"] == [1.0] * 8


TINY_ENV = """
    import numpy as np
    import gymnasium as gym
    import tiny_consts
    from rl_platform.envs.kernel import NumbaEnvDef

    def reset_one(state, params, rng):
        state[0] = 0.0

    def step_one(state, action, params, rng):
        state[0] += tiny_consts.REWARD
        return tiny_consts.REWARD, False

    def observe_one(state, params, obs):
        obs[0] = state[0]

    TINY = NumbaEnvDef(name="Tiny-v0", state_size=1,
                       observation_space=gym.spaces.Box(-np.inf, np.inf, (1,), np.float32),
                       action_space=gym.spaces.Discrete(2), max_episode_steps=10,
                       reset_one=reset_one, step_one=step_one, observe_one=observe_one)
"""

TINY_SCRIPT = """
    import json
    import numpy as np
    from rl_platform.envs.kernel import cpu_kernels
    from rl_platform.envs.vector import NumbaVectorEnv
    from tiny_env import TINY

    envs = NumbaVectorEnv(TINY, 2)
    envs.reset(seed=0)
    _, rewards, *_ = envs.step(np.zeros(2, dtype=np.int64))
    print(json.dumps({"hits": sum(cpu_kernels(TINY).step_all_serial.stats.cache_hits.values()),
                      "rewards": rewards.tolist()}))
"""


def test_env_that_differs_only_in_a_constant_of_another_module_gets_its_own_kernels(tmp_path: Path):
    variants = {}
    for reward in (1.0, 2.0):
        folder = tmp_path / f"reward_{reward}"
        folder.mkdir()
        (folder / "tiny_env.py").write_text(textwrap.dedent(TINY_ENV))  # identical in both
        (folder / "tiny_consts.py").write_text(f"REWARD = {reward}\n")
        variants[reward] = folder
    cache = {"NUMBA_CACHE_DIR": str(tmp_path / "numba_cache")}
    first = run_python(TINY_SCRIPT, cache, pythonpath=variants[1.0])
    other = run_python(TINY_SCRIPT, cache, pythonpath=variants[2.0])
    again = run_python(TINY_SCRIPT, cache, pythonpath=variants[1.0])
    assert (first["hits"], first["rewards"]) == (0, [1.0, 1.0])
    assert (other["hits"], other["rewards"]) == (0, [2.0, 2.0])  # not the 1.0 kernel cached just before
    assert (again["hits"], again["rewards"]) == (1, [1.0, 1.0])


def test_entry_whose_data_file_holds_other_types_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Numba saves index then data without a lock: racing writers can leave a key naming another
    signature's code. Simulated by swapping the two data files of an index."""
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))  # Numba reloads its config from the environment
    monkeypatch.setattr(numba.config, "CACHE_DIR", str(tmp_path))

    def kernel(x):
        return x + 1

    first = cached_njit(kernel, "fingerprint")
    assert first(1) == 2 and first(1.5) == 2.5
    index_file = first._cache._cache_file
    index = index_file._load_index()
    assert len(index) == 2
    (int_key, int_data), (float_key, float_data) = index.items()
    index_file._save_index({int_key: float_data, float_key: int_data})

    second = cached_njit(kernel, "fingerprint")
    assert second(1) == 2 and second(1.5) == 2.5
    assert sum(second.stats.cache_hits.values()) == 0
    assert sum(second.stats.cache_misses.values()) == 2
    assert second.stats.cache_path.startswith(str(tmp_path))


@pytest.mark.parametrize("value", ["0", " 0 "])
def test_cache_is_off_when_asked(monkeypatch: pytest.MonkeyPatch, value: str):
    from rl_platform.envs.kernel_cache import cache_enabled

    monkeypatch.setenv("RLP_KERNEL_CACHE", value)
    assert not cache_enabled()
    monkeypatch.setenv("RLP_KERNEL_CACHE", "1")
    assert cache_enabled()

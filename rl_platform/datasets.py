"""Offline datasets in Minari's on-disk format (0.5, HDF5), written atomically and fast (HDF5's C API, see
:mod:`rl_platform.minari_hdf5`) and read back into flat transitions for offline learning, each mistake one
DatasetError: `minari.load_dataset` reads what we write, and we read what Minari writes.

Layout: `<root>/<dataset id>/data/metadata.json` and `main_data.hdf5`, one group `episode_<i>` per episode
holding `observations` (T+1 rows: the final observation included), `actions`, `rewards`, `terminations` and
`truncations` (T rows), with attributes `id`, `total_steps` and an optional `seed`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import os
import re
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import h5py
import numpy as np

from rl_platform.errors import UserError
from rl_platform.minari_hdf5 import EpisodeFormatError, EpisodeWriter, read_episodes
from rl_platform.options import did_you_mean

METADATA_FILE = "metadata.json"
DATA_FILE = "main_data.hdf5"
NAMESPACE_METADATA_FILE = "namespace_metadata.json"
# Minari's dataset id: (namespace/)name-v(version)
_DATASET_ID = re.compile(r"^(?:(?P<namespace>[-_\w][-_\w/]*[-_\w]+)/)?(?P<name>[-_\w]+?)(?:-v(?P<version>\d+))?$")


class DatasetError(UserError):
    """A dataset cannot be found, read or written, or does not fit the env it is used with.

    `DatasetError(name, message)` reads "dataset '<name>': <message>"; a single argument is the whole message."""

    def __init__(self, name: str, message: str | None = None) -> None:
        self.dataset = name if message is not None else None
        super().__init__(f"dataset '{name}': {message}" if message is not None else name)


@dataclass
class Episode:
    """One episode in Minari's layout: `observations` holds T+1 rows (the last is the final observation)."""

    observations: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    seed: int | None = None


@dataclass
class Transitions:
    """A whole dataset flattened to its N steps, in dataset order (episode after episode)."""

    name: str
    observation_space: gym.Space
    action_space: gym.Space
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    next_obs: np.ndarray
    terminations: np.ndarray
    truncations: np.ndarray
    episode_ids: np.ndarray
    episode_starts: np.ndarray
    metadata: dict

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def num_episodes(self) -> int:
        return int(self.episode_ids[-1]) + 1 if len(self.episode_ids) else 0

    def episode_returns(self) -> np.ndarray:
        """Undiscounted return of each episode, (E,) float64."""
        return np.bincount(self.episode_ids, weights=self.rewards.astype(np.float64), minlength=self.num_episodes)

    def split_episodes(self, fraction: float, seed: int) -> tuple[Transitions, Transitions]:
        """(train, held-out) by whole episodes: a seeded random `fraction` of the episodes (at least one when
        `fraction` > 0, never all) is held out; each part keeps dataset order, its episode ids renumbered."""
        if not 0.0 <= fraction < 1.0:
            raise DatasetError(self.name, f"the held-out fraction must be in [0, 1), got {fraction}.")
        num_held = 0 if fraction == 0.0 else max(1, round(fraction * self.num_episodes))
        if num_held >= self.num_episodes:
            raise DatasetError(self.name, f"has {self.num_episodes} episode(s): too few to hold out "
                               f"{fraction:g} of them and train on the rest.")
        held = np.zeros(self.num_episodes, dtype=bool)
        held[np.random.default_rng(seed).permutation(self.num_episodes)[:num_held]] = True
        return self._select(~held), self._select(held)

    def _select(self, keep_episodes: np.ndarray) -> Transitions:
        rows = keep_episodes[self.episode_ids]
        new_ids = np.cumsum(keep_episodes) - 1
        return Transitions(self.name, self.observation_space, self.action_space, self.obs[rows], self.actions[rows],
                           self.rewards[rows], self.next_obs[rows], self.terminations[rows], self.truncations[rows],
                           new_ids[self.episode_ids[rows]].astype(np.int64), self.episode_starts[rows],
                           dict(self.metadata))


def dataset_root() -> Path:
    """Where datasets live: $MINARI_DATASETS_PATH, else ~/.minari/datasets (as Minari)."""
    configured = os.environ.get("MINARI_DATASETS_PATH")
    return Path(configured) if configured else Path.home() / ".minari" / "datasets"


def dataset_id(name: str) -> str:
    """`name` as a Minari dataset id: with `-v0` appended when it has no version suffix."""
    match = _DATASET_ID.fullmatch(name)
    if match is None:
        raise DatasetError(name, "is not a valid dataset id: ids look like '(namespace/)name-v<version>', "
                           "of letters, digits, '_' and '-' (e.g. 'cartpole/expert-v0').")
    return name if match.group("version") is not None else f"{name}-v0"


def local_datasets(root: Path | None = None) -> list[str]:
    """Ids of the datasets under `root` (default :func:`dataset_root`), sorted."""
    root = dataset_root() if root is None else root
    if not root.is_dir():
        return []
    found = [path.parent.parent.relative_to(root).as_posix() for path in root.glob(f"**/data/{METADATA_FILE}")]
    return sorted(name for name in found if not any(part.startswith(".") for part in name.split("/")))


def dataset_path(name: str) -> Path:
    """The directory of dataset `name`: a path to a dataset directory (or its `data/`), else a dataset id under
    :func:`dataset_root` (without a version suffix: the highest version there). DatasetError when none exists."""
    path = Path(name).expanduser()
    if path.joinpath("data").is_dir():
        return path
    if path.name == "data" and path.joinpath(METADATA_FILE).is_file():
        return path.parent
    root = dataset_root()
    match = _DATASET_ID.fullmatch(name)
    if match is not None and match.group("version") is None:
        versions = {int(p.name.rpartition("-v")[2]): p for p in root.glob(f"{name}-v*")
                    if p.name.rpartition("-v")[2].isdigit()}
        if versions:
            return versions[max(versions)]
    if match is not None and root.joinpath(name).is_dir():
        return root / name
    known = local_datasets(root)
    listing = f"local datasets in {root}: {', '.join(known)}." if known else f"there are no datasets in {root}."
    raise DatasetError(name, f"not found (neither a dataset directory nor a dataset id); {listing}"
                       f"{did_you_mean(name, known)}")


# ---------------------------------------------------------------------------------------------
# Writing


def _env_spec_json(env_id: str | None, env_kwargs: dict | None) -> str | None:
    """The Gymnasium EnvSpec of `env_id` (with `env_kwargs`) as JSON, or None for an unregistered id.

    Our `rlp/...` ids register `functools.partial` entry points, which Gymnasium cannot serialize: these are
    written as the partial's function (a 'module:function' string) with its bound arguments as kwargs, so
    `gym.make` of the recovered spec builds the same env."""
    if env_id is None or ":" in env_id:
        return None
    from rl_platform.env_factory import load_env_plugins

    load_env_plugins()
    try:
        spec = gym.spec(env_id)
    except gym.error.Error:
        return None
    fields: dict[str, Any] = {"kwargs": {**spec.kwargs, **(env_kwargs or {})}}
    if "max_episode_steps" in fields["kwargs"]:
        fields["max_episode_steps"] = fields["kwargs"].pop("max_episode_steps")
    for key in ("entry_point", "vector_entry_point"):
        entry = getattr(spec, key)
        if isinstance(entry, functools.partial):
            bound = inspect.signature(entry.func).bind_partial(*entry.args, **entry.keywords).arguments
            if key == "entry_point":
                fields["kwargs"] = {**bound, **fields["kwargs"]}
            fields[key] = f"{entry.func.__module__}:{entry.func.__qualname__}"
    try:
        return dataclasses.replace(spec, **fields).to_json()
    except (TypeError, ValueError):  # an entry point or kwarg Gymnasium cannot serialize
        return None


def _episode_arrays(name: str, index: int, episode: Episode, obs_dtype: np.dtype, action_dtype: np.dtype
                    ) -> tuple[np.ndarray, ...]:
    observations = np.ascontiguousarray(episode.observations, dtype=obs_dtype)
    actions = np.ascontiguousarray(episode.actions, dtype=action_dtype)
    rewards = np.ascontiguousarray(episode.rewards, dtype=np.float64)
    terminations = np.ascontiguousarray(episode.terminations, dtype=bool)
    truncations = np.ascontiguousarray(episode.truncations, dtype=bool)
    steps = len(rewards)
    if steps == 0 or len(observations) != steps + 1 or not len(actions) == len(terminations) == len(truncations) \
            == steps:
        raise DatasetError(name, f"episode {index} is inconsistent: {len(observations)} observations, "
                           f"{len(actions)} actions, {steps} rewards, {len(terminations)} terminations, "
                           f"{len(truncations)} truncations (needs T+1 observations and T >= 1 of the rest).")
    return observations, actions, rewards, terminations, truncations


def _storage_dtype(name: str, space: gym.Space) -> np.dtype:
    if isinstance(space, gym.spaces.Discrete):
        return np.dtype(np.int64)
    if isinstance(space, (gym.spaces.Dict, gym.spaces.Tuple)) or space.dtype is None:
        raise DatasetError(name, f"cannot store {type(space).__name__} spaces ({space}); Box, Discrete, "
                           "MultiDiscrete and MultiBinary spaces can be stored.")
    return np.dtype(space.dtype)


def _json_value(value: Any) -> Any:
    """JSON for what json.dumps cannot write itself: numpy scalars and arrays, sets (as Minari: lists), paths."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return str(value)


def write_episodes(name: str, episodes: Iterable[Episode], observation_space: gym.Space, action_space: gym.Space,
                   env_id: str | None, rlp_metadata: dict, algorithm_name: str | None = None, *,
                   description: str | None = None, env_kwargs: dict | None = None) -> Path:
    """Write `episodes` as Minari dataset `name` (`-v0` appended without a version) under :func:`dataset_root`.

    The dataset is written into `<root>/.tmp-<name>-<pid>/` and renamed into place when complete; on any
    exception (a Ctrl-C included) the temporary directory is removed. `rlp_metadata` is stored under the
    metadata key "rlp"; `env_kwargs` are the env constructor's keyword arguments (recorded in `env_spec`).
    Returns the dataset's directory. DatasetError if the name is taken or there are no episodes."""
    ident = dataset_id(name)
    root = dataset_root()
    final = root / ident
    if final.exists():
        raise DatasetError(ident, f"already exists ({final}); choose another name or version.")
    obs_dtype, action_dtype = _storage_dtype(ident, observation_space), _storage_dtype(ident, action_space)
    root.mkdir(parents=True, exist_ok=True)
    temp = root / f".tmp-{ident.replace('/', '_')}-{os.getpid()}"
    try:
        data_dir = temp / "data"
        data_dir.mkdir(parents=True)
        writer = EpisodeWriter(data_dir / DATA_FILE)
        try:
            for index, episode in enumerate(episodes):
                writer.add(_episode_arrays(ident, index, episode, obs_dtype, action_dtype), episode.seed)
        finally:
            writer.close()
        if writer.num_episodes == 0:
            raise DatasetError(ident, "no episodes to write.")
        metadata = _metadata(ident, writer.num_episodes, writer.num_steps, observation_space, action_space,
                             _env_spec_json(env_id, env_kwargs), algorithm_name, description, rlp_metadata)
        metadata["dataset_size"] = round(os.path.getsize(data_dir / DATA_FILE) / 1e6, 1)
        data_dir.joinpath(METADATA_FILE).write_text(json.dumps(metadata, default=_json_value))
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            temp.rename(final)
        except OSError as exc:
            raise DatasetError(ident, f"cannot move the written dataset to {final}: {exc}") from None
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    if "/" in ident and not final.parent.joinpath(NAMESPACE_METADATA_FILE).exists():  # as minari.create_namespace
        final.parent.joinpath(NAMESPACE_METADATA_FILE).write_text("{}")
    return final


def _metadata(ident: str, num_episodes: int, num_steps: int, observation_space: gym.Space, action_space: gym.Space,
              env_spec: str | None, algorithm_name: str | None, description: str | None, rlp_metadata: dict
              ) -> dict[str, Any]:
    """metadata.json as Minari writes it (its keys in its order), ours under "rlp"."""
    from minari import __version__ as minari_version
    from minari.serialization import serialize_space

    metadata: dict[str, Any] = {
        "total_episodes": num_episodes, "total_steps": num_steps, "data_format": "hdf5", "jpeg_encoding": False,
        "observation_space": serialize_space(observation_space), "action_space": serialize_space(action_space),
    }
    if env_spec is not None:
        metadata["env_spec"] = env_spec
    metadata["dataset_id"] = ident
    if algorithm_name is not None:
        metadata["algorithm_name"] = algorithm_name
    if description is not None:
        metadata["description"] = description
    metadata["minari_version"] = minari_version
    metadata["rlp"] = rlp_metadata
    return metadata


# ---------------------------------------------------------------------------------------------
# Reading


def _read_metadata(name: str, data_dir: Path) -> dict[str, Any]:
    path = data_dir / METADATA_FILE
    if not path.is_file():
        raise DatasetError(name, f"is not a Minari dataset: {path} does not exist.")
    try:
        metadata = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(name, f"cannot read {path} (corrupt or truncated?): {exc}") from None
    if not isinstance(metadata, dict):
        raise DatasetError(name, f"{path} does not hold a JSON object.")
    return metadata


def _metadata_spaces(name: str, metadata: dict[str, Any], data_dir: Path) -> tuple[gym.Space, gym.Space]:
    """The dataset's spaces: serialized in its metadata, else (as Minari) those of the env its env_spec makes."""
    from minari.dataset.minari_storage import MinariStorage
    from minari.serialization import deserialize_space

    spaces = []
    for key in ("observation_space", "action_space"):
        try:
            if key in metadata:
                spaces.append(deserialize_space(metadata[key]))
            elif "env_spec" in metadata:
                storage = MinariStorage.read(data_dir)
                spaces.append(storage.observation_space if key == "observation_space" else storage.action_space)
            else:
                raise DatasetError(name, f"{METADATA_FILE} has neither '{key}' nor 'env_spec'.")
        except UserError:
            raise
        except Exception as exc:  # a malformed space, an env that cannot be made: anything Minari raises
            raise DatasetError(name, f"cannot read its {key} from {METADATA_FILE}: {type(exc).__name__}: "
                               f"{exc}") from None
    return spaces[0], spaces[1]


def _check_space(name: str, what: str, dataset_space: gym.Space, env_space: gym.Space | None) -> None:
    if env_space is not None and dataset_space != env_space:
        raise DatasetError(name, f"its {what} space {dataset_space} does not match the env's {env_space}.")


def load_transitions(name: str, observation_space: gym.Space | None = None, action_space: gym.Space | None = None
                     ) -> Transitions:
    """Read dataset `name` (a Minari dataset id or a path to a dataset directory) as flat transitions.

    Given spaces are checked against the dataset's; actions are checked to lie in the action space and every
    episode to hold T+1 observations for its T steps. Any problem is one DatasetError naming it."""
    path = dataset_path(name)
    data_dir = path / "data" if path.joinpath("data").is_dir() else path
    metadata = _read_metadata(name, data_dir)
    obs_space, act_space = _metadata_spaces(name, metadata, data_dir)
    _check_space(name, "observation", obs_space, observation_space)
    _check_space(name, "action", act_space, action_space)
    if isinstance(obs_space, (gym.spaces.Dict, gym.spaces.Tuple, gym.spaces.Text)) or \
            isinstance(act_space, (gym.spaces.Dict, gym.spaces.Tuple, gym.spaces.Text)):
        raise DatasetError(name, f"has {type(obs_space).__name__} observations and {type(act_space).__name__} "
                           "actions; only Box, Discrete and MultiDiscrete/MultiBinary spaces can be read.")
    total_episodes, total_steps = metadata.get("total_episodes"), metadata.get("total_steps")
    if not isinstance(total_episodes, int) or not isinstance(total_steps, int):
        raise DatasetError(name, f"{METADATA_FILE} lacks integer 'total_episodes' and 'total_steps'.")
    if total_episodes == 0 or total_steps == 0:
        raise DatasetError(name, f"is empty ({total_episodes} episodes, {total_steps} steps).")
    obs, actions, rewards, next_obs, terminations, truncations, episode_ids = _read_steps(
        name, data_dir, obs_space, act_space, total_episodes, total_steps, bool(metadata.get("jpeg_encoding", True)))
    _check_actions(name, actions, act_space)
    starts = np.ones(len(rewards), dtype=bool)
    starts[1:] = episode_ids[1:] != episode_ids[:-1]
    return Transitions(metadata.get("dataset_id", name), obs_space, act_space, obs, actions, rewards, next_obs,
                       terminations, truncations, episode_ids, starts, metadata)


def _array_dtype(space: gym.Space, actions: bool) -> np.dtype:
    if isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete)):
        return np.dtype(np.int64)
    if actions and isinstance(space, gym.spaces.Box):
        return np.dtype(np.float32)
    return np.dtype(space.dtype)


def _minari_episodes(data_dir: Path, total_episodes: int) -> Iterable[dict[str, np.ndarray]]:
    """Episodes decoded by Minari itself (JPEG-encoded image observations)."""
    from minari.dataset.minari_storage import MinariStorage

    return MinariStorage.read(data_dir).get_episodes(range(total_episodes))


def _read_steps(name: str, data_dir: Path, obs_space: gym.Space, act_space: gym.Space, total_episodes: int,
                total_steps: int, jpeg_encoding: bool) -> tuple[np.ndarray, ...]:
    """One pass over the episodes into preallocated flat arrays (obs, actions, rewards, next_obs, terminations,
    truncations, episode ids)."""
    from minari.dataset.minari_storage import is_image_space

    obs_shape, act_shape = tuple(obs_space.shape or ()), tuple(act_space.shape or ())
    obs = np.empty((total_steps, *obs_shape), _array_dtype(obs_space, False))
    next_obs = np.empty_like(obs)
    actions = np.empty((total_steps, *act_shape), _array_dtype(act_space, True))
    rewards = np.empty(total_steps, np.float32)
    terminations = np.empty(total_steps, bool)
    truncations = np.empty(total_steps, bool)
    episode_ids = np.empty(total_steps, np.int64)
    start = 0
    try:
        with h5py.File(data_dir / DATA_FILE, "r") as file:
            if jpeg_encoding and is_image_space(obs_space):
                source = _minari_episodes(data_dir, total_episodes)
            else:
                layout = {"observations": (obs.dtype, obs_shape), "actions": (actions.dtype, act_shape),
                          "rewards": (rewards.dtype, ()), "terminations": (terminations.dtype, ()),
                          "truncations": (truncations.dtype, ())}
                source = read_episodes(file, total_episodes, layout)
            for index, episode in enumerate(source):
                steps = len(episode["rewards"])
                observations = np.asarray(episode["observations"])
                if steps == 0 or observations.shape != (steps + 1, *obs_shape) or \
                        np.shape(episode["actions"]) != (steps, *act_shape) or \
                        len(episode["terminations"]) != steps or len(episode["truncations"]) != steps:
                    raise DatasetError(name, f"episode {index} is inconsistent: observations of shape "
                                       f"{observations.shape}, actions {np.shape(episode['actions'])}, rewards "
                                       f"({steps},), terminations ({len(episode['terminations'])},), truncations "
                                       f"({len(episode['truncations'])},); the observation space {obs_space} needs "
                                       f"({steps + 1}, {', '.join(map(str, obs_shape))}) observations for {steps} "
                                       "steps.")
                end = start + steps
                if end > total_steps:
                    raise DatasetError(name, f"its episodes hold more steps than the {total_steps:,} its "
                                       f"{METADATA_FILE} says.")
                obs[start:end] = observations[:-1]
                next_obs[start:end] = observations[1:]
                actions[start:end] = episode["actions"]
                rewards[start:end] = episode["rewards"]
                terminations[start:end] = episode["terminations"]
                truncations[start:end] = episode["truncations"]
                episode_ids[start:end] = index
                start = end
    except EpisodeFormatError as exc:
        raise DatasetError(name, f"{DATA_FILE}: {exc}") from None
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise DatasetError(name, f"cannot read {data_dir / DATA_FILE} (corrupt or truncated?): "
                           f"{type(exc).__name__}: {exc}") from None
    if start != total_steps:
        raise DatasetError(name, f"its episodes hold {start:,} steps but its {METADATA_FILE} says {total_steps:,}.")
    return obs, actions, rewards, next_obs, terminations, truncations, episode_ids


def _check_actions(name: str, actions: np.ndarray, space: gym.Space) -> None:
    if isinstance(space, gym.spaces.Discrete):
        outside = (actions < space.start) | (actions >= space.start + space.n)
    elif isinstance(space, gym.spaces.Box):
        flat = actions.reshape(len(actions), -1)
        outside = ~((flat >= space.low.reshape(-1)) & (flat <= space.high.reshape(-1))).all(axis=1)
    elif isinstance(space, gym.spaces.MultiDiscrete):
        flat = actions.reshape(len(actions), -1)
        outside = ((flat < space.start.reshape(-1)) | (flat >= (space.start + space.nvec).reshape(-1))).any(axis=1)
    elif isinstance(space, gym.spaces.MultiBinary):
        outside = ((actions != 0) & (actions != 1)).reshape(len(actions), -1).any(axis=1)
    else:
        return
    count = int(outside.sum())
    if count:
        step = int(np.flatnonzero(outside)[0])
        raise DatasetError(name, f"{count:,} of its {len(actions):,} actions lie outside the action space {space} "
                           f"(e.g. step {step}: {actions[step].tolist()}).")

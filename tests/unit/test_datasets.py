"""Datasets in Minari's format: Minari reads what we write field for field, we read what Minari writes, both
writer and reader paths (HDF5's C API, h5py's) give the same file and arrays, and every broken or mismatched
dataset is one DatasetError that names it."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import gymnasium as gym
import h5py
import minari
import numpy as np
import pytest
from minari.data_collector import EpisodeBuffer

from rl_platform import datasets, minari_hdf5
from rl_platform.datasets import DatasetError, Episode, load_transitions, write_episodes
from rl_platform.env_factory import load_env_plugins

BOX4 = gym.spaces.Box(-5.0, 5.0, shape=(4,), dtype=np.float32)
TWO = gym.spaces.Discrete(2)


@pytest.fixture(autouse=True)
def dataset_root(tmp_path: Path, monkeypatch) -> Path:
    root = tmp_path / "datasets"
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(root))
    return root


def hand_episodes() -> list[Episode]:
    """Three episodes: terminated after 3 steps, truncated after 2, terminated after 1; obs[t] = 10 e + t."""
    def episode(e: int, steps: int, truncated: bool, seed: int | None) -> Episode:
        obs = (10.0 * e + np.arange(steps + 1, dtype=np.float32))[:, None] * np.ones(4, np.float32)
        ends = np.zeros(steps, bool)
        ends[-1] = True
        return Episode(obs, np.arange(steps) % 2, np.arange(1, steps + 1) * 0.5, ends & (not truncated),
                       ends & truncated, seed)
    return [episode(0, 3, False, 7), episode(1, 2, True, None), episode(2, 1, False, None)]


def write_hand(name: str = "test/hand-v0", env_id: str | None = None) -> Path:
    return write_episodes(name, hand_episodes(), BOX4, TWO, env_id, {"source": "hand"}, "scripted")


def test_minari_reads_what_we_write_field_for_field(dataset_root):
    load_env_plugins()
    path = write_hand(env_id="rlp/CartPole-v1")
    assert path == dataset_root / "test/hand-v0" and (dataset_root / "test/namespace_metadata.json").is_file()
    dataset = minari.load_dataset("test/hand-v0")
    assert (dataset.total_episodes, dataset.total_steps) == (3, 6)
    assert dataset.spec.observation_space == BOX4 and dataset.spec.action_space == TWO
    assert dataset.spec.env_spec.id == "rlp/CartPole-v1" and dataset.spec.env_spec.max_episode_steps == 500
    assert dataset.spec.minari_version == minari.__version__
    recovered = dataset.recover_environment()  # our rlp/ env, from the serialized spec
    assert recovered.observation_space.shape == (4,) and recovered.action_space == TWO
    for ours, theirs in zip(hand_episodes(), dataset.iterate_episodes(), strict=True):
        for field in ("observations", "actions", "rewards", "terminations", "truncations"):
            mine, read = getattr(ours, field), getattr(theirs, field)
            np.testing.assert_array_equal(read, mine)
        assert theirs.observations.dtype == np.float32 and theirs.actions.dtype == np.int64
        assert theirs.terminations.dtype == bool and theirs.rewards.dtype == np.float64
    seeds = [meta.get("seed") for meta in dataset.storage.get_episode_metadata(range(3))]
    assert seeds == [7, None, None]
    metadata = dataset.storage.metadata
    assert metadata["dataset_id"] == "test/hand-v0" and metadata["algorithm_name"] == "scripted"
    assert metadata["rlp"] == {"source": "hand"} and metadata["jpeg_encoding"] is False
    assert metadata["data_format"] == "hdf5"


def test_load_transitions_flattens_episodes_with_next_obs_and_starts():
    write_hand()
    data = load_transitions("test/hand-v0", BOX4, TWO)
    assert len(data) == 6 and data.num_episodes == 3 and data.name == "test/hand-v0"
    np.testing.assert_array_equal(data.obs[:, 0], [0, 1, 2, 10, 11, 20])
    np.testing.assert_array_equal(data.next_obs[:, 0], [1, 2, 3, 11, 12, 21])
    np.testing.assert_array_equal(data.actions, [0, 1, 0, 0, 1, 0])
    np.testing.assert_array_equal(data.rewards, [0.5, 1.0, 1.5, 0.5, 1.0, 0.5])
    np.testing.assert_array_equal(data.terminations, [0, 0, 1, 0, 0, 1])
    np.testing.assert_array_equal(data.truncations, [0, 0, 0, 0, 1, 0])
    np.testing.assert_array_equal(data.episode_ids, [0, 0, 0, 1, 1, 2])
    np.testing.assert_array_equal(data.episode_starts, [1, 0, 0, 1, 0, 1])
    np.testing.assert_array_equal(data.episode_returns(), [3.0, 1.5, 0.5])
    assert data.obs.dtype == np.float32 and data.actions.dtype == np.int64 and data.rewards.dtype == np.float32
    assert data.metadata["rlp"] == {"source": "hand"}
    assert load_transitions(str(datasets.dataset_root() / "test/hand-v0")).num_episodes == 3  # by path
    assert load_transitions("test/hand").name == "test/hand-v0"  # no version: the highest one there


def test_load_transitions_reads_a_dataset_minari_wrote():
    buffers = [EpisodeBuffer(observations=[np.full(4, 0.5 * t, np.float32) for t in range(4)], actions=[1, 0, 1],
                             rewards=[1.0, 2.0, 3.0], terminations=[False, False, True],
                             truncations=[False, False, False], seed=3),
               EpisodeBuffer(observations=[np.full(4, -1.0 - t, np.float32) for t in range(3)], actions=[0, 0],
                             rewards=[-1.0, 0.25], terminations=[False, False], truncations=[False, True])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Minari warns about every metadata field left out
        minari.create_dataset_from_buffers("theirs/hand-v0", buffers, observation_space=BOX4, action_space=TWO,
                                           algorithm_name="by-hand")
    data = load_transitions("theirs/hand-v0", BOX4, TWO)
    np.testing.assert_array_equal(data.obs[:, 0], [0.0, 0.5, 1.0, -1.0, -2.0])
    np.testing.assert_array_equal(data.next_obs[:, 3], [0.5, 1.0, 1.5, -2.0, -3.0])
    np.testing.assert_array_equal(data.actions, [1, 0, 1, 0, 0])
    np.testing.assert_array_equal(data.rewards, [1.0, 2.0, 3.0, -1.0, 0.25])
    np.testing.assert_array_equal(data.terminations, [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(data.truncations, [0, 0, 0, 0, 1])
    np.testing.assert_array_equal(data.episode_ids, [0, 0, 0, 1, 1])
    assert data.metadata["algorithm_name"] == "by-hand" and data.observation_space == BOX4


def test_jpeg_images_minari_wrote_are_decoded_and_ours_stay_raw():
    images = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)
    frames = [np.full((32, 32, 3), 40 * t, np.uint8) for t in range(4)]  # flat frames: JPEG keeps them exactly
    buffer = EpisodeBuffer(observations=frames, actions=[0, 1, 0], rewards=[1.0, 1.0, 1.0],
                           terminations=[False, False, True], truncations=[False] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        minari.create_dataset_from_buffers("img/jpeg-v0", [buffer], observation_space=images, action_space=TWO)
    data = load_transitions("img/jpeg-v0", images, TWO)
    assert data.metadata["jpeg_encoding"] is True and data.obs.dtype == np.uint8
    np.testing.assert_array_equal(data.obs[:, 5, 5, 0], [0, 40, 80])
    np.testing.assert_array_equal(data.next_obs[:, 5, 5, 0], [40, 80, 120])
    path = write_episodes("img/raw", [Episode(np.stack(frames), np.array([0, 1, 0]), np.ones(3), np.eye(1, 3, 2,
                          dtype=bool)[0], np.zeros(3, bool))], images, TWO, None, {})
    with h5py.File(path / "data/main_data.hdf5") as file:
        assert file["episode_0/observations"].shape == (4, 32, 32, 3)  # raw frames, not JPEG bytes
    np.testing.assert_array_equal(minari.load_dataset("img/raw-v0")[0].observations, np.stack(frames))


def test_bool_observations_and_box_actions_round_trip_losslessly():
    obs_space = gym.spaces.Box(0, 1, shape=(10, 10, 4), dtype=bool)
    action_space = gym.spaces.Box(-1.0, 1.0, shape=(2,), dtype=np.float32)
    rng = np.random.default_rng(0)
    episodes = [Episode(rng.random((t + 1, 10, 10, 4)) < 0.3, rng.uniform(-1, 1, (t, 2)).astype(np.float32),
                        rng.standard_normal(t), np.eye(1, t, t - 1, dtype=bool)[0], np.zeros(t, bool))
                for t in (5, 9)]
    path = write_episodes("minatar/bools", episodes, obs_space, action_space, None, {})
    assert path.name == "bools-v0"
    with h5py.File(path / "data/main_data.hdf5") as file:
        assert file["episode_1/observations"].dtype == bool and file["episode_1/observations"].shape == (10, 10, 10, 4)
    data = load_transitions("minatar/bools-v0", obs_space, action_space)
    np.testing.assert_array_equal(data.obs[5:], episodes[1].observations[:-1])
    np.testing.assert_array_equal(data.next_obs[:5], episodes[0].observations[1:])
    np.testing.assert_array_equal(data.actions, np.concatenate([e.actions for e in episodes]))
    np.testing.assert_allclose(data.rewards, np.concatenate([e.rewards for e in episodes]).astype(np.float32))
    assert data.obs.dtype == bool and data.actions.dtype == np.float32


def test_h5py_fallbacks_write_the_same_file_and_read_the_same_arrays(monkeypatch):
    write_hand("fast/hand-v0")
    fast = load_transitions("fast/hand-v0")
    monkeypatch.setattr(minari_hdf5._HDF5, "loaded", staticmethod(lambda: None))  # no libhdf5 found
    write_hand("slow/hand-v0")
    slow = load_transitions("slow/hand-v0")
    root = datasets.dataset_root()
    with h5py.File(root / "fast/hand-v0/data/main_data.hdf5") as a, \
            h5py.File(root / "slow/hand-v0/data/main_data.hdf5") as b:
        assert list(a) == list(b) == ["episode_0", "episode_1", "episode_2"]
        for group in a:
            assert dict(a[group].attrs) == dict(b[group].attrs)
            for key in a[group]:
                assert a[group][key].dtype == b[group][key].dtype
                np.testing.assert_array_equal(a[group][key][()], b[group][key][()])
    for field in ("obs", "actions", "rewards", "next_obs", "terminations", "truncations", "episode_ids"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field))


def test_split_episodes_holds_out_whole_episodes_reproducibly():
    episodes = [Episode(np.full((t + 2, 4), i, np.float32), np.zeros(t + 1, int), np.ones(t + 1),
                        np.eye(1, t + 1, t, dtype=bool)[0], np.zeros(t + 1, bool)) for i, t in enumerate(range(8))]
    write_episodes("split-v0", episodes, BOX4, TWO, None, {})
    data = load_transitions("split-v0")
    train, held = data.split_episodes(0.25, seed=1)
    assert (train.num_episodes, held.num_episodes) == (6, 2) and len(train) + len(held) == len(data) == 36
    held_originals = sorted(set(held.obs[:, 0].astype(int)))
    assert len(held_originals) == 2 and not set(held_originals) & set(train.obs[:, 0].astype(int))
    np.testing.assert_array_equal(held.episode_returns(), [i + 1 for i in held_originals])  # lengths i + 1
    assert held.episode_starts.sum() == 2 and held.episode_ids[0] == 0
    again, _ = data.split_episodes(0.25, seed=1)
    np.testing.assert_array_equal(again.obs, train.obs)
    assert data.split_episodes(0.01, seed=0)[1].num_episodes == 1  # at least one held out
    assert data.split_episodes(0.0, seed=0)[1].num_episodes == 0


def test_write_is_atomic_and_refuses_a_taken_name(dataset_root):
    def failing():
        yield hand_episodes()[0]
        raise KeyboardInterrupt  # a Ctrl-C halfway through

    with pytest.raises(KeyboardInterrupt):
        write_episodes("test/atomic", failing(), BOX4, TWO, None, {})
    assert list(dataset_root.iterdir()) == []  # no temp dir, no dataset
    write_hand()
    with pytest.raises(DatasetError, match=r"dataset 'test/hand-v0': already exists"):
        write_hand()
    broken = hand_episodes()[:1]
    broken[0].actions = broken[0].actions[:-1]
    with pytest.raises(DatasetError, match="episode 0 is inconsistent: 4 observations, 2 actions"):
        write_episodes("test/broken", broken, BOX4, TWO, None, {})
    with pytest.raises(DatasetError, match="no episodes"):
        write_episodes("test/none", [], BOX4, TWO, None, {})
    assert sorted(p.name for p in (dataset_root / "test").iterdir()) == ["hand-v0", "namespace_metadata.json"]
    with pytest.raises(DatasetError, match="not a valid dataset id"):
        write_episodes("bad name!", hand_episodes(), BOX4, TWO, None, {})


def test_missing_dataset_lists_local_ones_and_suggests_the_closest():
    write_hand("cartpole/expert-v0")
    with pytest.raises(DatasetError, match=r"dataset 'cartpole/expret-v0': not found .*cartpole/expert-v0\..* "
                                           r"Did you mean 'cartpole/expert-v0'\?"):
        load_transitions("cartpole/expret-v0")


def test_unreadable_datasets_are_one_line_errors(dataset_root):
    (dataset_root / "plain/data").mkdir(parents=True)
    with pytest.raises(DatasetError, match="dataset 'plain': is not a Minari dataset"):
        load_transitions("plain")
    path = write_hand("test/corrupt-v0") / "data"
    metadata = path / "metadata.json"
    good = metadata.read_text()
    metadata.write_text(good[: len(good) // 2])
    with pytest.raises(DatasetError, match="cannot read .*metadata.json .corrupt or truncated"):
        load_transitions("test/corrupt-v0")
    metadata.write_text(good)
    data_file = path / "main_data.hdf5"
    data_file.write_bytes(data_file.read_bytes()[:3000])
    with pytest.raises(DatasetError, match="cannot read .*main_data.hdf5 .corrupt or truncated"):
        load_transitions("test/corrupt-v0")
    metadata.write_text(json.dumps({**json.loads(good), "total_episodes": 0, "total_steps": 0}))
    with pytest.raises(DatasetError, match=r"is empty \(0 episodes, 0 steps\)"):
        load_transitions("test/corrupt-v0")


def test_spaces_that_do_not_match_the_env_name_both():
    write_hand()
    with pytest.raises(DatasetError, match=r"observation space Box\(-5.0, 5.0, \(4,\), float32\) does not match "
                                           r"the env's Box\(-1.0, 1.0, \(3,\), float32\)"):
        load_transitions("test/hand-v0", gym.spaces.Box(-1.0, 1.0, (3,), np.float32), TWO)
    with pytest.raises(DatasetError, match=r"action space Discrete\(2\) does not match the env's Discrete\(3\)"):
        load_transitions("test/hand-v0", BOX4, gym.spaces.Discrete(3))


def test_actions_outside_the_action_space_are_counted_with_an_example():
    episodes = hand_episodes()
    episodes[0].actions = np.array([0, 5, 7])
    write_episodes("test/wild-v0", episodes, BOX4, TWO, None, {})
    with pytest.raises(DatasetError, match=r"2 of its 6 actions lie outside the action space Discrete\(2\) "
                                           r"\(e.g. step 1: 5\)"):
        load_transitions("test/wild-v0")


@pytest.mark.parametrize("fast", [True, False])
def test_an_inconsistent_episode_is_named(fast, monkeypatch):
    if not fast:
        monkeypatch.setattr(minari_hdf5._HDF5, "loaded", staticmethod(lambda: None))
    path = write_hand() / "data/main_data.hdf5"
    with h5py.File(path, "a") as file:  # episode 1 loses its final observation
        observations = file["episode_1/observations"][()]
        del file["episode_1/observations"]
        file["episode_1/observations"] = observations[:-1]
    with pytest.raises(DatasetError, match=r"dataset 'test/hand-v0': episode 1 is inconsistent: observations of "
                                           r"shape \(2, 4\), actions \(2,\)"):
        load_transitions("test/hand-v0")

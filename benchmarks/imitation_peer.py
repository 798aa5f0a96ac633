"""The `imitation` library's GAIL and BC on an expert .npz: the peer of benchmarks/imitation.py.

Run it with the PEER venv's python (benchmarks/setup_imitation_peer.sh: imitation 1.0.1, seals 0.2.1,
stable-baselines3 2.2.1, gymnasium 0.29.1); it imports nothing from rl_platform.

    .venv-imitation/bin/python benchmarks/imitation_peer.py --demos expert.npz --algorithm gail \
        --seed 0 --env-steps 300000 --eval-every 16384 --out gail_seed0.jsonl

Input .npz (written from our Minari datasets by `benchmarks.imitation_common.write_peer_npz`), one row per
transition, episodes one after another:
    obs          (N, *obs_shape) float32   observation the action was taken in
    acts         (N, *act_shape)           action (int64 for Discrete)
    next_obs     (N, *obs_shape) float32   observation after the action
    dones        (N,) bool                 True on the last step of each episode (terminated or truncated)
    episode_ids  (N,) int64                episode of each row (non-decreasing)
They become `imitation.data.types.Transitions` (empty infos).

Output: one JSON line per evaluation, {"env_steps", "wall_s", "mean_return"} (BC adds "batches" and has
env_steps 0: it never steps the env), then one summary line {"summary": true, ...} with the final and best
eval and, given --target-return, the first eval at or above it. `wall_s` is the training time since the
trainer was built, evaluations excluded; each evaluation runs the greedy (deterministic) policy for
--eval-episodes episodes (default 20) on its own vector env, one episode per sub-env, and reports the mean
true return. GAIL is evaluated once before training and at the end of every round in which env_steps
reached the next multiple of --eval-every (a round is 8 envs x 2048 PPO steps = 16,384 env steps, so
evaluations fall on round boundaries); BC before training and every --eval-every batches.

GAIL settings are those of imitation's own GAIL tutorial on seals/CartPole-v0
(docs/tutorials/3_train_gail.ipynb, HumanCompatibleAI/imitation master at commit 4c62f6cd, which says GAIL
then "matches expert returns (500)" after 200k steps): 8 envs (`make_vec_env`, RolloutInfoWrapper);
learner SB3 PPO MlpPolicy with batch_size=64, ent_coef=0.0, learning_rate=4e-4, gamma=0.95, n_epochs=5
(n_steps left at SB3's 2048 per env); discriminator `BasicRewardNet(normalize_input_layer=RunningNorm)`;
GAIL(demo_batch_size=1024, gen_replay_buffer_capacity=512, n_disc_updates_per_round=8).
BC settings are those of imitation's training scripts (src/imitation/scripts/ingredients/bc.py, 1.0.1):
batch_size=32, l2_weight=3e-5, Adam lr=4e-4, the default FeedForward32Policy and ent_weight=1e-3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

# benchmarks/imitation.py (our side of the benchmark) would shadow the `imitation` package: this script's folder
# leaves the import path before the peer's imports.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import seals  # noqa: E402, F401  (registers seals/CartPole-v0)
import torch  # noqa: E402
from imitation.algorithms import bc  # noqa: E402
from imitation.algorithms.adversarial.gail import GAIL  # noqa: E402
from imitation.data import types  # noqa: E402
from imitation.data.wrappers import RolloutInfoWrapper  # noqa: E402
from imitation.rewards.reward_nets import BasicRewardNet  # noqa: E402
from imitation.util import logger as imit_logger  # noqa: E402
from imitation.util.networks import RunningNorm  # noqa: E402
from imitation.util.util import make_vec_env  # noqa: E402
from stable_baselines3 import PPO  # noqa: E402
from stable_baselines3.common.evaluation import evaluate_policy  # noqa: E402
from stable_baselines3.ppo import MlpPolicy  # noqa: E402

NPZ_KEYS = ("obs", "acts", "next_obs", "dones", "episode_ids")
GAIL_N_ENVS = 8


def load_demos(path: str) -> types.Transitions:
    """Read the expert .npz described in the module docstring as imitation's Transitions."""
    with np.load(path) as data:
        missing = [key for key in NPZ_KEYS if key not in data]
        if missing:
            raise SystemExit(f"imitation_peer: error: {path} lacks arrays {missing}; it needs {list(NPZ_KEYS)}")
        arrays = {key: data[key] for key in NPZ_KEYS}
    rows = len(arrays["obs"])
    if any(len(array) != rows for array in arrays.values()):
        raise SystemExit(f"imitation_peer: error: {path}: arrays {list(NPZ_KEYS)} differ in length")
    if rows == 0 or not arrays["dones"][-1]:
        raise SystemExit(f"imitation_peer: error: {path}: the last transition must end an episode (dones[-1])")
    return types.Transitions(obs=arrays["obs"], acts=arrays["acts"], infos=np.array([{}] * rows),
                             next_obs=arrays["next_obs"], dones=arrays["dones"].astype(bool))


class Recorder:
    """Times training (evaluations excluded), evaluates the greedy policy and writes the JSON lines."""

    def __init__(self, env_id: str, seed: int, episodes: int, out: TextIO) -> None:
        self.eval_venv = make_vec_env(env_id, n_envs=episodes, rng=np.random.default_rng(seed + 10_000))
        self.episodes = episodes
        self.out = out
        self.evals: list[dict[str, Any]] = []
        self.eval_s = 0.0
        self.start = time.perf_counter()

    def train_s(self) -> float:
        """Seconds since the start, less the time spent evaluating."""
        return time.perf_counter() - self.start - self.eval_s

    def evaluate(self, policy: Any, env_steps: int, **extra: Any) -> None:
        """Record the mean greedy return of `policy` over the eval episodes."""
        wall_s = self.train_s()
        began = time.perf_counter()
        returns, _ = evaluate_policy(policy, self.eval_venv, n_eval_episodes=self.episodes, deterministic=True,
                                     return_episode_rewards=True)
        self.eval_s += time.perf_counter() - began
        row = {"env_steps": env_steps, "wall_s": round(wall_s, 3), "mean_return": float(np.mean(returns)), **extra}
        self.evals.append(row)
        self.out.write(json.dumps(row) + "\n")
        self.out.flush()

    def summary(self, target_return: float | None, **extra: Any) -> dict[str, Any]:
        """The summary line: final and best eval, and the first eval at or above `target_return`."""
        best = max(self.evals, key=lambda row: row["mean_return"])
        line: dict[str, Any] = {"summary": True, **extra, "train_wall_s": round(self.train_s(), 3),
                                "eval_wall_s": round(self.eval_s, 3), "final": self.evals[-1], "best": best}
        if target_return is not None:
            reached = [row for row in self.evals if row["mean_return"] >= target_return]
            line["target_return"] = target_return
            line["first_at_target"] = reached[0] if reached else None
        return line


def run_gail(demos: types.Transitions, args: argparse.Namespace, recorder: Recorder, log_dir: str) -> None:
    """Train imitation's GAIL with its seals/CartPole-v0 tutorial settings, evaluating every round."""
    venv = make_vec_env(args.env, n_envs=GAIL_N_ENVS, rng=np.random.default_rng(args.seed),
                        post_wrappers=[lambda env, _: RolloutInfoWrapper(env)])
    learner = PPO(env=venv, policy=MlpPolicy, batch_size=64, ent_coef=0.0, learning_rate=4e-4, gamma=0.95,
                  n_epochs=5, seed=args.seed)
    reward_net = BasicRewardNet(observation_space=venv.observation_space, action_space=venv.action_space,
                                normalize_input_layer=RunningNorm)
    trainer = GAIL(demonstrations=demos, demo_batch_size=1024, gen_replay_buffer_capacity=512,
                   n_disc_updates_per_round=8, venv=venv, gen_algo=learner, reward_net=reward_net,
                   custom_logger=imit_logger.configure(folder=log_dir, format_strs=[]))
    recorder.evaluate(trainer.policy, 0)
    next_eval = args.eval_every

    def after_round(round_index: int) -> None:
        nonlocal next_eval
        env_steps = (round_index + 1) * trainer.gen_train_timesteps
        if env_steps >= next_eval:
            recorder.evaluate(trainer.policy, env_steps)
            while next_eval <= env_steps:
                next_eval += args.eval_every

    trainer.train(args.env_steps, callback=after_round)


def run_bc(demos: types.Transitions, args: argparse.Namespace, recorder: Recorder, log_dir: str) -> None:
    """Train imitation's BC with its training-script settings, evaluating every --eval-every batches."""
    venv = make_vec_env(args.env, n_envs=1, rng=np.random.default_rng(args.seed))
    trainer = bc.BC(observation_space=venv.observation_space, action_space=venv.action_space,
                    demonstrations=demos, rng=np.random.default_rng(args.seed), batch_size=32, l2_weight=3e-5,
                    optimizer_kwargs={"lr": 4e-4},
                    custom_logger=imit_logger.configure(folder=log_dir, format_strs=[]))
    recorder.evaluate(trainer.policy, 0, batches=0)
    batches_per_epoch = len(demos) // 32
    total = args.bc_batches if args.bc_batches is not None else args.bc_epochs * batches_per_epoch
    done = 0

    def after_batch() -> None:
        nonlocal done
        done += 1
        if done % args.eval_every == 0 or done == total:
            recorder.evaluate(trainer.policy, 0, batches=done)

    trainer.train(n_batches=total, on_batch_end=after_batch, progress_bar=False, log_interval=10**9)


ALGORITHMS: dict[str, Callable[[types.Transitions, argparse.Namespace, Recorder, str], None]] = {
    "gail": run_gail, "bc": run_bc}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--demos", required=True, help="expert transitions .npz (see the module docstring)")
    parser.add_argument("--algorithm", choices=sorted(ALGORITHMS), required=True)
    parser.add_argument("--env", default="seals/CartPole-v0", help="gymnasium env id (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--env-steps", type=int, default=300_000, help="GAIL env-step budget")
    parser.add_argument("--bc-epochs", type=int, default=1, help="BC epochs over the demos (default 1)")
    parser.add_argument("--bc-batches", type=int, default=None, help="BC batches of 32 (overrides --bc-epochs)")
    parser.add_argument("--eval-every", type=int, default=16_384,
                        help="GAIL: env steps between evals (rounded up to a round); BC: batches")
    parser.add_argument("--eval-episodes", type=int, default=20)
    parser.add_argument("--target-return", type=float, default=None,
                        help="report the first eval whose mean return reaches this")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    parser.add_argument("--out", default=None, help="write the JSON lines here instead of stdout")
    args = parser.parse_args(argv)
    for name in ("env_steps", "bc_epochs", "eval_every", "eval_episodes", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.bc_batches is not None and args.bc_batches < 1:
        parser.error("--bc-batches must be >= 1")
    return args


def main(argv: list[str] | None = None) -> None:
    """Train the chosen algorithm and write its evaluation curve and summary as JSON lines."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    demos = load_demos(args.demos)
    with (open(args.out, "w", encoding="utf-8") if args.out else contextlib.nullcontext(sys.stdout)) as out, \
            tempfile.TemporaryDirectory(prefix="imitation-peer-") as log_dir:
        recorder = Recorder(args.env, args.seed, args.eval_episodes, out)
        ALGORITHMS[args.algorithm](demos, args, recorder, log_dir)
        line = recorder.summary(args.target_return, algorithm=args.algorithm, seed=args.seed, env=args.env,
                                demos_transitions=len(demos), threads=args.threads)
        out.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()

"""The `gan` world model next to the deterministic `mlp`: does it draw the random outcomes a point prediction
cannot (a section of benchmarks/world_models.py)?

* `frozenlake`: slippery FrozenLake 8x8 (rlp/FrozenLake8x8-v1: the intended move or one of the two perpendicular
  ones, 1/3 each). Both models are trained offline (`rlp pretrain configs/world_model_gan_frozenlake.yaml`, the
  mlp with `pretrain.objective.model=mlp`, same steps and batches) on 1M random-policy transitions
  (`rlp collect --policy random`); then for every action in every state an episode can be in, 200 model steps
  against the env's exact P(s' | s, a): the total-variation distance, averaged over the (s, a) pairs
  (`rl_platform.model_eval.discrete_next_state_tv`, with the noise floor of 200 draws from P itself). The mlp is
  a point mass on its argmax. Target: the GAN's distance <= 0.5x the mlp's. The config's GAN adds a small
  cross-entropy term on the next state to its adversarial loss; `gan_adversarial_only` is the same GAN without it.
* `accuracy`: the gan's 1-step and 10-step open-loop errors on CartPole, Acrobot and Pendulum, trained and
  measured exactly as benchmarks/world_models.py `accuracy()` measures mlp and ensemble (`rlp model-eval`).

Usage:
    .venv/bin/python benchmarks/world_models_gan.py [--sections frozenlake accuracy] [--seeds 0 1 2] [--out JSON]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO_ROOT, format_table, machine_info, median, write_json
from pretraining import Workspace

from rl_platform.env_factory import make_vector_env
from rl_platform.envs.model import vector_env_model
from rl_platform.model_eval import discrete_next_state_tv, load_world_model

CONFIG = REPO_ROOT / "configs" / "world_model_gan_frozenlake.yaml"
DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "world_models_gan.json"
FROZENLAKE_ENV, FROZENLAKE_DATASET, FROZENLAKE_DATA_STEPS = "rlp/FrozenLake8x8-v1", "bench/frozenlake8x8-random-v0", \
    1_000_000
TV_SAMPLES, TV_TARGET_RATIO = 200, 0.5
# model -> overrides of CONFIG (the mlp: the deterministic baseline, same steps, batches and learning rate)
FROZENLAKE_MODELS: dict[str, list[str]] = {
    "gan": [],
    "gan_adversarial_only": ["pretrain.objective.model.next_obs_weight=0.0"],
    "mlp": ["pretrain.objective.model=mlp", "pretrain.objective.model.hidden_sizes=[128,128]"],
}


def frozenlake(seeds: list[int]) -> dict[str, Any]:
    """TV distances of gan and mlp on slippery FrozenLake 8x8, one run per model and seed."""
    results: dict[str, Any] = {"env": FROZENLAKE_ENV, "data_steps": FROZENLAKE_DATA_STEPS, "samples": TV_SAMPLES,
                               "seeds": seeds, "config": CONFIG.name}
    with tempfile.TemporaryDirectory(prefix="rlp_world_models_gan_") as tmp:
        ws = Workspace(Path(tmp))
        ws.rlp("collect", "--policy", "random", "--env", FROZENLAKE_ENV, "--num-envs", "64", "--steps",
               str(FROZENLAKE_DATA_STEPS), "--out", FROZENLAKE_DATASET, "--seed", "0", "--json")
        for model_name, overrides in FROZENLAKE_MODELS.items():
            runs = []
            for seed in seeds:
                run = f"frozenlake_{model_name}_{seed}"
                metrics = ws.train(run, CONFIG, *overrides, f"pretrain.dataset={FROZENLAKE_DATASET}", f"seed={seed}",
                                   "train.eval_episodes=1", command="pretrain")
                model, cfg = load_world_model(ws.run_dir(run))
                envs = make_vector_env(cfg.env, 1)
                try:
                    table, _ = vector_env_model(envs)
                finally:
                    envs.close()
                distance = discrete_next_state_tv(model, table, TV_SAMPLES, seed=seed)
                runs.append({"seed": seed, "tv": distance["tv"], "floor": distance["floor"],
                             "pairs": distance["pairs"], "steps": metrics["global_step"],
                             "pretrain_seconds": metrics["wall_seconds"]})
                print(f"{FROZENLAKE_ENV} {model_name} seed {seed}: TV {distance['tv']:.3f} (floor "
                      f"{distance['floor']:.3f})", file=sys.stderr)
            results[model_name] = {"overrides": overrides, "runs": runs,
                                   "median_tv": median([r["tv"] for r in runs]),
                                   "median_floor": median([r["floor"] for r in runs])}
    ratio = results["gan"]["median_tv"] / results["mlp"]["median_tv"]
    results["gan_to_mlp_tv"] = ratio
    results["target_met"] = bool(ratio <= TV_TARGET_RATIO)
    return results


def accuracy() -> dict[str, Any]:
    """The gan's open-loop errors, as benchmarks/world_models.py `accuracy()` measures mlp and ensemble."""
    # imported here, not at the top: benchmarks/world_models.py imports this module as one of its sections
    import world_models as wm

    results: dict[str, Any] = {"data_steps": wm.ACCURACY_DATA_STEPS, "train_steps": wm.ACCURACY_TRAIN_STEPS,
                               "horizon": wm.ACCURACY_HORIZON, "states": wm.ACCURACY_STATES}
    with tempfile.TemporaryDirectory(prefix="rlp_world_models_gan_") as tmp:
        ws = Workspace(Path(tmp))
        for env_id, (config, overrides) in wm.ACCURACY_ENVS.items():
            name = f"bench/{env_id.split('/')[1].split('-')[0].lower()}-random-v0"
            ws.rlp("collect", "--policy", "random", "--env", env_id, "--num-envs", "64", "--steps",
                   str(wm.ACCURACY_DATA_STEPS), "--out", name, "--seed", "0", "--json")
            run = f"{name.split('/')[1]}_gan"
            metrics = ws.train(run, REPO_ROOT / "configs" / config, *overrides, f"pretrain.dataset={name}",
                               "pretrain.objective=world_model", "pretrain.objective.model=gan",
                               f"pretrain.steps={wm.ACCURACY_TRAIN_STEPS}", "pretrain.batch_size=256",
                               "pretrain.lr=1e-3", "train.eval_episodes=1", command="pretrain")
            report = json.loads(ws.rlp("model-eval", str(ws.run_dir(run)), "--horizon", str(wm.ACCURACY_HORIZON),
                                       "--num-envs", str(wm.ACCURACY_STATES), "--json"))
            results[env_id] = {"gan": {**report, "pretrain_seconds": metrics["wall_seconds"]}}
            print(f"{env_id} gan: 1-step {report['one_step_mse']:.3g}, {wm.ACCURACY_HORIZON}-step "
                  f"{report['horizon_mse']}", file=sys.stderr)
    return results


def run(sections: tuple[str, ...] = ("frozenlake", "accuracy"), seeds: tuple[int, ...] = (0, 1, 2)
        ) -> dict[str, Any]:
    """The figures of the chosen sections (JSON-serialisable), each with the machine and its wall time."""
    results: dict[str, Any] = {}
    for section in sections:
        start = time.perf_counter()
        figures = frozenlake(list(seeds)) if section == "frozenlake" else accuracy()
        results[section] = {"machine": machine_info(), **figures, "section_seconds": time.perf_counter() - start}
    return results


def print_table(results: dict[str, Any]) -> None:
    if "frozenlake" in results:
        r = results["frozenlake"]
        rows = [[model, f"{r[model]['median_tv']:.3f}", f"{r[model]['median_floor']:.3f}",
                 " ".join(f"{run['tv']:.3f}" for run in r[model]["runs"])] for model in FROZENLAKE_MODELS]
        print(format_table(["model", "median TV", "noise floor", "TV per seed"], rows))
        print(f"gan / mlp TV: {r['gan_to_mlp_tv']:.2f} (target <= {TV_TARGET_RATIO}: "
              f"{'met' if r['target_met'] else 'not met'}); {r['samples']} samples per (s, a), "
              f"{r['gan']['runs'][0]['pairs']} pairs")
    if "accuracy" in results:
        rows = []
        for env_id, env_results in results["accuracy"].items():
            if isinstance(env_results, dict) and "gan" in env_results:
                g = env_results["gan"]
                rows.append([env_id, "gan", f"{g['one_step_mse']:.3g}", f"{g['no_change_mse'][0]:.3g}",
                             f"{g['mse'][-1]:.3g}", f"{g['no_change_mse'][-1]:.3g}", g["compared"][-1]])
        horizon = results["accuracy"]["horizon"]
        print(format_table(["env", "model", "1-step mse", "no change", f"{horizon}-step mse", "no change",
                            "envs at the last step"], rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sections", nargs="+", default=["frozenlake", "accuracy"],
                        choices=["frozenlake", "accuracy"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    results.update(run(tuple(args.sections), tuple(args.seeds)))
    write_json(args.out, results)
    print_table(results)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

"""MinAtar world models on frames: the `frame` model and the `gan` model (whose generator is the frame network) on
Breakout and Asterix, trained and measured through the `rlp` CLI, as a user would.

* Data: `DATA_STEPS` transitions of the uniform random policy per game (`rlp collect --policy random`, 64 envs).
* Training: `rlp pretrain configs/world_model_frame_breakout.yaml` (for Asterix with env.id and the dataset
  swapped), `steps` gradient steps; the gan the same way (same data, steps, batch and learning rate), with
  `pretrain.objective.model=GAN_MODEL`.
* Accuracy: `rlp model-eval --horizon 5 --num-envs 1000 --warmup 200`: per-cell accuracy and exact-frame match of
  the thresholded (point) prediction at 1 to 5 open-loop steps from 1000 random-policy states, next to "no
  change". The 200 warmup steps (a few episodes) mix the envs' episode clocks: after 30 steps most Asterix envs
  are still in their first episode, in step, and their entities all move on the same steps.
  Target: >= 99% per-cell accuracy at 1 step.
* Distributions: `rlp model-eval --horizon 1 --num-envs 200 --warmup 200 --distribution 200 --given
  state|observation`
  (rl_platform/distribution_eval.py): the total-variation distance between the model's next-frame distribution
  and the true env's (200 true replicas vs 200 model samples, exact frames), for the frame model's point
  prediction (the deterministic model), its Bernoulli samples and the gan's samples, with the noise floor (two
  independent true sets) next to them; the truth given the env's full state (200 random-policy states), and given
  only the observation (up to 200 observations that the random policy's states share at least 20 times; hidden
  variables vary). Target: gan <= 0.5x the deterministic model's.

Usage:
    .venv/bin/python benchmarks/world_models_frames.py [--games breakout asterix] [--models frame gan]
        [--steps 3000] [--workdir DIR] [--out JSON]
    (--workdir keeps the datasets and runs; a run already there is measured again, not retrained)
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import REPO_ROOT, format_table, machine_info, write_json
from pretraining import Workspace

CONFIG = REPO_ROOT / "configs" / "world_model_frame_breakout.yaml"
GAMES = {"breakout": "rlp/MinAtar-Breakout-v1", "asterix": "rlp/MinAtar-Asterix-v1"}
MODELS = ("frame", "gan")
# The gan (its generator: the frame network, with z as its extra input) plus its per-cell cross-entropy term; a
# smaller discriminator than the gan's default, so that a run takes about as long as the frame model's twice.
GAN_MODEL = ("{name: gan, next_obs_weight: 1.0, generator_hidden_sizes: [256], discriminator_channels: [16], "
             "discriminator_hidden_sizes: [128]}")
DATA_STEPS, TRAIN_STEPS, HORIZON, STATES, WARMUP = 100_000, 3000, 5, 1000, 200
DISTRIBUTION_STATES, DISTRIBUTION_SAMPLES = 200, 200
CELL_ACCURACY_TARGET, GAN_TV_TARGET_RATIO = 0.99, 0.5
GIVEN = ("state", "observation")  # the true distribution given the env's full state, or only the observation


def run(games: list[str] | None = None, models: list[str] | None = None, steps: int = TRAIN_STEPS,
        data_steps: int = DATA_STEPS, workdir: Path | None = None) -> dict[str, Any]:
    """Train and measure each model on each game (see the module docstring); the figures by game and model.
    With `workdir`, datasets and runs are kept there, and a finished run found there is measured, not retrained."""
    results: dict[str, Any] = {"data_steps": data_steps, "train_steps": steps, "horizon": HORIZON,
                               "states": STATES, "warmup": WARMUP, "distribution_states": DISTRIBUTION_STATES,
                               "distribution_samples": DISTRIBUTION_SAMPLES, "gan_model": GAN_MODEL}
    with tempfile.TemporaryDirectory(prefix="rlp_world_models_frames_") as tmp:
        ws = Workspace(workdir or Path(tmp))
        for game in games or list(GAMES):
            env_id, dataset = GAMES[game], f"bench/{game}-random-v0"
            if not (ws.root / "datasets" / dataset).is_dir():
                ws.rlp("collect", "--policy", "random", "--env", env_id, "--num-envs", "64", "--steps",
                       str(data_steps), "--out", dataset, "--seed", "0", "--json")
            game_results: dict[str, Any] = {"env": env_id}
            for model in models or list(MODELS):
                run_name = f"{game}_{model}"
                overrides = [] if model == "frame" else [f"pretrain.objective.model={GAN_MODEL}"]
                metrics_path = ws.run_dir(run_name) / "metrics.json"
                if metrics_path.is_file():
                    metrics = {**json.loads(metrics_path.read_text()), "wall_seconds": None}
                else:
                    metrics = ws.train(run_name, CONFIG, f"env.id={env_id}", f"pretrain.dataset={dataset}",
                                       f"pretrain.steps={steps}", *overrides, command="pretrain")
                run_dir = str(ws.run_dir(run_name))
                open_loop = json.loads(ws.rlp("model-eval", run_dir, "--horizon", str(HORIZON), "--num-envs",
                                              str(STATES), "--warmup", str(WARMUP), "--json"))
                distributions = {given: json.loads(ws.rlp(
                    "model-eval", run_dir, "--horizon", "1", "--num-envs", str(DISTRIBUTION_STATES), "--warmup",
                    str(WARMUP), "--distribution", str(DISTRIBUTION_SAMPLES), "--given", given, "--json")
                )["distribution"] for given in GIVEN}
                game_results[model] = {
                    "pretrain_seconds": metrics["wall_seconds"], "final_val": metrics["pretrain"]["final_val"],
                    **{key: open_loop[key] for key in ("cell_accuracy", "no_change_cell_accuracy", "frame_match",
                                                       "no_change_frame_match", "compared")},
                    "distribution": distributions}
                print(f"{game} {model}: 1-step cell accuracy {open_loop['cell_accuracy'][0]:.5f}, exact frames "
                      f"{open_loop['frame_match']}; TV (samples, point, floor) " + ", ".join(
                          f"given the {given}: {d['sample_tv']:.3f} {d['point_tv']:.3f} {d['noise_floor']:.3f}"
                          for given, d in distributions.items()), file=sys.stderr)
            add_targets(game_results)
            results[game] = game_results
    return results


def add_targets(game_results: dict[str, Any]) -> None:
    """The targets' verdicts, where their models were run: cell accuracy (frame) and the gan's TV ratio."""
    frame, gan = game_results.get("frame"), game_results.get("gan")
    if frame is not None:
        frame["cell_accuracy_target_met"] = bool(frame["cell_accuracy"][0] >= CELL_ACCURACY_TARGET)
    if frame is not None and gan is not None:
        for given in GIVEN:
            deterministic = frame["distribution"][given]["point_tv"]
            ratio = gan["distribution"][given]["sample_tv"] / deterministic if deterministic > 0 else None
            gan["distribution"][given]["vs_deterministic"] = ratio
            gan["distribution"][given]["target_met"] = bool(ratio is not None and ratio <= GAN_TV_TARGET_RATIO)


def print_table(results: dict[str, Any]) -> None:
    """Accuracy table (open loop) and distance table (next-frame distributions)."""
    accuracy_rows, distance_rows = [], []
    for game in GAMES:
        game_results = results.get(game)
        if not isinstance(game_results, dict):
            continue
        for model in MODELS:
            r = game_results.get(model)
            if r is None:
                continue
            matches = " ".join(f"{m:.3f}" for m in r["frame_match"])
            accuracy_rows.append([game, model, f"{r['cell_accuracy'][0]:.5f}", f"{r['no_change_cell_accuracy'][0]:.5f}",
                                  matches, f"{r['no_change_frame_match'][0]:.3f}", r["compared"][-1]])
            for given, d in r["distribution"].items():
                common = [f"{d['noise_floor']:.3f}", f"{d['stochastic_states']:.2f}", d["states"]]
                if model == "frame":
                    distance_rows.append([game, given, "frame (threshold)", f"{d['point_tv']:.3f}", *common, ""])
                    distance_rows.append([game, given, "frame (Bernoulli samples)", f"{d['sample_tv']:.3f}", *common,
                                          ""])
                else:
                    ratio = d.get("vs_deterministic")
                    distance_rows.append([game, given, model, f"{d['sample_tv']:.3f}", *common,
                                          "" if ratio is None else f"{ratio:.2f}x"])
    print(format_table(["game", "model", "1-step cell acc", "no change", f"exact frames 1..{HORIZON}",
                        "no change (1)", f"envs at step {HORIZON}"], accuracy_rows))
    print(format_table(["game", "given", "model", "TV to env", "noise floor", "stochastic states", "states",
                        "vs threshold"], distance_rows))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--games", nargs="+", default=list(GAMES), choices=list(GAMES))
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--steps", type=int, default=TRAIN_STEPS, help="gradient steps per model")
    parser.add_argument("--workdir", type=Path, help="keep datasets and runs here (finished runs are re-measured)")
    parser.add_argument("--out", type=Path, help="JSON file to merge the results into (by game and model)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    fresh = run(args.games, args.models, args.steps, workdir=args.workdir)
    results: dict[str, Any] = json.loads(args.out.read_text()) if args.out and args.out.is_file() else {}
    for key, value in fresh.items():
        if key in GAMES:
            results[key] = {**results.get(key, {}), **value}
            add_targets(results[key])
        else:
            results[key] = value
    results["machine"] = machine_info()
    results["seconds"] = time.perf_counter() - start
    if args.out:
        write_json(args.out, results)
    print_table(results)


if __name__ == "__main__":
    main()

"""`rlp`: train, evaluate and list. User mistakes print one message and exit with code 2."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence

from rl_platform.errors import UserError
from rl_platform.options import describe
from rl_platform.registry import Registry

EXIT_USER_ERROR = 2


def _add_run_arguments(parser: argparse.ArgumentParser, label: str, what: str) -> None:
    """--run-dir, --overwrite, --resume and --quiet, shared by `rlp train` and `rlp pretrain`."""
    parser.add_argument("--run-dir", help="run directory, new or empty (default: a new folder "
                        f"log.dir/<env>__{label}__<seed>__<time>[__<overrides>])")
    parser.add_argument("--overwrite", action="store_true", help="with --run-dir: replace the run already there")
    parser.add_argument("--resume", metavar="RUN_DIR", help=f"continue the {what}run in RUN_DIR from its last "
                        "checkpoint (overrides may change only train.* and log.log_every)")
    parser.add_argument("--quiet", action="store_true",
                        help="no progress output; only the run directory and the final metrics")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlp", description="rl_platform: train and evaluate RL agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an agent from a YAML config and key=value overrides")
    train.add_argument("args", nargs="*", metavar="[CONFIG.yaml] [key=value ...]",
                       help="config file (default: the bundled dqn_cartpole.yaml) and dotted overrides")
    _add_run_arguments(train, "<agent>", "")
    pre = sub.add_parser("pretrain", help="pretrain an agent's network on a dataset (a config with a `pretrain:` "
                         "section, e.g. bc_cartpole.yaml)")
    pre.add_argument("args", nargs="*", metavar="CONFIG.yaml [key=value ...]",
                     help="config file with a pretrain: section (dataset, objective, steps) and dotted overrides")
    _add_run_arguments(pre, "pretrain-<objective>", "pretraining ")
    probe = sub.add_parser("probe", help="linear probes of a run's (frozen) encoder on a dataset: reward and "
                           "action accuracy vs a random encoder")
    probe.add_argument("run_dir")
    probe.add_argument("--dataset", required=True, help="dataset id or directory (its spaces must be the run's env's)")
    probe.add_argument("--seed", type=int, default=0, help="seed of the episode split, the random encoder and "
                       "the probes' fits")
    probe.add_argument("--json", action="store_true", help="print one JSON object")
    model_eval = sub.add_parser("model-eval", help="open-loop errors of a run's learned world model against the "
                                "real env, from the same random-policy states")
    model_eval.add_argument("run_dir")
    model_eval.add_argument("--horizon", type=int, default=10, help="open-loop steps (default 10)")
    model_eval.add_argument("--num-envs", type=int, default=256, help="start states (one per env, default 256)")
    model_eval.add_argument("--seed", type=int, default=0, help="seed of the env reset and the random actions")
    model_eval.add_argument("--warmup", type=int, default=30, help="random vector steps before the start states "
                            "(default 30; the envs start together: a few episode lengths mix their episode clocks)")
    model_eval.add_argument("--distribution", type=int, default=0, metavar="SAMPLES",
                            help="also the total-variation distance between the model's and the env's next-state "
                            "distributions from --num-envs states, SAMPLES draws each (envs with exact replicas: "
                            "our Numba envs, e.g. MinAtar); default 0: off")
    model_eval.add_argument("--given", choices=["state", "observation"], default="state",
                            help="with --distribution: the true next-state distribution given the env's full state "
                            "(default) or given only the observation (states the random policy visits grouped by "
                            "observation)")
    model_eval.add_argument("--json", action="store_true", help="print one JSON object")
    col = sub.add_parser("collect", help="roll out a run's policy, random actions or a function and write the "
                         "episodes as a Minari dataset")
    col.add_argument("--from", dest="run_dir", metavar="RUN_DIR", help="a trained run: its greedy policy, in its env")
    col.add_argument("--policy", help="'random', or 'package.module:function' taking a batch of observations "
                     "(num_envs, *obs_shape) and returning one action per env")
    col.add_argument("--env", help="env id (needed with --policy; with --from, an env with the run's spaces)")
    col.add_argument("--num-envs", type=int, help="parallel envs (default: the run's env.num_envs, else 8); many "
                     "envs with few --episodes favours short episodes (the first to finish are kept)")
    col.add_argument("--episodes", type=int, help="keep exactly N complete episodes, the first N to finish")
    col.add_argument("--steps", type=int, help="collect until complete episodes hold >= N steps")
    col.add_argument("--out", required=True, help="dataset id, e.g. cartpole/expert-v0 (-v0 is appended without a "
                     "version), written under $MINARI_DATASETS_PATH or ~/.minari/datasets")
    col.add_argument("--epsilon", type=float, default=0.0, help="probability of a uniformly random action, per env "
                     "and step")
    col.add_argument("--seed", type=int, default=0, help="seed of the envs and the random actions")
    col.add_argument("--checkpoint", choices=("best", "last"), default="best", help="with --from: which checkpoint")
    col.add_argument("--json", action="store_true", help="print one JSON object")
    ev = sub.add_parser("eval", help="greedy evaluation of a run's saved policy")
    ev.add_argument("run_dir")
    ev.add_argument("--episodes", type=int, default=20)
    ev.add_argument("--seed", type=int, default=None, help="evaluation seed (default: from the run's seed)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    ev.add_argument("--checkpoint", choices=("best", "last"), default="best",
                    help="best (default): the policy of the run's best evaluation, the one a finished run "
                         "stands for; last: the latest checkpoint, which --resume continues")
    ls = sub.add_parser("list", help="registered agents and components (with their options), bundled configs, envs")
    ls.add_argument("--all", action="store_true", help="also the registered env ids that cannot be built here, "
                    "with what they need")
    ls.add_argument("--no-options", dest="options", action="store_false",
                    help="names and descriptions only, without each agent's and component's options")
    return parser


def _train(args: argparse.Namespace) -> int:
    """`rlp train` and `rlp pretrain` (same arguments; pretrain needs a config with a `pretrain:` section)."""
    from rl_platform import experiment

    run = experiment.pretrain if args.command == "pretrain" else experiment.train
    config_path = None
    overrides = list(args.args)
    if overrides and "=" not in overrides[0]:
        config_path = overrides.pop(0)
    if args.resume:
        if config_path is not None:
            raise UserError("--resume takes the config from the run directory; pass only key=value overrides.")
        if args.run_dir or args.overwrite:
            raise UserError("--resume continues the run in its own directory; --run-dir and --overwrite "
                            "are for new runs.")
        cfg = experiment.resume_config(args.resume, overrides)
        try:
            metrics = run(cfg, args.resume, quiet=args.quiet, resume=True, overrides=overrides)
        except experiment.RunFinished as finished:
            print(f"rlp: {finished}", file=sys.stderr)
            return EXIT_USER_ERROR if overrides else 0
    else:
        if args.overwrite and not args.run_dir:
            raise UserError("--overwrite replaces the run in --run-dir DIR; without --run-dir every run gets "
                            "a new directory.")
        notes: list[str] = []
        cfg = experiment.load_experiment(config_path, overrides, notes)
        for note in notes:
            print(f"rlp: note: {note}", file=sys.stderr)
        metrics = run(cfg, args.run_dir, quiet=args.quiet, overrides=overrides, overwrite=args.overwrite)
    print(json.dumps(metrics))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rl_platform import experiment

    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}.")
    result = experiment.evaluate_run(args.run_dir, args.episodes, args.seed, args.checkpoint)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['checkpoint']} checkpoint (step {result['checkpoint_step']:,}), {result['episodes']} "
              f"episodes: mean return {result['mean_return']:.2f} +/- {result['std_return']:.2f} "
              f"(min {result['min_return']:.1f}, max {result['max_return']:.1f})")
    return 0


def _probe(args: argparse.Namespace) -> int:
    from rl_platform.probe import format_probe, probe_run

    result = probe_run(args.run_dir, args.dataset, args.seed)
    print(json.dumps(result) if args.json else format_probe(result))
    return 0


def _model_eval(args: argparse.Namespace) -> int:
    from rl_platform.model_eval import evaluate_model, format_model_eval

    result = evaluate_model(args.run_dir, args.horizon, args.num_envs, args.seed, args.distribution, args.given,
                            args.warmup)
    print(json.dumps(result) if args.json else format_model_eval(result))
    return 0


def _collect(args: argparse.Namespace) -> int:
    from rl_platform.collect import collect, format_summary
    from rl_platform.datasets import dataset_id

    if dataset_id(args.out) != args.out:
        print(f"rlp: note: --out '{args.out}' has no version suffix; writing '{dataset_id(args.out)}'.",
              file=sys.stderr)
    result = collect(args.out, run_dir=args.run_dir, policy=args.policy, env_id=args.env, num_envs=args.num_envs,
                     episodes=args.episodes, steps=args.steps, epsilon=args.epsilon, seed=args.seed,
                     checkpoint=args.checkpoint)
    print(json.dumps(result) if args.json else format_summary(result))
    return 0


def _print_specs(title: str, registry: Registry, options: bool) -> None:
    """One registry's entries: name and description, then (with `options`) each option, its default and doc."""
    names = registry.names()
    print(f"{title}:" if names else f"{title}: none registered (entry-point group {registry.group})")
    for name in names:
        spec = registry.get(name)
        print(f"  {name:<12} {spec.description}")
        for option_name, default, doc in describe(spec.config_cls) if options else ():
            print(f"      {option_name} = {json.dumps(default)}: {doc}")


def _list(args: argparse.Namespace) -> int:
    from rl_platform.config import bundled_config_names
    from rl_platform.env_factory import env_availability
    from rl_platform.registry import AGENTS, DISCRIMINATORS, ENCODERS, HEADS, OBJECTIVES, WORLD_MODELS

    _print_specs("agents (agent.<option>)", AGENTS, args.options)
    _print_specs("encoders (model.encoder: {name: ..., <option>: ...})", ENCODERS, args.options)
    _print_specs("heads (model.head)", HEADS, args.options)
    _print_specs("world models", WORLD_MODELS, args.options)
    _print_specs("pretraining objectives", OBJECTIVES, args.options)
    _print_specs("discriminators (adversarial imitation)", DISCRIMINATORS, args.options)
    print("configs: " + ", ".join(bundled_config_names()))
    availability = env_availability()
    ready = [env_id for env_id, missing in availability.items() if missing is None]
    print("envs that build here (Gymnasium ids; any 'package.module:factory' works too):")
    for start in range(0, len(ready), 6):
        print("  " + "  ".join(ready[start:start + 6]))
    unavailable = {env_id: missing for env_id, missing in availability.items() if missing is not None}
    if args.all:
        print("registered but not buildable here:")
        for env_id, missing in unavailable.items():
            print(f"  {env_id:<32} {missing}")
    elif unavailable:
        print(f"({len(unavailable)} more registered ids cannot be built here; `rlp list --all` says what they need)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from rl_platform.run import TrainingInterrupted

    try:
        return {"train": _train, "pretrain": _train, "probe": _probe, "model-eval": _model_eval, "collect": _collect,
                "eval": _eval, "list": _list}[args.command](args)
    except UserError as exc:
        print(f"rlp: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except TrainingInterrupted as exc:
        message = str(exc)
        if args.command == "pretrain":  # the run continues with the command that started it
            message = message.replace("rlp train --resume", "rlp pretrain --resume")
        print(f"\nrlp: interrupted by {message}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())

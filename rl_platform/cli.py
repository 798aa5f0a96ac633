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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlp", description="rl_platform: train and evaluate RL agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an agent from a YAML config and key=value overrides")
    train.add_argument("args", nargs="*", metavar="[CONFIG.yaml] [key=value ...]",
                       help="config file (default: the bundled dqn_cartpole.yaml) and dotted overrides")
    train.add_argument("--run-dir", help="run directory, new or empty (default: a new folder "
                       "log.dir/<env>__<agent>__<seed>__<time>[__<overrides>])")
    train.add_argument("--overwrite", action="store_true", help="with --run-dir: replace the run already there")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint "
                       "(overrides may change only train.* and log.log_every)")
    train.add_argument("--quiet", action="store_true",
                       help="no progress output; only the run directory and the final metrics")
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
    from rl_platform import experiment

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
            metrics = experiment.train(cfg, args.resume, quiet=args.quiet, resume=True, overrides=overrides)
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
        metrics = experiment.train(cfg, args.run_dir, quiet=args.quiet, overrides=overrides,
                                   overwrite=args.overwrite)
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
    from rl_platform.registry import AGENTS, ENCODERS, HEADS, OBJECTIVES, WORLD_MODELS

    _print_specs("agents (agent.<option>)", AGENTS, args.options)
    _print_specs("encoders (model.encoder: {name: ..., <option>: ...})", ENCODERS, args.options)
    _print_specs("heads (model.head)", HEADS, args.options)
    _print_specs("world models", WORLD_MODELS, args.options)
    _print_specs("pretraining objectives", OBJECTIVES, args.options)
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
        return {"train": _train, "eval": _eval, "list": _list}[args.command](args)
    except UserError as exc:
        print(f"rlp: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except TrainingInterrupted as exc:
        print(f"\nrlp: interrupted by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        return 128 + signal.SIGINT


if __name__ == "__main__":
    sys.exit(main())

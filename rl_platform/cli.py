"""`rlp`: train, evaluate and list. User mistakes print one message and exit with code 2."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence

from rl_platform.errors import UserError

EXIT_USER_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlp", description="rl_platform: train and evaluate RL agents.")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train an agent from a YAML config and key=value overrides")
    train.add_argument("args", nargs="*", metavar="[CONFIG.yaml] [key=value ...]",
                       help="config file (default: the bundled dqn_cartpole.yaml) and dotted overrides")
    train.add_argument("--run-dir", help="run directory (default: log.dir/<env>__<agent>__<seed>__<time>)")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="no progress output")
    ev = sub.add_parser("eval", help="greedy evaluation of a run's saved policy")
    ev.add_argument("run_dir")
    ev.add_argument("--episodes", type=int, default=20)
    ev.add_argument("--seed", type=int, default=None, help="evaluation seed (default: from the run's seed)")
    ev.add_argument("--json", action="store_true", help="print one JSON object")
    sub.add_parser("list", help="registered agents, encoders, heads, envs and bundled configs")
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
        cfg = experiment.resume_config(args.resume, overrides)
        metrics = experiment.train(cfg, args.resume, quiet=args.quiet, resume=True)
    else:
        cfg = experiment.load_experiment(config_path, overrides)
        metrics = experiment.train(cfg, args.run_dir, quiet=args.quiet)
    if args.quiet:
        return 0
    print(json.dumps(metrics))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from rl_platform import experiment

    if args.episodes < 1:
        raise UserError(f"--episodes must be at least 1, got {args.episodes}.")
    result = experiment.evaluate_run(args.run_dir, args.episodes, args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{result['episodes']} episodes: mean return {result['mean_return']:.2f} "
              f"+/- {result['std_return']:.2f} (min {result['min_return']:.1f}, max {result['max_return']:.1f})")
    return 0


def _list(args: argparse.Namespace) -> int:
    from rl_platform.config import bundled_config_names
    from rl_platform.env_factory import registered_env_ids
    from rl_platform.registry import AGENTS, ENCODERS, HEADS

    print("agents:")
    for name in AGENTS.names():
        print(f"  {name:<12} {AGENTS.get(name).description}")
    print("encoders: " + ", ".join(ENCODERS.names()))
    print("heads: " + ", ".join(HEADS.names()))
    print("configs: " + ", ".join(bundled_config_names()))
    print("envs (Gymnasium ids; any 'package.module:factory' works too):")
    ids = registered_env_ids()
    for start in range(0, len(ids), 6):
        print("  " + "  ".join(ids[start:start + 6]))
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

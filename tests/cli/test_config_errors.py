"""User mistakes on the `rlp` command line: one message naming the key path, exit code 2.

Every case checks that `rlp` exits with code 2, prints exactly one `rlp: error:` line that names
what is wrong (the key path, for config keys), prints no traceback and nothing on stdout, and
leaves no run directory behind (nothing was trained).

All cases run in-process through `rl_platform.cli.main` (fast); the cases marked `process=True`
(one per kind of mistake) also run the real console script, `python -m rl_platform.cli`, as a
subprocess in its own empty directory. Those run concurrently, since each mostly imports torch.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from rl_platform import cli

GOOD_YAML = """\
seed: 1
agent:
  name: dqn
  lr: 5.0e-4
env:
  id: CartPole-v1
  num_envs: 2
train:
  total_steps: 100
"""


@dataclass(frozen=True)
class Case:
    id: str
    args: tuple[str, ...]
    expected: tuple[str, ...]  # substrings of the one error line
    files: dict[str, str | bytes] = field(default_factory=dict)
    process: bool = False  # also run as a real subprocess


CASES = [
    # unknown keys, with did-you-mean
    Case("unknown-agent-key-synonym", ("train", "agent.learning_rate=1e-3"),
         ("'agent.learning_rate'", "unknown key", "Did you mean 'lr'?"), process=True),
    Case("unknown-env-key-typo", ("train", "env.num_env=4"),
         ("'env.num_env'", "Did you mean 'num_envs'?")),
    Case("unknown-train-key", ("train", "train.steps=4"),
         ("'train.steps'", "Valid keys under 'train'")),
    Case("unknown-section", ("train", "optimizer.lr=1e-3"),
         ("'optimizer'", "unknown top-level key"), process=True),
    Case("unknown-section-typo", ("train", "trian.total_steps=10"),
         ("'trian'", "Did you mean 'train'?")),
    # wrong types
    Case("type-int-from-word", ("train", "env.num_envs=abc"),
         ("'env.num_envs'", "expected int", "'abc'"), process=True),
    Case("type-int-from-fraction", ("train", "env.num_envs=2.5"),
         ("'env.num_envs'", "expected int")),
    Case("type-bool-from-int", ("train", "agent.double=3"),
         ("'agent.double'", "expected bool", "3"), process=True),
    Case("type-float-from-word", ("train", "agent.lr=fast"), ("'agent.lr'", "expected float")),
    Case("type-list-item", ("train", "model.hidden_sizes=[64,big]"),
         ("'model.hidden_sizes[1]'", "expected int")),
    Case("type-section-is-value", ("train", "env=3"), ("'env'", "expected a mapping")),
    Case("type-value-is-section", ("train", "seed.x=1"), ("'seed'", "not a section")),
    # out of range / not one of the choices
    Case("range-lr-negative", ("train", "agent.lr=-0.1"),
         ("'agent.lr'", "greater than 0", "-0.1"), process=True),
    Case("range-num-envs-zero", ("train", "env.num_envs=0"),
         ("'env.num_envs'", "at least 1", "0"), process=True),
    Case("range-gamma-above-one", ("train", "agent.gamma=1.5"),
         ("'agent.gamma'", "at most 1", "1.5"), process=True),
    Case("range-seed-negative", ("train", "seed=-1"), ("'seed'", "at least 0")),
    Case("choice-activation", ("train", "model.activation=sigmoid"),
         ("'model.activation'", "'sigmoid'", "'relu'")),
    # unknown registered names
    Case("unknown-agent", ("train", "agent.name=dqm"),
         ("'agent.name'", "unknown agent 'dqm'", "Did you mean 'dqn'?"), process=True),
    Case("unknown-agent-short-form", ("train", "agent=dqm"),
         ("'agent.name'", "Did you mean 'dqn'?")),
    Case("unknown-encoder", ("train", "model.encoder=mlpp"),
         ("'model.encoder'", "unknown encoder 'mlpp'", "Did you mean 'mlp'?"), process=True),
    Case("unknown-encoder-nested", ("train", "model.encoder.name=cnnn"),
         ("'model.encoder.name'", "unknown encoder 'cnnn'", "Did you mean 'cnn'?")),
    Case("unknown-head", ("train", "model.head=dueling"),
         ("'model.head'", "unknown head 'dueling'", "Did you mean 'dueling_q'?")),
    # component options
    Case("unknown-encoder-option", ("train", "model.encoder.hidden_size=[8]"),
         ("'model.encoder.hidden_size'", "unknown option of the 'mlp' encoder", "Did you mean 'hidden_sizes'?"),
         process=True),
    Case("encoder-option-of-another-encoder", ("train", "model.encoder=transformer", "model.encoder.channels=[8]"),
         ("'model.encoder.channels'", "unknown option of the 'transformer' encoder")),
    Case("encoder-option-type", ("train", "model.encoder=cnn", "model.encoder.features_dim=wide"),
         ("'model.encoder.features_dim'", "expected int")),
    Case("encoder-option-range", ("train", "model.encoder=transformer", "model.encoder.dropout=1"),
         ("'model.encoder.dropout'", "less than 1")),
    Case("encoder-option-check", ("train", "model.encoder=transformer", "model.encoder.heads=3"),
         ("'model.encoder.heads'", "3 heads do not divide width 64")),
    Case("old-key-of-another-encoder", ("train", "model.cnn_channels=[8]"),
         ("'model.cnn_channels'", "the 'mlp' encoder has no option 'channels'")),
    Case("head-option-unknown", ("train", "model.head={name: q, width: 3}"),
         ("'model.head.width'", "unknown option of the 'q' head")),
    Case("unknown-env-id", ("train", "env.id=CartPol-v1"),
         ("'env.id'", "'CartPol-v1'", "Did you mean 'CartPole-v1'?"), process=True),
    Case("env-factory-module-missing", ("train", "env.id=no_such_module_xyz:make_env"),
         ("'env.id'", "cannot import module 'no_such_module_xyz'"), process=True),
    Case("env-factory-attr-missing", ("train", "env.id=json:no_such_factory"),
         ("'env.id'", "module 'json' has no callable 'no_such_factory'")),
    # config files
    Case("file-missing", ("train", "missing.yaml"), ("'missing.yaml'", "no such file"),
         process=True),
    Case("file-missing-with-override", ("train", "missing.yaml", "seed=1"),
         ("'missing.yaml'", "no such file")),
    Case("file-invalid-yaml", ("train", "bad.yaml"), ("'bad.yaml'", "invalid YAML at line 3"),
         {"bad.yaml": "agent:\n  lr: 1.0e-3\n bad_indent: 2\n"}, process=True),
    Case("file-unclosed-flow", ("train", "flow.yaml"), ("'flow.yaml'", "invalid YAML"),
         {"flow.yaml": "agent: {lr: 1.0e-3\n"}),
    Case("file-not-utf8", ("train", "binary.yaml"), ("'binary.yaml'", "codec can't decode"),
         {"binary.yaml": b"agent: \xff\xfe\x00\x81\n"}),
    Case("file-not-a-mapping", ("train", "list.yaml"), ("'list.yaml'", "must hold a mapping"),
         {"list.yaml": "- 1\n- 2\n"}),
    Case("file-bad-agent-key", ("train", "exp.yaml"), ("'agent.epsilon'", "unknown key"),
         {"exp.yaml": GOOD_YAML.replace("  lr: 5.0e-4\n", "  lr: 5.0e-4\n  epsilon: 0.1\n")},
         process=True),
    Case("file-bad-section", ("train", "exp.yaml"), ("'models'", "Did you mean 'model'?"),
         {"exp.yaml": GOOD_YAML + "models:\n  encoder: mlp\n"}),
    Case("file-bad-value", ("train", "exp.yaml"), ("'train.total_steps'", "at least 1"),
         {"exp.yaml": GOOD_YAML.replace("total_steps: 100", "total_steps: -5")}),
    Case("file-non-string-key", ("train", "exp.yaml"), ("'1'", "unknown top-level key"),
         {"exp.yaml": GOOD_YAML + "1: one\nzzz: two\n"}),
    Case("file-good-override-bad", ("train", "exp.yaml", "agent.gamma=2"),
         ("'agent.gamma'", "at most 1"), {"exp.yaml": GOOD_YAML}),
    # malformed overrides
    Case("override-without-equals", ("train", "seed=1", "agent.lr"),
         ("'agent.lr'", "not of the form key.path=value"), process=True),
    Case("override-without-equals-after-file", ("train", "exp.yaml", "agent.lr"),
         ("'agent.lr'", "not of the form key.path=value"), {"exp.yaml": GOOD_YAML}),
    Case("override-without-key", ("train", "seed=1", "=3"),
         ("'=3'", "not of the form key.path=value")),
    # run directories that are not
    Case("resume-not-a-run", ("train", "--resume", "nowhere"),
         ("'nowhere'", "not a run directory")),
    Case("eval-not-a-run", ("eval", "nowhere", "--episodes", "2", "--json"),
         ("'nowhere'", "not a run directory"), process=True),
    Case("eval-zero-episodes", ("eval", "nowhere", "--episodes", "0"),
         ("--episodes", "at least 1")),
]
PROCESS_CASES = [case for case in CASES if case.process]


def _write_files(case: Case, cwd: Path) -> None:
    for name, content in case.files.items():
        if isinstance(content, bytes):
            (cwd / name).write_bytes(content)
        else:
            (cwd / name).write_text(content)


def _check(case: Case, cwd: Path, code: int, stdout: str, stderr: str) -> None:
    assert code == 2, (code, stdout, stderr)
    assert "Traceback" not in stderr, stderr
    assert stdout == ""
    error_lines = [line for line in stderr.splitlines() if line.startswith("rlp: error:")]
    assert len(error_lines) == 1, stderr
    (message,) = error_lines
    for expected in case.expected:
        assert expected in message, f"{expected!r} not in {message!r}"
    # Nothing ran: the directory holds exactly the files the case wrote (no runs/, no run dir).
    assert sorted(p.name for p in cwd.iterdir()) == sorted(case.files)


def _run_process(case: Case, cwd: Path) -> subprocess.CompletedProcess[str]:
    _write_files(case, cwd)
    return subprocess.run([sys.executable, "-m", "rl_platform.cli", *case.args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def process_results(tmp_path_factory: pytest.TempPathFactory):
    """Run the subprocess cases in the background, one at a time; each test waits for its own.

    One worker: spawning processes from several threads at once once failed with EFAULT in CI.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        futures: dict[str, tuple[Path, Future]] = {}
        for case in PROCESS_CASES:
            cwd = tmp_path_factory.mktemp(case.id)
            futures[case.id] = (cwd, pool.submit(_run_process, case, cwd))
        yield futures


def test_case_ids_are_unique():
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_user_mistake_in_process(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]):
    monkeypatch.chdir(tmp_path)
    _write_files(case, tmp_path)
    code = cli.main(list(case.args))
    out, err = capsys.readouterr()
    _check(case, tmp_path, code, out, err)


@pytest.mark.parametrize("case", PROCESS_CASES, ids=[case.id for case in PROCESS_CASES])
def test_user_mistake_real_process(case: Case, process_results):
    cwd, future = process_results[case.id]
    proc = future.result()
    _check(case, cwd, proc.returncode, proc.stdout, proc.stderr)

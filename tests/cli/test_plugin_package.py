"""A third-party package adds an agent and an encoder through entry points, without touching rl_platform.

The test writes a tiny out-of-tree package (the recipe, file by file, in PLUGIN_FILES), installs it with pip
into a folder of its own (never into the test environment), and runs `rlp` with that folder on PYTHONPATH:
`rlp list` shows both plugins with their options, `rlp train` runs the plugin agent on the core trainer with
the plugin encoder and writes a run directory, `rlp eval` loads it, and a mistyped option of either plugin is a
config error with a did-you-mean (exit code 2).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from rl_platform.checkpoint import load_checkpoint
from tests.conftest import rlp_command

PLUGIN_FILES = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=61"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "rlp-plugin-example"
        version = "0.1.0"
        dependencies = ["rl_platform"]

        [tool.setuptools]
        packages = ["rlp_plugin"]

        # entry point name = the registered name; value = the module that registers it when imported
        [project.entry-points."rl_platform.encoders"]
        plugin_mlp = "rlp_plugin.encoder"

        [project.entry-points."rl_platform.agents"]
        plugin_agent = "rlp_plugin.agent"
    """,
    "rlp_plugin/__init__.py": '''
        """An example rl_platform plugin: the `plugin_mlp` encoder and the `plugin_agent` agent."""
    ''',
    "rlp_plugin/encoder.py": '''
        """`plugin_mlp`: one hidden layer of `width` units (model.encoder: {name: plugin_mlp, width: 32})."""

        from dataclasses import dataclass

        import gymnasium as gym
        import numpy as np
        from torch import nn

        from rl_platform.config import option
        from rl_platform.registry import ENCODERS, ComponentSpec


        @dataclass
        class PluginMLPConfig:
            width: int = option(32, "units of the hidden layer", ge=1)


        class PluginMLP(nn.Module):
            def __init__(self, observation_space: gym.spaces.Box, cfg: PluginMLPConfig) -> None:
                super().__init__()
                in_dim = int(np.prod(observation_space.shape))
                self.layers = nn.Sequential(nn.Flatten(), nn.Linear(in_dim, cfg.width), nn.Tanh())
                self.out_dim = cfg.width  # every encoder says how wide its features are

            def forward(self, obs):
                return self.layers(obs.float())


        ENCODERS.register("plugin_mlp", ComponentSpec(
            name="plugin_mlp", config_cls=PluginMLPConfig, build=PluginMLP,
            description="example plugin: one tanh layer of `width` units"))
    ''',
    "rlp_plugin/agent.py": '''
        """`plugin_agent`: a softmax policy on the configured encoder, pushed towards actions with high
        immediate reward (a toy update; the point is the wiring: options, encoder, trainer, checkpoints)."""

        from dataclasses import dataclass

        import numpy as np
        import torch
        from torch import nn

        from rl_platform.config import option
        from rl_platform.nn import build_encoder
        from rl_platform.policy import StatelessPolicy, load_optimizer_states, optimizer_states
        from rl_platform.registry import AGENTS, AgentSpec
        from rl_platform.rollout import VectorStepper
        from rl_platform.trainer import Advance, TrainLoop, fit


        @dataclass
        class PluginAgentConfig:
            lr: float = option(0.01, "Adam learning rate", gt=0)
            action: int = option(-1, "always play this action (-1: the policy's)", ge=-1)


        class PluginAgent(StatelessPolicy):
            """A policy (act) and a learner (update, named optimizers): the configured encoder (model.encoder)
            + a linear layer."""

            def __init__(self, cfg, envs) -> None:
                self.cfg = cfg.agent
                encoder = build_encoder(envs.single_observation_space, cfg.model)
                self.net = nn.Sequential(encoder, nn.Linear(encoder.out_dim, int(envs.single_action_space.n)))
                self.optimizers = {"policy": torch.optim.Adam(self.net.parameters(), lr=cfg.agent.lr)}

            def logits(self, obs: np.ndarray) -> torch.Tensor:
                return self.net(torch.as_tensor(obs))

            def act(self, obs, state=None, explore=False):
                with torch.no_grad():
                    logits = self.logits(obs)
                if self.cfg.action >= 0:
                    actions = torch.full((len(obs),), self.cfg.action)
                elif explore:
                    actions = torch.distributions.Categorical(logits=logits).sample()
                else:
                    actions = logits.argmax(dim=-1)
                return actions.numpy(), None

            def update(self, batch) -> dict[str, float]:
                """One gradient step on a vector step's transitions (rl_platform.rollout.Transitions)."""
                log_probs = torch.log_softmax(self.logits(batch.obs), dim=-1)
                log_probs = log_probs.gather(1, torch.as_tensor(batch.actions)[:, None])[:, 0]
                weights = torch.as_tensor(batch.rewards * batch.valid, dtype=torch.float32)
                loss = -(log_probs * weights).mean()
                self.optimizers["policy"].zero_grad()
                loss.backward()
                self.optimizers["policy"].step()
                return {"policy_loss": loss.item()}

            def state_dict(self):
                return {"net": self.net.state_dict(), "optimizers": optimizer_states(self.optimizers)}

            def load_state_dict(self, state):
                self.net.load_state_dict(state["net"])
                if "optimizers" in state:
                    load_optimizer_states(self.optimizers, state)


        def make_agent(cfg, envs, device=None) -> PluginAgent:
            return PluginAgent(cfg, envs)


        class PluginLoop(TrainLoop):
            """One vector step and one update per `advance`; the core trainer does the rest."""

            def __init__(self, run) -> None:
                self.envs = run.make_envs()
                self.policy = self.agent = make_agent(run.cfg, self.envs)
                run.init_model(self.agent.net)  # model.init_from / model.freeze
                self.stepper = VectorStepper(self.envs, seed=run.env_seed)

            def advance(self, step: int, max_steps: int) -> Advance:
                actions, _ = self.agent.act(self.stepper.obs, explore=True)
                batch = self.stepper.step(actions)
                stats = self.agent.update(batch)
                return Advance(step + self.envs.num_envs, batch.episode_returns, batch.episode_lengths, stats)

            def state_dict(self):
                return {"agent": self.agent.state_dict(), "model": self.agent.net.state_dict()}

            def load_state_dict(self, state):
                self.agent.load_state_dict(state["agent"])

            def close(self) -> None:
                self.envs.close()


        def train(run):
            return fit(run, PluginLoop(run))


        AGENTS.register("plugin_agent", AgentSpec(
            name="plugin_agent", config_cls=PluginAgentConfig, train=train, make_agent=make_agent,
            description="example plugin: a softmax policy on the configured encoder"))
    ''',
}
TRAIN = ["train", "agent=plugin_agent", "model.encoder=plugin_mlp", "model.encoder.width=8", "env.id=CartPole-v1",
         "env.num_envs=4", "train.total_steps=400", "train.eval_every=200", "train.eval_episodes=2",
         "train.stop_return=null"]


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package, written out and installed with pip into a folder of its own."""
    root = tmp_path_factory.mktemp("plugin")
    package, site = root / "rlp-plugin-example", root / "site"
    for name, text in PLUGIN_FILES.items():
        (package / name).parent.mkdir(parents=True, exist_ok=True)
        (package / name).write_text(textwrap.dedent(text).lstrip())
    pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index", "-q",
           "--target", str(site), str(package)]
    installed = subprocess.run(pip, capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (site / "rlp_plugin" / "agent.py").is_file()
    return site


@pytest.fixture
def rlp_with_plugin(plugin_site: Path, tmp_path: Path):
    """Run `rlp ARGS...` in tmp_path with the plugin's folder on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(plugin_site),
                                                                      os.environ.get("PYTHONPATH")]))}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(rlp_command(*args), cwd=tmp_path, capture_output=True, text=True, timeout=300,
                              env=env)

    return run


def test_the_plugin_is_not_installed_in_the_test_environment():
    from rl_platform.registry import AGENTS, ENCODERS

    assert "plugin_agent" not in AGENTS.names() and "plugin_mlp" not in ENCODERS.names()


def test_rlp_list_shows_the_plugin_agent_and_encoder_with_their_options(rlp_with_plugin):
    listed = rlp_with_plugin("list")
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
    agents, encoders = out.split("\nencoders")[0], out.split("\nencoders")[1].split("\nheads")[0]
    assert "  plugin_agent " in agents and "example plugin: a softmax policy" in agents
    assert "      action = -1: always play this action" in agents
    assert "  plugin_mlp " in encoders and "      width = 32: units of the hidden layer" in encoders
    assert "  mlp " in encoders and "  dqn " in agents  # the built-ins are still there


def test_rlp_train_runs_the_plugin_agent_with_the_plugin_encoder(rlp_with_plugin, tmp_path: Path):
    trained = rlp_with_plugin(*TRAIN, "--run-dir", "run", "--quiet")
    assert trained.returncode == 0, trained.stderr
    run = tmp_path / "run"
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["global_step"] >= 400 and metrics["eval_episodes"] == 2
    config = (run / "config.yaml").read_text()
    assert "name: plugin_agent" in config and "name: plugin_mlp" in config and "width: 8" in config
    state = load_checkpoint(run / "checkpoints" / "latest.pt")
    weight = state["agent"]["net"]["0.layers.1.weight"]  # the plugin encoder's layer, 8 units on 4 inputs
    assert isinstance(weight, torch.Tensor) and weight.shape == (8, 4)
    assert state["agent"]["optimizers"]["policy"]["state"]  # the learner's named optimizer, with its statistics
    assert torch.equal(state["model"]["0.layers.1.weight"], weight)  # what model.init_from would read
    evaluated = rlp_with_plugin("eval", "run", "--episodes", "2", "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["episodes"] == 2


@pytest.mark.parametrize(("override", "expected"), [
    ("model.encoder.widht=3", ("'model.encoder.widht'", "unknown option of the 'plugin_mlp' encoder",
                               "Did you mean 'width'?")),
    ("model.encoder.width=0", ("'model.encoder.width'", "at least 1")),
    ("agent.actoin=1", ("'agent.actoin'", "unknown key", "Did you mean 'action'?")),
])
def test_a_wrong_plugin_option_is_a_config_error(rlp_with_plugin, tmp_path: Path, override, expected):
    failed = rlp_with_plugin(*TRAIN, override)
    assert failed.returncode == 2, (failed.stdout, failed.stderr)
    assert "Traceback" not in failed.stderr and failed.stdout == ""
    (message,) = [line for line in failed.stderr.splitlines() if line.startswith("rlp: error:")]
    for text in expected:
        assert text in message, (text, message)
    assert not (tmp_path / "runs").exists()

"""A3C / A2C agent; importing this module registers it as 'a3c'."""

import torch

from rl_platform.agents.a3c.a3c import A3CAgent, A3CConfig, make_agent, train
from rl_platform.nn import CategoricalHead, GaussianHead
from rl_platform.objectives import AgentNetwork
from rl_platform.registry import AGENTS, AgentSpec

TANH_EDGE = 1e-6  # actions at the bounds map to atanh(+-(1 - TANH_EDGE)) ~ +-7.3 instead of infinity


def run_label(cfg: A3CConfig) -> str:
    """`a2c` for the synchronous mode, `a3c` / `a3c-ray` for worker processes / Ray actors."""
    if cfg.mode == "sync":
        return "a2c"
    return "a3c-ray" if cfg.backend == "ray" else "a3c"


def raw_actions(head: torch.nn.Module, actions: torch.Tensor) -> torch.Tensor:
    """The raw action the policy head samples that the env action `actions` came from (the inverse of
    `head.env_actions`): minus the space's start for a categorical head; for a Gaussian the action itself when
    clipped (dataset actions lie within the bounds) or atanh of the action rescaled to [-1, 1] when tanh-squashed."""
    if isinstance(head, CategoricalHead):
        return actions.long() - head.start
    flat = actions.reshape(actions.shape[0], -1).float()
    if isinstance(head, GaussianHead) and head.squash == "tanh":
        low, high = (torch.as_tensor(bound, device=flat.device) for bound in (head.low, head.high))
        unit = (2.0 * (flat - low) / (high - low) - 1.0).clamp(-1.0 + TANH_EDGE, 1.0 - TANH_EDGE)
        return torch.atanh(unit)
    return flat


def pretrain_network(agent: A3CAgent) -> AgentNetwork:
    """What `rlp pretrain` trains: the actor (`actor_encoder` + `policy_head`; `bc` maximises the policy's
    log-likelihood of the dataset's actions). A separate `critic_encoder` (agent.shared_encoder: false) is not
    trained: load the pretrained encoder with `model.init_modules: [actor_encoder]`."""
    model = agent.model
    return AgentNetwork(model=model, encoder=model.actor_encoder, policy=model.policy,
                        raw_actions=lambda actions: raw_actions(model.policy_head, actions))


AGENTS.register("a3c", AgentSpec(
    name="a3c", config_cls=A3CConfig, train=train, make_agent=make_agent, label=run_label,
    pretrain_network=pretrain_network,
    description="A3C: asynchronous workers (processes or Ray actors) on a shared model, or synchronous A2C; "
                "discrete and continuous actions",
))

__all__ = ["A3CAgent", "A3CConfig", "make_agent", "pretrain_network", "train"]

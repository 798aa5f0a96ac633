"""A3C / A2C agent; importing this module registers it as 'a3c'."""

from rl_platform.agents.a3c.a3c import A3CAgent, A3CConfig, make_agent, train
from rl_platform.registry import AGENTS, AgentSpec


def run_label(cfg: A3CConfig) -> str:
    """`a2c` for the synchronous mode, `a3c` / `a3c-ray` for worker processes / Ray actors."""
    if cfg.mode == "sync":
        return "a2c"
    return "a3c-ray" if cfg.backend == "ray" else "a3c"


AGENTS.register("a3c", AgentSpec(
    name="a3c", config_cls=A3CConfig, train=train, make_agent=make_agent, label=run_label,
    description="A3C: asynchronous workers (processes or Ray actors) on a shared model, or synchronous A2C; "
                "discrete and continuous actions",
))

__all__ = ["A3CAgent", "A3CConfig", "make_agent", "train"]

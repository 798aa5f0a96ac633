"""Toy-text envs in Numba (FrozenLake, Taxi, CliffWalking), matching Gymnasium's references."""

# (factory(**kwargs) -> NumbaEnvDef, max_episode_steps) for every env registered as rlp/<name>.
TOY_TEXT: list = []

__all__ = ["TOY_TEXT"]

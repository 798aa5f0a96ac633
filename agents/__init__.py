"""Agents (installed as `rl_platform.agents`): each registers itself with `rl_platform.registry.AGENTS`."""

"""Environments (installed as `rl_platform.envs`)."""

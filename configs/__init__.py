"""Experiment configs shipped with the package (installed as `rl_platform.configs`)."""

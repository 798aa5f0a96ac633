"""Adversarial imitation: discriminators, the adversarial reward, expert data."""

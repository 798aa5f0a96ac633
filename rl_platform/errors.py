"""User-facing errors: raised for mistakes a user can fix; the CLI prints them and exits with code 2."""

from __future__ import annotations


class UserError(Exception):
    """A mistake in the user's input (config, command line, env); shown without a traceback."""


class ConfigError(UserError):
    """A config key is unknown, has the wrong type or an out-of-range value."""

    def __init__(self, key_path: str, message: str) -> None:
        self.key_path = key_path
        self.detail = message
        super().__init__(f"config key '{key_path}': {message}" if key_path else message)


class EnvError(UserError):
    """An environment id cannot be made, or the env breaks the Gymnasium API."""


class TrainingFailed(UserError):
    """Training stopped because a part of it failed (e.g. a worker process died); a checkpoint was saved."""

"""Errors meant for users: they name the problem and the fix, and the CLI shows them without a traceback."""


class UserError(Exception):
    """A mistake the user can fix (bad input, missing data). The CLI exits 2 and prints the message."""

    exit_code = 2


class DataError(UserError):
    """The MNIST files are missing, truncated or corrupt."""


class ConfigError(UserError, ValueError):
    """A training setting is out of range."""

"""Errors a user can cause, and how the runner reports them: one line, exit code 2, no traceback."""
from __future__ import annotations

from adalora import AdaLoRAError
from tasks import DataError


class ConfigError(ValueError):
    """A configuration value that cannot work. The message says what to change."""


USER_ERRORS = (ConfigError, AdaLoRAError, DataError)
EXIT_USER_ERROR = 2


class RunFailed(RuntimeError):
    """The run started but could not finish (it diverged); its record says `failed` and why."""


EXIT_RUN_FAILED = 1

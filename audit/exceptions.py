"""Errors and warnings raised by fairness-audit.

Every error derives from :class:`AuditError`, so callers (and the CLI) can catch one class.
Each message names the argument or column, what was found, and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "AuditError",
    "InputError",
    "ModelError",
    "ConfigError",
    "AuditWarning",
    "NonDeterministicModelWarning",
]


class AuditError(Exception):
    """Base class of every error raised by fairness-audit."""

    #: short machine-readable reason code, e.g. ``"missing_column"``
    code: str = "audit_error"

    def __init__(self, message: str, *, code: str | None = None, column: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code
        self.column = column


class InputError(AuditError, ValueError):
    """The data, labels, predictions or scores are unusable as given."""

    code = "input_error"


class ModelError(AuditError, RuntimeError):
    """The model raised, or returned something of the wrong shape or kind."""

    code = "model_error"


class ConfigError(AuditError, ValueError):
    """An option, configuration file or policy is invalid."""

    code = "config_error"


class AuditWarning(UserWarning):
    """Base class of warnings issued by fairness-audit."""


class NonDeterministicModelWarning(AuditWarning):
    """Two predictions of the model on the same rows differed."""

"""The project's own error types.

Every error raised on bad input is a :class:`VolterraError` (a ``ValueError``),
whose message names the argument, what was received, and what to do.
"""

from __future__ import annotations


class VolterraError(ValueError):
    """Base class of every error volterra_sym raises on bad input."""


class ModelError(VolterraError):
    """A model was specified inconsistently (shapes, symbols, values)."""


class ExpressionError(VolterraError):
    """An expression string was malformed or unsafe."""


class NotLinearError(VolterraError):
    """Exact closed forms were requested for a model outside the linear-SRNN class."""


class UnstableError(VolterraError):
    """A stationary start was requested but the linear part is not stable."""


class SimulationError(VolterraError):
    """A simulation could not be run or produced non-finite values."""


def describe(value: object, limit: int = 80) -> str:
    """A short printable description of a received value, for error messages."""
    text = repr(value)
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} (type {type(value).__name__})"

"""The project's own error types.

Every error raised on bad input is a :class:`VolterraError` (a ``ValueError``),
whose message names the argument, what was received, and what to do.
"""

from __future__ import annotations

#: the longest message an error carries; longer ones (echoing huge input) are cut in the middle
MAX_MESSAGE = 1000


class VolterraError(ValueError):
    """Base class of every error volterra_sym raises on bad input.

    Messages are one line of at most :data:`MAX_MESSAGE` characters: echoed input longer than that
    is cut in the middle (call sites truncate what they echo with :func:`clip`/:func:`describe`;
    this is the backstop)."""

    def __init__(self, *args: object) -> None:
        if len(args) == 1 and isinstance(args[0], str) and len(args[0]) > MAX_MESSAGE:
            text = args[0]
            half = MAX_MESSAGE // 2 - 20
            args = (f"{text[:half]} ...[{len(text) - 2 * half} characters omitted]... {text[-half:]}",)
        super().__init__(*args)


class ModelError(VolterraError):
    """A model was specified inconsistently (shapes, symbols, values)."""


class ArgumentError(VolterraError):
    """A setting was invalid: an order, index, count, option name or value, method or backend
    (anything other than the model, an expression, a time grid or an input signal)."""


class ExpressionError(VolterraError):
    """An expression string was malformed or unsafe."""


class NotLinearError(VolterraError):
    """Exact closed forms were requested for a model outside the linear-SRNN class."""


class UnstableError(VolterraError):
    """A stationary start was requested but the linear part is not stable."""


class SimulationError(VolterraError):
    """A simulation could not be run or produced non-finite values."""


class InputError(VolterraError):
    """A time grid, input signal or lag array was malformed."""


class OutputError(VolterraError):
    """A file could not be written: the message names the path and what is wrong with it."""


class GridError(VolterraError):
    """A discretisation grid cannot represent the problem to the requested accuracy."""


class ExpectationError(VolterraError):
    """An expectation over the initial law could not be computed to the requested accuracy."""


class StationaryLawError(ExpectationError):
    """The stationary law rho_inf is unknown to volterra_sym, or does not exist (not normalisable)."""


class NotNormalisableError(StationaryLawError, UnstableError):
    """The unperturbed dynamics has no normalisable stationary law."""


class NotAnalyticError(VolterraError):
    """The Taylor route was asked for a model with non-analytic coefficients."""


class FeatureError(VolterraError):
    """Bad input to the signature / response-feature functions."""


class MissingDependencyError(VolterraError, ImportError):
    """An optional dependency is not installed (the message names the extra: pip install 'volterra_sym[...]').

    Both a :class:`VolterraError` and an :class:`ImportError`, so ``except ImportError`` catches it.
    """


class ReadoutError(ModelError):
    """A readout dictionary cannot be used: an entry is malformed or its kernels are missing to the needed order."""


class VolterraWarning(UserWarning):
    """Base class of volterra_sym's warnings."""


class TruncationWarning(VolterraWarning):
    """A Taylor-kernel prediction runs past the horizon where its lag degree is accurate."""


class ConvergenceWarning(VolterraWarning):
    """A numerical route's error estimate (e.g. Galerkin degree p against p + 2) exceeds its tolerance."""


class QuadratureCostWarning(VolterraWarning):
    """Simplex quadrature will take long (O(len(t)^(n+1)) kernel evaluations)."""


class TimeStepBiasWarning(VolterraWarning):
    """A Monte Carlo estimate's time-step (Euler) bias is not small against its standard error."""


def clip(value: object, limit: int = 60) -> str:
    """``repr`` of ``str(value)`` cut to ``limit`` characters, with its length when cut (for echoing names)."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return repr(text[: limit - 3] + "...") + f" ({len(text)} characters)"


def describe(value: object, limit: int = 80) -> str:
    """A short printable description of a received value, for error messages (NumPy scalars as plain numbers:
    ``0.015 (type float64)``, not ``np.float64(0.015)``)."""
    item = getattr(value, "item", None)
    plain = type(value).__module__ == "numpy" and callable(item) and getattr(value, "ndim", 1) == 0
    text = repr(item()) if plain else repr(value)  # type: ignore[misc]
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return f"{text} (type {type(value).__name__})"

"""Errors of the learning subpackage (subclasses of :class:`volterra_sym.VolterraError`)."""

from __future__ import annotations

from ..errors import ModelError, VolterraError

__all__ = ["MissingDependencyError", "ReadoutError"]


class MissingDependencyError(VolterraError, ImportError):
    """An optional dependency of :mod:`volterra_sym.learn` (scikit-learn) is not installed.

    Both a :class:`VolterraError` and an :class:`ImportError`, so ``except ImportError`` catches it.
    """


class ReadoutError(ModelError):
    """A readout dictionary cannot be used: an entry is malformed or its kernels are missing to the needed order."""

"""Validation of time grids, input signals and amplitudes, shared by every numeric entry point.

``predict``, ``simulate``, the Gaussian oracle, the numerical generator and the
simplex quadrature all accept the same forms and fail with the same
:class:`~volterra_sym.errors.InputError` messages (argument, value, remedy).
This module only validates; it computes nothing the checks could share.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InputError, VolterraError, describe


def check_grid(t: Any, *, min_points: int = 2) -> np.ndarray:
    """A time grid as float64: 1-D, finite, strictly increasing, starting at 0."""
    try:
        arr = np.asarray(t, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"t: expected a 1-D increasing array of times starting at 0, received {describe(t)}") from None
    if arr.ndim != 1:
        raise InputError(f"t: expected a 1-D array of times (e.g. np.linspace(0, T, 101)), received shape {arr.shape}")
    if arr.size < min_points:
        raise InputError(f"t: need at least {min_points} grid point(s), received {arr.size}")
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise InputError(f"t: non-finite value {arr[bad]} (NaN or inf) at index {bad}; give finite times")
    if arr[0] != 0:
        raise InputError(f"t: the grid must start at 0 (the time the input starts), received t[0] = {arr[0]}")
    d = np.diff(arr)
    if np.any(d <= 0):
        bad = int(np.flatnonzero(d <= 0)[0])
        raise InputError(
            f"t: the grid must be strictly increasing, but t[{bad + 1}] = {arr[bad + 1]} <= t[{bad}] = {arr[bad]}"
        )
    return arr


def input_samples(u: Any, t: np.ndarray, m: int, *, allow_none: bool = False) -> np.ndarray:
    """The input on the grid, shape (len(t), m).

    ``u`` is a callable u(t) -> (m,) (a scalar is accepted for m = 1) evaluated at each grid
    time, samples of shape (len(t), m) ((len(t),) for m = 1), or, with ``allow_none``, None
    for no input.
    """
    L = t.size
    if u is None:
        if allow_none:
            return np.zeros((L, m))
        raise InputError(f"u: expected samples of shape ({L}, {m}) or a callable u(t) -> ({m},), received None")
    if np.iscomplexobj(u) and not callable(u):
        raise InputError("u: received complex samples; the input signal must be real")
    if callable(u):
        rows = []
        for tj in t:
            try:
                raw = u(float(tj))
                if np.iscomplexobj(raw):
                    raise InputError(f"u: u({tj}) returned a complex value; the input signal must be real")
                val = np.asarray(raw, dtype=float)
            except VolterraError:
                raise
            except Exception as exc:  # the user's callable failed
                raise InputError(f"u: calling u({tj}) raised {type(exc).__name__}: {exc}") from exc
            if val.size != m or val.ndim > 1:
                raise InputError(
                    f"u: the callable must return an array of shape ({m},) (one value per input channel), "
                    f"u({tj}) returned shape {val.shape}"
                )
            rows.append(val.reshape(m))
        U = np.array(rows)
    else:
        try:
            U = np.asarray(u, dtype=float)
        except (TypeError, ValueError):
            raise InputError(
                f"u: expected samples of shape ({L}, {m}) or a callable u(t) -> ({m},), received {describe(u)}"
            ) from None
        if U.ndim == 1 and m == 1:
            U = U[:, None]
        if U.ndim != 2 or U.shape[1] != m:
            raise InputError(
                f"u: expected samples of shape (len(t), m) = ({L}, {m}) (the model has {m} input channel(s)), "
                f"received shape {U.shape}"
            )
        if U.shape[0] != L:
            raise InputError(
                f"u: expected samples of shape ({L}, {m}) (one per grid time), received shape {np.shape(u)}: "
                f"{U.shape[0]} samples for {L} grid points"
            )
    if not np.all(np.isfinite(U)):
        j, k = np.argwhere(~np.isfinite(U))[0]
        raise InputError(
            f"u: non-finite value {U[j, k]} (NaN or inf) at time t[{j}] = {t[j]}, channel {k}; clean the input"
        )
    return U


def check_eps(eps: Any) -> float:
    """The input amplitude: a finite real number."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise InputError(f"eps: expected a finite real number, received {describe(eps)}")
    if not math.isfinite(float(eps)):
        raise InputError(f"eps: expected a finite real number, received {eps}")
    return float(eps)

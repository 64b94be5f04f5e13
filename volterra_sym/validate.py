"""The one validation module: every entry point checks its arguments here.

Each kind of mistake raises one error class with one message pattern
(argument, what was received, what to do), whatever the entry point:

=========================================  ===========================================
mistake                                    class
=========================================  ===========================================
time grid, input signal, eps, lag arrays   :class:`~volterra_sym.errors.InputError`
order, index k, count, option, method      :class:`~volterra_sym.errors.ArgumentError`
not a model / inconsistent model           :class:`~volterra_sym.errors.ModelError`
=========================================  ===========================================

This module only validates; it computes nothing the checks could share, so the
independent checks (oracle, simulator) may use it too.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, overload

import numpy as np

from . import limits
from .errors import ArgumentError, InputError, ModelError, OutputError, VolterraError, describe
from .model.diffusion import Diffusion, same_model


def __getattr__(name: str) -> Any:
    """``MAX_ORDER`` moved to :mod:`volterra_sym.limits`; read through to it (always the current value)."""
    if name == "MAX_ORDER":
        return limits.MAX_ORDER
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def real_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a float array; complex values are an InputError (NumPy would drop the imaginary parts)."""
    if np.iscomplexobj(x):
        raise InputError(f"{name}: received complex values; {name} must be real")
    try:
        return np.asarray(x, dtype=float)
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected real numbers, received {describe(x)}") from None


def check_grid(t: Any, *, min_points: int = 2) -> np.ndarray:
    """A time grid as float64: 1-D, finite, strictly increasing, starting at 0, at most
    ``limits.MAX_GRID_POINTS`` points."""
    if np.ndim(t) == 1:
        limits.check_grid_points(len(t))
    if np.iscomplexobj(t):  # NumPy would drop the imaginary parts silently
        raise InputError("t: received complex times; a time grid must be real")
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


def input_batch(u: Any, grid: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """Input samples on ``grid`` as (B, L, m) and the leading batch shape ('()' for a single input): ``u`` is a
    callable u(t) -> number or (m,), or samples (L,), (L, m) or a batch (..., L, m) (the response features)."""
    if callable(u):
        try:
            raw = [u(float(s)) for s in grid]
            if any(np.iscomplexobj(r) for r in raw):
                raise InputError("u: the callable returned complex values; the input signal must be real")
            rows = [np.atleast_1d(np.asarray(r, dtype=float)) for r in raw]
            values = np.stack(rows)
        except (TypeError, ValueError) as exc:
            raise InputError(
                f"u: the callable must return a number or an array of shape (m,) for a time t, "
                f"calling it failed with {exc!r}"
            ) from None
        if values.ndim != 2:
            raise InputError(f"u: the callable must return shape (m,), it returned shape {rows[0].shape}")
    else:
        if np.iscomplexobj(u):
            raise InputError("u: received complex samples; the input signal must be real")
        try:
            values = np.asarray(u, dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"u: expected an array (L,), (L, m) or (..., L, m), received {describe(u)}") from None
        if values.ndim == 1:
            values = values[:, None]
    if values.ndim < 2 or values.shape[-2] != grid.size or values.shape[-1] < 1:
        raise InputError(
            f"u: expected samples of shape (L,), (L, m) or (..., L, m) with L = len(t) = {grid.size}, "
            f"received shape {values.shape}; a batch of scalar inputs has shape (B, L, 1)"
        )
    if not np.all(np.isfinite(values)):
        raise InputError("u: the input contains NaN or infinite values; clean or interpolate it first")
    lead = values.shape[:-2]
    return values.reshape(-1, grid.size, values.shape[-1]), lead


def check_eps(eps: Any, order: int = 1) -> float:
    """The input amplitude: a finite real number whose powers up to ``order`` are finite floats."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise InputError(f"eps: expected a finite real number, received {describe(eps)}")
    try:
        value = float(eps)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise InputError(f"eps: expected a finite real number, received {describe(eps)}")
    if value != 0 and order > 1 and order * math.log10(abs(value)) > 307:
        bound = 10 ** (307 / order)
        raise InputError(
            f"eps: eps**{order} = ({value:g})**{order} overflows float64 (the series has terms eps**n up to order "
            f"{order}); give |eps| <= {bound:.3g}, or scale the input u instead"
        )
    return value


def check_model(model: Any, where: str = "model") -> Any:
    """``model`` must be a :class:`~volterra_sym.model.Diffusion` (one message for every entry point)."""
    if not isinstance(model, Diffusion):
        raise ModelError(
            f"{where}: expected a vs.Diffusion (e.g. vs.OU(...), vs.SRNN(...), vs.load_model(path)), "
            f"received {describe(model)}"
        )
    return model


def check_int(
    value: Any,
    name: str,
    *,
    minimum: int,
    maximum: int | None = None,
    hint: str = "",
    remedy: str = "",
    what: str = "an integer",
) -> int:
    """An integer setting in [minimum, maximum] (bools refused; numpy integers accepted).

    ``hint`` is said after the range ("expected an integer >= 1 (the number of paths)"), ``remedy``
    after what was received ("...; give the number of Monte Carlo paths, e.g. paths=10000"), ``what`` names
    the kind of integer ("a positive integer >= 1")."""
    tail = f"; {remedy}" if remedy else ""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ArgumentError(f"{name}: expected {what} >= {minimum}{hint}, received {describe(value)}{tail}")
    value = int(value)
    if value < minimum or (maximum is not None and value > maximum):
        rng = f">= {minimum}" if maximum is None else f"in {minimum}..{maximum}"
        raise ArgumentError(f"{name}: expected {what} {rng}{hint}, received {value}{tail}")
    return value


@overload
def check_positive(value: Any, name: str, *, allow_none: Literal[False] = ..., remedy: str = "") -> float: ...
@overload
def check_positive(value: Any, name: str, *, allow_none: bool, remedy: str = "") -> float | None: ...
def check_positive(value: Any, name: str, *, allow_none: bool = False, remedy: str = "") -> float | None:
    """A positive finite real number (a step, a time, a memory bound); None passes with ``allow_none``."""
    if value is None and allow_none:
        return None
    tail = f"; {remedy}" if remedy else ""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{name}: expected a positive number, received {describe(value)}{tail}")
    if not math.isfinite(float(value)) or value <= 0:
        raise ArgumentError(f"{name}: expected a positive finite number, received {value}{tail}")
    return float(value)


def check_real_in_range(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    open_low: bool = False,
    what: str = "a number",
    remedy: str = "",
) -> float:
    """A finite real number in [low, high] (``open_low``: low excluded); bools, non-numbers, NaN and inf refused.

    The message says ``what`` was expected ("a probability", "a tolerance", ...) and the range."""
    lo = "" if low is None else (f"> {low:g}" if open_low else f">= {low:g}")
    rng = " and ".join(x for x in (lo, "" if high is None else f"<= {high:g}") if x)
    expected = f"{what}{' ' + rng if rng else ''}"
    tail = f"; {remedy}" if remedy else ""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ArgumentError(f"{name}: expected {expected}, received {describe(value)}{tail}")
    x = float(value)
    ok = math.isfinite(x) and (low is None or (x > low if open_low else x >= low)) and (high is None or x <= high)
    if not ok:
        raise ArgumentError(f"{name}: expected {expected}, received {value!r}{tail}")
    return x


def check_choice(value: Any, name: str, choices: Sequence[str], *, lower: bool = False, remedy: str = "") -> str:
    """One of the strings ``choices`` (``lower``: compared case-insensitively, returned in lower case)."""
    key = value.lower() if lower and isinstance(value, str) else value
    if not isinstance(value, str) or key not in choices:
        tail = f"; {remedy}" if remedy else ""
        raise ArgumentError(f"{name}: expected one of {tuple(choices)}, received {describe(value)}{tail}")
    return str(key)


def check_kernel_order(n: Any, top: int, hint: str = "") -> int:
    """A kernel order n in 1..top (``hint`` says where ``top`` comes from, e.g. " (the derived order)")."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= top:
        raise ArgumentError(f"n: expected a kernel order in 1..{top}{hint}, received {describe(n)}")
    return int(n)


def check_component(component: Any, p: int) -> int:
    """A readout component index in 0..p-1 (p: the number of readouts)."""
    if isinstance(component, bool) or not isinstance(component, (int, np.integer)) or not 0 <= component < p:
        raise ArgumentError(f"component: expected a readout index in 0..{p - 1}, received {describe(component)}")
    return int(component)


def check_int_sequence(values: Any, name: str, length: int, *, minimum: int = 0, what: str = "") -> tuple[int, ...]:
    """``length`` integers >= ``minimum`` (``what`` says what each one is)."""
    items = list(values) if isinstance(values, (tuple, list, np.ndarray)) else None
    if (
        items is None
        or len(items) != length
        or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) or x < minimum for x in items)
    ):
        said = f" ({what})" if what else ""
        raise ArgumentError(f"{name}: expected {length} integers >= {minimum}{said}, received {describe(values)}")
    return tuple(int(x) for x in items)


def finite_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a float array of finite numbers (InputError naming ``name`` otherwise)."""
    a = real_array(x, name)
    if not np.all(np.isfinite(a)):
        raise InputError(f"{name}: contains NaN or infinite values ({int(np.sum(~np.isfinite(a)))} of {a.size})")
    return a


def check_instance(value: Any, name: str, types: type | tuple[type, ...], what: str) -> Any:
    """``value`` must be an instance of ``types`` (``what`` names it for the message, e.g. "a Response")."""
    if not isinstance(value, types):
        raise ArgumentError(f"{name}: expected {what}, received {describe(value)}")
    return value


def refusal(argument: str, reason: str, remedy: str = "", cls: type[VolterraError] = ArgumentError) -> VolterraError:
    """The error for a request that is well-formed but refused (a route that does not build something, a
    model outside a method's scope, a combination of arguments): ``raise refusal(...)``.

    The message is "<argument>: <reason>; <remedy>", the same pattern as every argument check."""
    return cls(f"{argument}: {reason}" + (f"; {remedy}" if remedy else ""))


def check_order(order: Any) -> int:
    """A kernel order in 1..limits.MAX_ORDER."""
    return check_int(order, "order", minimum=1, maximum=limits.MAX_ORDER, hint=" (the highest kernel order)")


@overload
def check_derive_request(model: Any, order: None) -> None: ...


@overload
def check_derive_request(model: Any, order: int) -> int: ...


def check_derive_request(model: Any, order: Any) -> int | None:
    """What every derive path checks before any work (``vs.derive``, ``vs.derive_generator``,
    ``vs.taylor_kernels``): a model, an order in 1..MAX_ORDER (or None), the model's size
    (``limits.check_model_size``) and the number of kernels (``limits.check_kernel_count``)."""
    check_model(model)
    if order is not None:
        order = check_order(order)
    limits.check_model_size(model)  # degree and number of terms, before any expansion
    if order is not None and not getattr(model, "general_input", False):  # channel models: counted by derive
        limits.check_kernel_count(order, model.m, model.p, limits.readout_degree(model))
    return order


def check_lag_degree(lag_degree: Any) -> int:
    """A Taylor degree in the lags, 0..limits.MAX_LAG_DEGREE."""
    return check_int(
        lag_degree,
        "lag_degree",
        minimum=0,
        maximum=limits.MAX_LAG_DEGREE,
        hint=" (the Taylor degree in the lags, limit MAX_LAG_DEGREE)",
    )


def derive_advice(name: str, needed: int) -> str:
    """The remedy "derive with <name> >= <needed>", or, when ``needed`` is beyond the limit of
    ``name`` (``order``: limits.MAX_ORDER, ``lag_degree``: limits.MAX_LAG_DEGREE), why no
    derivation can give it (advice that cannot be followed is never given)."""
    limit, constant = {
        "order": (limits.MAX_ORDER, "MAX_ORDER"),
        "lag_degree": (limits.MAX_LAG_DEGREE, "MAX_LAG_DEGREE"),
    }[name]
    if needed <= limit:
        return f"derive with {name} >= {needed}"
    return (
        f"{name} {needed} is beyond the highest {name} any derivation gives ({constant} = {limit}, see "
        f"vs.limits); ask for at most {limit}"
    )


def check_verify_paths(paths: Any) -> int:
    """Monte Carlo paths of a verification: at least limits.MIN_VERIFY_PATHS (a meaningful standard error)."""
    paths = check_int(paths, "paths", minimum=1, hint=" (the number of Monte Carlo paths)")
    if paths < limits.MIN_VERIFY_PATHS:
        raise ArgumentError(
            f"paths: a verification needs at least {limits.MIN_VERIFY_PATHS} Monte Carlo paths for a meaningful "
            f"standard error (the verdict compares |prediction - MC mean| with z standard errors), received "
            f"{paths}; use e.g. paths=2000 (vs.simulate gives the Monte Carlo mean alone for any number of paths)"
        )
    return paths


def check_response_model(model: Any, response: Any) -> None:
    """A given ``response`` must have been derived from ``model`` (equal after substituting parameter values)."""
    other = getattr(response, "model", None)
    if not isinstance(other, Diffusion):
        raise ArgumentError(f"response: expected a Response from vs.derive(model, ...), received {describe(response)}")
    why = same_model(model, other)
    if why:
        raise ModelError(
            f"response: was derived from a different model than the one being verified ({why}); derive it from "
            "this model (vs.derive(model, ...)) or omit response= to let verify derive it"
        )


def check_index_tuple(k: Any, n: int, m: int, name: str = "k") -> tuple[int, ...]:
    """Input indices (k_1..k_n), 0-based, each in 0..m-1; None means (0,)*n when m == 1, and a
    single integer means that channel at every position (``name``: the argument's name)."""
    if k is None:
        if m != 1:
            raise ArgumentError(
                f"{name}: the model has {m} inputs; give the input indices {name}=(k1, ..., k{n}) (0-based)"
            )
        return (0,) * n
    items = list(k) if isinstance(k, (tuple, list, np.ndarray)) else [k] * n
    if len(items) != n or any(isinstance(x, bool) or not isinstance(x, (int, np.integer)) for x in items):
        raise ArgumentError(f"{name}: expected {n} integer input indices (k1..k{n}), 0-based, received {describe(k)}")
    if any(not 0 <= int(x) < m for x in items):
        raise ArgumentError(
            f"{name}: expected input indices 0-based and below m = {m} (the number of inputs), received {k!r}"
        )
    return tuple(int(x) for x in items)


#: the message for complex lags, shared with the generated standalone modules (numerics/codegen.py)
COMPLEX_LAGS = "received complex lags; lags must be real and >= 0"


def check_lag_array(lags: Any, width: int, *, stationary: bool = True, name: str = "lags") -> np.ndarray:
    """Lags as a float array of shape (..., width), real, finite and >= 0 (``name`` labels the messages)."""
    try:  # every inspection of the input inside: ragged lists fail in NumPy's conversion
        raw = np.asarray(lags)
        if raw.dtype.kind == "c":  # NumPy would drop the imaginary parts silently
            raise InputError(f"{name}: {COMPLEX_LAGS}")
        L = raw.astype(float, copy=False)
    except InputError:
        raise
    except (TypeError, ValueError) as exc:
        ragged = " (rows of different lengths)" if "inhomogeneous" in str(exc) else ""
        raise InputError(
            f"{name}: expected an array of lags of shape (..., {width}), received {describe(lags)}{ragged}; give "
            f"every row {width} lag(s)"
        ) from None
    if width == 1 and L.ndim <= 1:  # a scalar lag (-> shape ()), or a 1-D array of first-order lags (-> (L,))
        L = L.reshape(L.shape + (1,))
    if L.ndim == 0 or L.shape[-1] != width:
        what = "(tau_1..tau_n)" if stationary else "(tau_1..tau_n, s_n) for a non-stationary start"
        raise InputError(f"{name}: expected an array of shape (..., {width}) {what}, received shape {L.shape}")
    points = L.size // width
    if points > limits.MAX_LAG_POINTS:
        raise InputError(
            f"{name}: {points} lag points exceed the limit MAX_LAG_POINTS = {limits.MAX_LAG_POINTS}; evaluate in "
            "chunks, or raise the limit with vs.limits.configure(max_lag_points=...)"
        )
    if not np.all(np.isfinite(L)):
        bad = tuple(int(x) for x in np.argwhere(~np.isfinite(L))[0])
        raise InputError(f"{name}{list(bad)}: received {L[bad]}; lags must be finite")
    if np.any(L < 0):
        bad = tuple(int(x) for x in np.argwhere(L < 0)[0])
        raise InputError(f"{name}{list(bad)}: received the negative lag {L[bad]}; lags are >= 0")
    return L


def check_frequencies(omegas: Sequence[Any], n: int, *, real: bool, name: str = "omega") -> list[np.ndarray]:
    """n frequency arrays broadcast together: finite, non-empty, at most ``limits.MAX_FREQUENCY_POINTS`` points;
    complex values only when ``real`` is False."""
    if len(omegas) != n:
        raise ArgumentError(f"{name}: H_{n} takes {n} frequencies (omega_1..omega_{n}), received {len(omegas)}")
    arrs = []
    for j, w in enumerate(omegas):
        label = f"{name}{j + 1}" if n > 1 else name
        if isinstance(w, (str, bytes)) or w is None:
            raise InputError(f"{label}: expected numbers, received {describe(w)}")
        if real and np.iscomplexobj(w):
            raise InputError(
                f"{label}: received complex frequencies; this transfer function is known on the real axis only "
                "(a Monte Carlo estimate): give real omega"
            )
        try:
            a = np.asarray(w, dtype=complex if np.iscomplexobj(w) else float)
        except (TypeError, ValueError):
            raise InputError(f"{label}: expected real or complex numbers, received {describe(w)}") from None
        if a.size == 0:
            raise InputError(f"{label}: received an empty array; give at least one frequency")
        if not np.all(np.isfinite(a)):
            raise InputError(f"{label}: received non-finite values (NaN or inf); frequencies must be finite")
        arrs.append(a)
    try:
        out = np.broadcast_arrays(*arrs)
    except ValueError:
        raise InputError(
            f"{name}: the {n} frequency arrays have shapes {[a.shape for a in arrs]}, which do not broadcast together"
        ) from None
    size = out[0].size
    if size > limits.MAX_FREQUENCY_POINTS:
        raise InputError(
            f"{name}: {size} frequency points exceed the limit MAX_FREQUENCY_POINTS = {limits.MAX_FREQUENCY_POINTS}; "
            "evaluate in chunks, or raise it with vs.limits.configure(max_frequency_points=...)"
        )
    return [np.asarray(a, dtype=complex) for a in out]


@overload
def check_flag(value: Any, name: str, *, allow_none: Literal[False] = ...) -> bool: ...
@overload
def check_flag(value: Any, name: str, *, allow_none: bool) -> bool | None: ...
def check_flag(value: Any, name: str, *, allow_none: bool = False) -> bool | None:
    """A True/False switch (numpy bools accepted); with ``allow_none`` also None (automatic)."""
    if value is None and allow_none:
        return None
    if not isinstance(value, (bool, np.bool_)):
        expected = "True, False or None (auto)" if allow_none else "True or False"
        raise ArgumentError(f"{name}: expected {expected}, received {describe(value)}")
    return bool(value)


def check_numeric_model(model: Any) -> None:
    """Every symbolic parameter of the model has a numeric value (needed for numbers)."""
    missing = [str(x) for x in model.parameters if x not in model.params]
    if missing:
        raise ModelError(
            f"params: the model has symbolic parameter(s) {missing} without numeric values; give them as "
            "params={'name': value} when building the model (or use model.with_values(...))"
        )


def output_path(path: Any, what: str = "file") -> Path:
    """A path a file can be written to: not a folder, no file in the way of its folders (which
    are created).  Raises :class:`~volterra_sym.errors.OutputError` naming the path and the problem."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise ArgumentError(f"path: expected a file name for the {what}, received {describe(path)}")
    p = Path(path)
    name = describe(str(p), 120).rsplit(" (type", 1)[0]
    try:
        if p.is_dir():
            raise OutputError(f"{name}: is a folder; give a file name for the {what}, e.g. {str(p / 'out')!r}")
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"{name}: cannot write the {what}: {str(parent)!r} is a file, not a folder")
                break
    except OutputError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: e.g. an embedded NUL character
        raise OutputError(f"{name}: cannot write the {what}: {_os_reason(exc, p)}") from None
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        folder = describe(str(p.parent), 120).rsplit(" (type", 1)[0]
        raise OutputError(
            f"{name}: cannot write the {what}: its folder {folder} cannot be created ({_os_reason(exc, p.parent)})"
        ) from None
    return p


def json_text(data: Any) -> str:
    """``data`` as strictly valid JSON (RFC 8259: no NaN / Infinity), indented, ending in a newline.

    A number that is not finite is written as null; a top-level dict then gains ``"null_values"``
    listing where (at most 20 places) and why, so a reader is never left guessing.
    """
    places: list[str] = []

    def clean(x: Any, where: str) -> Any:
        if isinstance(x, dict):
            return {str(k): clean(v, f"{where}.{k}" if where else str(k)) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v, f"{where}[{i}]") for i, v in enumerate(x)]
        if isinstance(x, np.ndarray):
            return clean(x.tolist(), where)
        if isinstance(x, (float, np.floating)) and not math.isfinite(float(x)):
            places.append(f"{where} ({float(x)})")
            return None
        if isinstance(x, np.integer):
            return int(x)
        if isinstance(x, np.floating):
            return float(x)
        return x

    out = clean(data, "")
    if places and isinstance(out, dict):
        out["null_values"] = {
            "reason": "not a finite number (nan: undefined or not computed, inf: overflow); JSON has no such numbers",
            "at": places[:20] + ([f"... {len(places) - 20} more"] if len(places) > 20 else []),
        }
    return json.dumps(out, indent=2, default=str, allow_nan=False) + "\n"


def write_text_file(path: Any, text: str, what: str = "file") -> str:
    """Write ``text`` to ``path`` (UTF-8, ``\\n`` line ends), creating parent folders; return the path.
    Every failure is an :class:`~volterra_sym.errors.OutputError` naming the path and the reason."""
    p = output_path(path, what)
    try:
        with open(p, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
    except (OSError, ValueError) as exc:
        name = describe(str(p), 120).rsplit(" (type", 1)[0]
        raise OutputError(f"{name}: cannot write the {what}: {_os_reason(exc, p)}") from None
    return str(p)


def _os_reason(exc: Exception, target: Path) -> str:
    reason = getattr(exc, "strerror", None) or " ".join(str(exc).split()) or type(exc).__name__
    other = getattr(exc, "filename", None)
    if other is not None and str(other) != str(target):
        reason += f" ({describe(str(other), 80).rsplit(' (type', 1)[0]})"
    return reason

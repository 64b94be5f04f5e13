"""The response feature, its coefficients, and the kernel-machine view (MATH.md section 7).

Reversed time.  For an input u on [0, t] (m channels) let r = t - s and
u~(r) = u(t - r).  The alphabet is the pairs (q, k), q = 0..P (the support
basis psi_q(r) = r^q / q!), k = 0..m-1 (input index, 0-based as in
``Response.kernel``), and

    X^{(q,k)}(r) = int_0^r psi_q(rho) u~^k(rho) drho,        r in [0, t].

Channel order: letter (q, k) is channel q*m + k (q-major), so a path X has
D = (P + 1) m channels; words of the signature are in C order over channels
(the layout of :func:`volterra_sym.features.signature.signature`).

The response feature Phi_t(u) is the signature of X truncated at level N.
With the kernel Taylor coefficients a_{k,p} = d^{p_1}_{tau_1}..d^{p_n}_{tau_n} K^(n)_k(0)
and coefficients c_w from :func:`feature_coefficients`,

    E f(h_t) - E_inf f = sum_w c_w S^w(Phi_t(u)) + truncation error.

Discretisation.  u is piecewise linear on the grid; X is then computed exactly
at the grid points (integrals of a polynomial times a linear piece, closed
form), and the feature is the signature of the piecewise-linear interpolant of
X through those points.  Level 1 is exact; higher levels miss the Levy areas
of X inside each step, an O(h^3) error per step, so the feature converges to
the signature of X itself at second order, O(h^2), as the grid is refined
(``refine=r`` subdivides every step into r pieces with X still exact at the
new points).  When a kernel is symmetric in the reversed times (jointly in
(r_j, k_j); e.g. every kernel of a linear SRNN, whose perturbed law is Gaussian
with a mean shift linear in u) the prediction sees only shuffle products of
level-1 coordinates and is exact on any grid.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from itertools import product
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ..errors import ExpressionError, describe
from ..features.signature import (
    FeatureError,
    Levels,
    check_feature_int,
    check_feature_memory,
    exp_mul,
    flatten_levels,
    sig_size,
    signature_levels,
)
from ..model.parsing import as_expression
from ..validate import check_choice, check_grid, input_batch

__all__ = [
    "check_feature_truncation",
    "feature_coefficients",
    "feature_words",
    "predict_features",
    "response_feature",
    "response_kernel",
    "top_shell_mask",
]

Letter = tuple[int, int]
Taylor = Callable[[int, tuple[int, ...], tuple[int, ...]], Any]


# --------------------------------------------------------------------------- labels


def feature_words(inputs: int, degree: int, level: int, include_level0: bool = False) -> list[tuple[Letter, ...]]:
    """Word labels of the response feature: tuples of letters (q, k), in the flat layout."""
    check_feature_int("inputs", inputs, 1)
    check_feature_int("degree", degree, 1)
    check_feature_int("level", level, 1)
    letters = [(q, k) for q in range(degree + 1) for k in range(inputs)]
    words: list[tuple[Letter, ...]] = [()] if include_level0 else []
    for n in range(1, level + 1):
        words.extend(product(letters, repeat=n))
    return words


# --------------------------------------------------------------------------- input checks


def _refined(grid: np.ndarray, values: np.ndarray, refine: int) -> tuple[np.ndarray, np.ndarray]:
    """Grid with every step cut into ``refine`` pieces, input linearly interpolated."""
    if refine == 1:
        return grid, values
    w = np.arange(refine) / refine
    fine = np.append((grid[:-1, None] + np.diff(grid)[:, None] * w).ravel(), grid[-1])
    left = values[:, :-1, None, :]
    right = values[:, 1:, None, :]
    inner = (left * (1 - w[:, None]) + right * w[:, None]).reshape(values.shape[0], -1, values.shape[-1])
    return fine, np.concatenate([inner, values[:, -1:]], axis=1)


# --------------------------------------------------------------------------- the path X


def _local_moments(grid: np.ndarray, values: np.ndarray, degree: int) -> np.ndarray:
    """Increments of X over each step, in reversed time measured from the step's right end.

    For step i (h = t_{i+1} - t_i) and rho in [0, h], u~(rho) = u_{i+1} + (u_i - u_{i+1}) rho / h, so

        int_0^h rho^l / l! u~(rho) drho = h^(l+1) / l! * ( u_{i+1} / ((l+1)(l+2)) + u_i / (l+2) ).

    Returns (B, L-1, P+1, m).
    """
    h = np.diff(grid)[:, None]
    ell = np.arange(degree + 1)
    scale = np.exp((ell + 1) * np.log(h) - np.array([math.lgamma(x + 1) for x in ell]))  # (L-1, P+1)
    w_end = scale / ((ell + 1) * (ell + 2))
    w_start = scale / (ell + 2)
    return w_end[None, :, :, None] * values[:, 1:, None, :] + w_start[None, :, :, None] * values[:, :-1, None, :]


def _shift_matrix(a: np.ndarray | float, degree: int) -> np.ndarray:
    """T(a)[q, l] = a^(q-l) / (q-l)! for q >= l (else 0): psi_q(a + rho) = sum_l T(a)[q, l] psi_l(rho).

    ``a`` has any shape; returns shape (*a.shape, P+1, P+1).  T(a) T(b) = T(a + b).
    """
    a = np.asarray(a, dtype=float)
    diff = np.arange(degree + 1)[:, None] - np.arange(degree + 1)[None, :]
    powers = np.ones((*a.shape, degree + 1))
    for e in range(1, degree + 1):
        powers[..., e] = powers[..., e - 1] * a / e
    out = powers[..., np.clip(diff, 0, None)]
    out[..., diff < 0] = 0.0
    return out


def _apply_linear(levels: Levels, matrix: np.ndarray) -> Levels:
    """The algebra map induced by a linear map M of the channels: level n becomes M^(x)n applied."""
    dim = matrix.shape[0]
    out = []
    for n, x in enumerate(levels, start=1):
        batch = x.shape[0]
        for _ in range(n):  # apply M to the last axis, then rotate it to the front
            x = (x.reshape(batch, -1, dim) @ matrix.T).transpose(0, 2, 1).reshape(batch, -1)
        out.append(x)
    return out


# --------------------------------------------------------------------------- the feature


def response_feature(
    u: Any,
    t: Any,
    degree: int,
    level: int,
    *,
    include_level0: bool = False,
    running: bool = False,
    labels: bool = False,
    refine: int = 1,
) -> Any:
    """The response feature Phi_t(u): truncated signature of X (module docstring) at t = t[-1].

    Parameters
    ----------
    u : array (L,), (L, m) or a batch (..., L, m); or a callable u(t) -> number or (m,)
        Input samples on the grid (piecewise linear in between).
    t : array (L,)
        Time grid, starting at 0 and strictly increasing.
    degree : int >= 1
        P, the highest power in the support basis psi_q(r) = r^q / q!.
    level : int >= 1
        N, the truncation level of the signature.
    include_level0 : prepend the constant 1.
    running : return the feature for every end time t_j (t_end = t_j, so X and its
        reversed clock change with j: not a prefix of one path).  Row 0 (t_end = 0) is zero.
    labels : also return the word labels (tuples of letters (q, k)).
    refine : subdivide every grid step into this many pieces (X stays exact at the new points).

    Returns
    -------
    array (..., size) or with ``running`` (..., L, size); size = D + ... + D^N (+1),
    D = (P + 1) m.  With ``labels`` the pair (array, words).

    Running features use the exact one-step relation, with D_j the increment of
    X over the newest step and T(h) the shift psi_q(h + rho) = sum_l T(h)_{ql} psi_l(rho),

        Phi_{t_j} = exp(D_j) (x) T(t_j - t_{j-1})[Phi_{t_{j-1}}],

    which involves only positive weights (no cancellation at long horizons).
    """
    check_feature_int("degree", degree, 1)
    check_feature_int("level", level, 1)
    check_feature_int("refine", refine, 1)
    grid = check_grid(t)
    values, lead = input_batch(u, grid)
    batch, length, m = values.shape
    dim = (degree + 1) * m
    size = sig_size(dim, level, include_level0)
    check_feature_memory(
        "response_feature",
        batch * size * (length if running else 1),
        f"batch {batch}, D = (degree + 1) * m = {dim} channels, level {level}"
        + (f", {length} times" if running else ""),
    )
    steps = max(length - 1, 0) * refine
    # working arrays: refined input, step moments and increments (B x M x D each), the shift matrices M (P+1)^2
    check_feature_memory(
        "response_feature",
        steps * (degree + 1) ** 2 + 3 * batch * steps * dim,
        f"the working arrays of {steps} steps ({length - 1} grid steps x refine {refine}), batch {batch}, "
        f"(P+1)^2 = {(degree + 1) ** 2} shift entries per step",
    )
    fine, fvalues = _refined(grid, values, refine)
    with np.errstate(over="ignore", invalid="ignore"):
        moments = _local_moments(fine, fvalues, degree)  # (B, M, P+1, m)
        if running:
            out = _running(fine, moments, level, dim, refine, include_level0)
            result = out.reshape(*lead, length, size)
        else:
            shift = _shift_matrix(fine[-1] - fine[1:], degree)  # (M, P+1, P+1)
            inc = np.einsum("iql,bilk->biqk", shift, moments).reshape(batch, -1, dim)
            levels = signature_levels(inc[:, ::-1], level)  # reversed time: latest step first
            result = flatten_levels(levels, include_level0).reshape(*lead, size)
    if not np.all(np.isfinite(result)):
        span = float(grid[-1] - grid[0]) if grid.size else 0.0
        big = float(np.max(np.abs(values))) if values.size else 0.0
        growth = (degree + 1) * math.log(max(span, 1e-300)) - math.lgamma(degree + 2)  # log(span^(P+1)/(P+1)!)
        culprit = "t" if growth > math.log(1e100) or big < 1e50 else "u"
        raise FeatureError(
            f"{culprit}: the response feature overflows float64 (time span {span:.3g}, largest |u| {big:.3g}, degree "
            f"{degree}, level {level}: its coordinates grow like (span^(P+1) |u|)^level); "
            + ("rescale the time grid (a time scale making the span about 1)" if culprit == "t" else "rescale u")
        )
    if labels:
        return result, feature_words(m, degree, level, include_level0)
    return result


def _running(
    fine: np.ndarray, moments: np.ndarray, level: int, dim: int, refine: int, include_level0: bool
) -> np.ndarray:
    """Features at every original grid time by the one-step recursion (a loop over steps, vectorised over the batch)."""
    batch, steps, npow, m = moments.shape
    length = steps // refine + 1
    out = np.zeros((batch, length, sig_size(dim, level, include_level0)))
    if include_level0:
        out[:, :, 0] = 1.0
    offset = 1 if include_level0 else 0
    state: Levels = [np.zeros((batch, dim**n)) for n in range(1, level + 1)]
    h = np.diff(fine)
    eye = np.eye(m)
    cache: dict[float, np.ndarray] = {}
    for j in range(steps):
        if j > 0:
            key = float(h[j])
            if key not in cache:
                cache[key] = np.kron(_shift_matrix(key, npow - 1), eye).astype(float)
            state = _apply_linear(state, cache[key])
        state = exp_mul(moments[:, j].reshape(batch, dim), state)
        if (j + 1) % refine == 0:
            out[:, (j + 1) // refine, offset:] = np.concatenate(state, axis=-1)
    return out


# --------------------------------------------------------------------------- coefficients


def _tails(degree: int, n: int) -> list[tuple[int, ...]]:
    """Exponent transfers (i_1, ..., i_{n+1}) with i_1 = i_{n+1} = 0 and 0 <= i_j <= P in between."""
    return [(0, *tail, 0) for tail in product(range(degree + 1), repeat=n - 1)]


def _slices(i: tuple[int, ...], degree: int) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Target slices (q_j >= i_{j+1}) and source slices (p_j = q_j + i_j - i_{j+1}) for one transfer."""
    n = len(i) - 1
    target = tuple(slice(i[j + 1], degree + 1) for j in range(n))
    source = tuple(slice(i[j], degree + 1 + i[j] - i[j + 1]) for j in range(n))
    return target, source


def _needed(degree: int, n: int, truncation: str) -> np.ndarray:
    """Mask over p (shape (P+1, 2P+1, ..., 2P+1)) of the Taylor coefficients a_p the words need."""
    shape = (degree + 1,) + (2 * degree + 1,) * (n - 1)
    mask = np.zeros(shape, dtype=bool)
    for i in _tails(degree, n):
        mask[_slices(i, degree)[1]] = True
    if truncation == "total":
        mask &= np.indices(shape).sum(axis=0) <= degree
    return mask


def _combine(a: np.ndarray, degree: int, n: int) -> np.ndarray:
    """c_q = sum_i (-1)^(i_2 + ... + i_n) a_{p(q,i)} prod_{j<n} C(q_j, i_{j+1}) for all q in [0, P]^n.

    ``a`` is an object array over p (exact integers or mpmath numbers); one
    vectorised update per transfer tuple i.
    """
    binom = np.array([[math.comb(q, i) for i in range(degree + 1)] for q in range(degree + 1)], dtype=object)
    out = np.zeros((degree + 1,) * n, dtype=object)
    for i in _tails(degree, n):
        target, source = _slices(i, degree)
        term = a[source]
        for j in range(n - 1):
            shape = [1] * n
            shape[j] = degree + 1 - i[j + 1]
            term = term * binom[i[j + 1] :, i[j + 1]].reshape(shape)
        out[target] += term if sum(i) % 2 == 0 else -term
    return out


def _to_number(value: Any, where: str, exact: bool) -> Fraction | mpmath.mpf:
    try:
        e = as_expression(value, where=f"taylor{where}")
    except ExpressionError:
        raise FeatureError(f"taylor{where}: expected a number, received {describe(value)}") from None
    if e.free_symbols or not e.is_number:
        raise FeatureError(
            f"taylor{where}: expected a number, received {describe(e)} with free symbols "
            f"{sorted(map(str, e.free_symbols))}; give every model parameter a numeric value (model.with_values)"
        )
    if exact and (e.is_Rational or e.is_Float):
        r = sp.Rational(e)  # a Float counts by its exact binary value
        return Fraction(int(r.p), int(r.q))
    v = e.evalf(mpmath.mp.dps + 5)
    if not v.is_real:
        raise FeatureError(f"taylor{where}: expected a real number, received {describe(e)}")
    return mpmath.mpf(sp.Float(v, mpmath.mp.dps + 5)._mpf_)


def _taylor_array(taylor: Taylor, n: int, k: tuple[int, ...], mask: np.ndarray, exact: bool) -> tuple[np.ndarray, int]:
    """a_{k,p} on the mask as an object array: integers over a common denominator (returned), or mpmath."""
    keys = [tuple(int(x) for x in p) for p in np.argwhere(mask)]
    values = {p: _to_number(taylor(n, k, p), f"({n}, {k}, {p})", exact) for p in keys}
    a = np.zeros(mask.shape, dtype=object)
    if all(isinstance(v, Fraction) for v in values.values()):
        common = math.lcm(1, *(v.denominator for v in values.values()))
        for p, v in values.items():
            a[p] = v.numerator * (common // v.denominator)
        return a, common
    for p, v in values.items():
        a[p] = mpmath.mpf(v.numerator) / v.denominator if isinstance(v, Fraction) else v
    return a, 0


def feature_coefficients(
    taylor: Taylor,
    degree: int,
    level: int,
    *,
    inputs: int = 1,
    exact: bool = True,
    dps: int = 50,
    truncation: str = "box",
    labels: bool = False,
) -> Any:
    """Coefficients c_w with E f(h_t) - E_inf f = sum_w c_w S^w(Phi_t(u)) + truncation error.

    Parameters
    ----------
    taylor : callable taylor(n, k, p) -> number
        d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} K^(n)_k(0) of the triangular kernel
        (lags tau_1 = t - s_1, tau_j = s_{j-1} - s_j; MATH.md section 4), k a tuple of n
        0-based input indices, p a tuple of n non-negative integers
        (``Response.kernel_taylor`` has exactly this meaning).
    degree, level : P and N of the feature (:func:`response_feature`).
    inputs : m, the number of input channels.
    exact : exact rational arithmetic (values returned by ``taylor`` that are not
        rational are evaluated with mpmath at ``dps`` digits); ``exact=False``: mpmath at ``dps``.
    truncation : which words receive coefficients.
        ``"box"`` (default): every word with all q_j <= P; needs ``taylor`` at p_1 <= P,
        p_j <= 2P, |p| <= nP.  ``"total"``: only words with q_1 + ... + q_n <= P (the
        Taylor polynomial of total degree P of each kernel); needs |p| <= P only.
        The two give the same value on every word they share: c_w is the exact
        coefficient of prod_j psi_{q_j}(r_j) in the Taylor series of K in reversed
        times r_j = t - s_j.
    labels : also return the word labels.

    Returns
    -------
    float array (size,) in the layout of :func:`response_feature` (level 0 excluded),
    or (array, words) with ``labels``.  Rounded to float64 only at the end: the
    alternating binomial sums cancel heavily at large P.
    """
    check_feature_int("degree", degree, 1)
    check_feature_int("level", level, 1)
    check_feature_int("inputs", inputs, 1)
    check_feature_int("dps", dps, 15)
    check_choice(truncation, "truncation", ("box", "total"))
    if not callable(taylor):
        raise FeatureError(f"taylor: expected a callable taylor(n, k, p) -> number, received {describe(taylor)}")
    dim = (degree + 1) * inputs
    check_feature_memory("feature_coefficients", sig_size(dim, level), f"D = {dim} channels, level {level}")
    parts = []
    with mpmath.workdps(dps):
        for n in range(1, level + 1):
            mask = _needed(degree, n, truncation)
            block = np.zeros((degree + 1, inputs) * n)  # axes q_1, k_1, ..., q_n, k_n
            for ks in product(range(inputs), repeat=n):
                a, common = _taylor_array(taylor, n, ks, mask, exact)
                c = _combine(a, degree, n)
                floats = [float(Fraction(x, common)) if common else float(x) for x in c.ravel()]
                where = tuple(x for k in ks for x in (slice(None), k))
                block[where] = np.reshape(floats, c.shape)
            if truncation == "total":
                qsum = np.indices((degree + 1,) * n).sum(axis=0)
                keep = (qsum <= degree).reshape([x for _ in range(n) for x in (degree + 1, 1)])
                block *= keep
            parts.append(block.ravel())
    result = np.concatenate(parts)
    if labels:
        return result, feature_words(inputs, degree, level)
    return result


# --------------------------------------------------------------------------- prediction and kernel


def top_shell_mask(degree: int, level: int, inputs: int = 1, shell: int | None = None) -> np.ndarray:
    """Boolean mask over the feature layout of degree P (levels 1..level): the words whose largest q_j is
    ``shell`` (default P).

    The words with every q_j <= P - 1 are exactly the features of degree P - 1 (their coefficients c_w do
    not depend on P), so <c * mask, Phi> = prediction(P) - prediction(P - 1): the last shell of the series
    in P, whose size estimates its truncation."""
    shell = degree if shell is None else shell
    dim = (degree + 1) * inputs
    parts = []
    for n in range(1, level + 1):
        q = np.indices((dim,) * n).reshape(n, -1) // inputs
        parts.append(np.max(q, axis=0) == shell)
    return np.concatenate(parts)


#: the last shell of the series in P may be this large against the response before a warning
FEATURE_RTOL = 1e-2


def check_feature_truncation(
    error: Any, previous: Any, response: Any, degree: int, why: str = "", stacklevel: int = 3
) -> None:
    """Judge the truncation in P of a response-feature prediction.

    error = |shell P| (prediction(P) - prediction(P - 1)), previous = |shell P - 1|, response = prediction -
    E_inf f (arrays of equal shape).  Warns (ConvergenceWarning) where the last shell exceeds FEATURE_RTOL of
    the response (not converged in P; the message says whether the shells still grow with P); refuses
    (FeatureError on ``degree``) where the prediction is not finite.  ``why``: the route's reason for slow
    convergence, added to both messages.  (Routes that know their growth rate refuse before, e.g. Galerkin:
    ``Response.predict_features``.)"""
    import warnings

    from ..errors import ConvergenceWarning

    with np.errstate(invalid="ignore"):
        err = float(np.max(np.abs(error))) if np.size(error) else 0.0
        prev = float(np.max(np.abs(previous))) if np.size(previous) else 0.0
        big = float(np.max(np.abs(response))) if np.size(response) else 0.0
    finite = np.isfinite(err) and np.isfinite(big)
    if finite and (err <= FEATURE_RTOL * big or err <= 1e-13):
        return
    reason = f" {why}" if why else ""
    grow = f"; the shells still grow with P (x{err / prev:.3g} from P - 1)" if prev > 0 and err > prev else ""
    advice = "Raise degree, shorten the horizon t, or predict with Response.predict (no expansion in P)"
    if not finite:
        raise FeatureError(
            f"degree: the response-feature series does not converge at P = {degree}: its last shell (the terms "
            f"of degree P) is {err:.3g} against a response of {big:.3g}{grow}.{reason} {advice}"
        )
    warnings.warn(
        f"predict_features: the last shell of the series in P (P = {degree}) is {err:.3g}, {err / big:.2g} of the "
        f"response {big:.3g} (tolerance {FEATURE_RTOL:g}): not converged in P{grow}.{reason} {advice}",
        ConvergenceWarning,
        stacklevel=stacklevel,
    )


def predict_features(
    taylor: Taylor,
    mean0: Any,
    u: Any,
    t: Any,
    degree: int,
    level: int,
    *,
    running: bool = False,
    eps: float = 1.0,
    refine: int = 1,
    truncation: str = "box",
    exact: bool = True,
    dps: int = 50,
    return_error: bool = False,
    why: str = "",
) -> Any:
    """E f(h_t) ~ mean0 + sum_n eps^n sum_{|w| = n} c_w S^w(Phi_t(u)), at t[-1] (or every t_j with ``running``).

    ``mean0`` is E_inf f (``Response.mean0``, stationary start).  Shapes follow
    :func:`response_feature`: a float for one input, (...,) for a batch, and an
    extra time axis (..., L) with ``running``.

    Truncation in P: the last shell (words with some q_j = P, :func:`top_shell_mask`) is the change from
    degree P - 1 to P; its size is the error estimate (``return_error=True``: (value, estimate)).  Where it
    exceeds 1% of the response a ConvergenceWarning names the remedy (:func:`check_feature_truncation`;
    ``why`` adds the route's reason); a non-finite prediction is a FeatureError.
    """
    grid = check_grid(t)
    values, lead = input_batch(u, grid)
    m = values.shape[-1]
    feats = response_feature(values.reshape(*lead, grid.size, m), grid, degree, level, running=running, refine=refine)
    coef = feature_coefficients(taylor, degree, level, inputs=m, exact=exact, dps=dps, truncation=truncation)
    dim = (degree + 1) * m
    scale = np.concatenate([np.full(dim**n, float(eps) ** n) for n in range(1, level + 1)])
    try:
        base = float(as_expression(mean0, where="mean0"))
    except (TypeError, ExpressionError):
        raise FeatureError(f"mean0: expected a number (E_inf f), received {describe(mean0)}") from None
    with np.errstate(over="ignore", invalid="ignore"):
        response = feats @ (coef * scale)
        error = np.abs(feats @ (coef * scale * top_shell_mask(degree, level, m)))
        previous = np.abs(feats @ (coef * scale * top_shell_mask(degree, level, m, degree - 1)))
    check_feature_truncation(error, previous, response, degree, why)
    out = base + response
    value = float(out) if np.ndim(out) == 0 else out
    if return_error:
        return value, (float(error) if np.ndim(error) == 0 else error)
    return value


def response_kernel(
    U: Any,
    V: Any = None,
    *,
    t: Any,
    degree: int,
    level: int,
    include_level0: bool = False,
    refine: int = 1,
) -> np.ndarray:
    """Gram matrix k(u, v) = <Phi_t(u), Phi_t(v)> of the response feature.

    U : (B1, L, m) or (B1, L) for scalar inputs; V likewise (B2, ...), default V = U.
    Level 0 is excluded by default; ``include_level0=True`` adds the constant 1
    to every entry.  Returns (B1, B2); symmetric positive semidefinite when V is U.
    """
    fu = response_feature(_as_batch(U, "U"), t, degree, level, include_level0=include_level0, refine=refine)
    fv = (
        fu
        if V is None
        else response_feature(_as_batch(V, "V"), t, degree, level, include_level0=include_level0, refine=refine)
    )
    if fu.shape[-1] != fv.shape[-1]:
        raise FeatureError(
            f"V: the inputs of U and V must have the same number of channels, "
            f"received feature sizes {fu.shape[-1]} and {fv.shape[-1]}"
        )
    return fu @ fv.T


def _as_batch(x: Any, name: str) -> np.ndarray:
    if np.iscomplexobj(x):
        raise FeatureError(f"{name}: received complex inputs; the inputs must be real")
    arr = np.asarray(x, dtype=float)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise FeatureError(
            f"{name}: expected a batch of inputs of shape (B, L, m) or (B, L), received shape {arr.shape}"
        )
    return arr

"""Resource limits: every size volterra_sym refuses up front, stated once (docs/api.md, "Limits").

Each limit is a named constant read at call time, so a change applies everywhere: the Python
API, model files and the command line share these values.  Change one with
``vs.limits.configure(name=value)`` (or temporarily with ``vs.limits.overridden(...)``); where a
call has its own keyword (``max_memory=`` of ``simulate``/``verify``) that keyword wins for the
call.  A refusal says the size the request would need, the limit, and a remedy.

=======================  ====================================================================
limit                    meaning
=======================  ====================================================================
MAX_ORDER                highest kernel order any route derives (12)
MAX_LAG_DEGREE           highest Taylor degree in the lags (``lag_degree``) (30)
MAX_DERIVE_SECONDS       refuse derivations estimated to take longer (``taylor_estimate``,
                         ``exact_estimate``)
MAX_DEGREE               highest polynomial degree / exponent in a model; also the expression
                         parser's exponent limit (stated in :mod:`volterra_sym.model.parsing`,
                         which sits below this module)
MAX_TERMS                most monomials of an (expanded) polynomial readout or drift entry
MAX_KERNELS              most kernels of a derivation: p * sum_{n<=order} m^n index tuples
MAX_GENERATOR_CELLS      most finite-volume cells of ``method="generator"``
MAX_GALERKIN_DEGREE      highest polynomial degree of the Galerkin basis
GALERKIN_MEMORY          default bound on the Galerkin matrices (``max_memory=None``)
MAX_MC_WORK              most Monte Carlo work: paths x time steps x state dimension x runs
MC_MEMORY                default bound on Monte Carlo working memory (``max_memory=None``)
MAX_MODEL_FILE_BYTES     largest model file read
MIN_VERIFY_PATHS         fewest Monte Carlo paths for a ``verify`` verdict (a standard error)
MAX_GRID_POINTS          most points of a time grid (predict, simulate, verify, quadrature)
MAX_LAG_POINTS           most lag points of one kernel_values call
MAX_FREQUENCY_POINTS     most frequency points of one transfer-function call (``resp.transfer``)
MAX_FEATURE_VALUES       most float64 values a signature / response feature returns
MAX_QUADRATURE_EVALS     most kernel evaluations of ``volterra_quadrature`` (O(len(t)^(n+1)))
WARN_QUADRATURE_EVALS    ``volterra_quadrature`` warns (QuadratureCostWarning) above this
MAX_QUADRATURE_MEMORY    most bytes of ``volterra_quadrature``'s working arrays
MAX_FEATURE_DEGREE       highest support degree P of a response feature (``degree``,
                         ``feature_degree``): each step holds a (P+1) x (P+1) shift matrix
MAX_FEATURE_LEVEL        highest signature level N of a response feature (``level``)
MAX_FEATURE_REFINE       largest ``refine`` (subdivisions of each step) of a response feature
MAX_DPS                  most decimal digits of a high-precision computation (``dps``)
MAX_KERNEL_DERIVATIVE    highest total derivative order p_1 + ... + p_n of ``kernel_taylor``
MIN_ESTIMATE_PATHS       fewest paths of ``estimate_kernels`` (a standard error needs >= 2)
PREDICT_MEMORY           most bytes of a prediction's working arrays (filter stages, Galerkin
                         states: N x len(t))
MAX_BURN_IN_STEPS        most burn-in steps (burn_in / dt) of ``estimate_kernels``
=======================  ====================================================================
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import sympy as sp

from .errors import ArgumentError, InputError, ModelError, describe
from .model import parsing

#: the default working precision in digits wherever numbers cannot be kept exact (exact and Taylor
#: routes, spectral data, expectations, mpmath code generation); not a limit (``configure`` leaves it)
DEFAULT_DPS = 30
#: the highest kernel order any route derives (API, CLI and model files)
MAX_ORDER = 12
#: the highest Taylor degree in the lags of ``method="taylor"``
MAX_LAG_DEGREE = 30
#: derivations estimated (``taylor_estimate``, ``exact_estimate``) to take longer than this many seconds are refused
MAX_DERIVE_SECONDS = 120.0
#: seconds per unit of Taylor work on the reference machine (2 cores; fitted to measured derivations)
TAYLOR_SECONDS_PER_UNIT = 1.5e-5
#: the highest polynomial degree / exponent in a model (the parser's exponent limit, same value)
MAX_DEGREE: int = parsing.MAX_DEGREE
#: the most monomials of one expanded polynomial entry (readout, drift) in a derivation
MAX_TERMS = 5000
#: the most kernels (index tuples k over the orders 1..N, times readout components): p * sum_n m^n
MAX_KERNELS = 20_000
#: the most finite-volume cells of ``method="generator"`` (dense cells x cells matrices)
MAX_GENERATOR_CELLS = 4000
#: the highest polynomial degree of the Galerkin basis (``method="galerkin"``, ``degree=``)
MAX_GALERKIN_DEGREE = 60
#: the default bound in bytes on the Galerkin matrices (``max_memory=`` of ``method="galerkin"``)
GALERKIN_MEMORY = 2**31
#: the most Monte Carlo work, paths x time steps x state dimension x runs (~ 11 minutes of simulate)
MAX_MC_WORK = 2e10
#: Monte Carlo work units per second on the reference machine (for the time estimate)
MC_UNITS_PER_SECOND = 3e7  # measured: simulate (Euler, 2-D tanh SRNN) 3.5e7 on an idle 2-core machine
#: the default bound in bytes on Monte Carlo working memory (``max_memory=`` of simulate / verify)
MC_MEMORY = 2**28
#: the largest model file read (bytes)
MAX_MODEL_FILE_BYTES = 1_000_000
#: the fewest paths for a ``verify`` verdict: below it the standard error is not meaningful
MIN_VERIFY_PATHS = 100
#: the most points of a time grid
MAX_GRID_POINTS = 1_000_000
#: the most lag points one ``kernel_values`` call evaluates (numerical routes hold N values per point)
MAX_LAG_POINTS = 1_000_000
#: the most frequency points one transfer-function call evaluates (``resp.transfer(n)(omega...)``)
MAX_FREQUENCY_POINTS = 1_000_000
#: the most float64 values a signature / response-feature function returns
MAX_FEATURE_VALUES = 200_000_000
#: the most kernel evaluations of ``volterra_quadrature`` and the count above which it warns
MAX_QUADRATURE_EVALS = 5e8
WARN_QUADRATURE_EVALS = 2e7
#: the most bytes of ``volterra_quadrature``'s working arrays
MAX_QUADRATURE_MEMORY = 2**30

#: the highest support degree P of a response feature: each grid step holds a (P+1) x (P+1) shift matrix
MAX_FEATURE_DEGREE = 200
#: the highest signature level N of a response feature (the kernel order it represents)
MAX_FEATURE_LEVEL = 32
#: the largest ``refine`` of a response feature (subdivisions of every grid step)
MAX_FEATURE_REFINE = 10_000
#: the most decimal digits of a high-precision computation (``dps=`` of the exact, Taylor and Galerkin routes)
MAX_DPS = 2000
#: the highest total derivative order of ``Response.kernel_taylor`` (beyond it the numbers lose every digit)
MAX_KERNEL_DERIVATIVE = 60
#: the fewest paths of ``estimate_kernels``: its standard error (sample std / sqrt(paths)) needs two
MIN_ESTIMATE_PATHS = 2
#: the most bytes of a prediction's working arrays (32 B x len(t) per filter stage; Galerkin: N x len(t) states)
PREDICT_MEMORY = 2**30
#: the most burn-in steps (burn_in / dt) of ``estimate_kernels``
MAX_BURN_IN_STEPS = 2_000_000

_NAMES = (
    "MAX_ORDER",
    "MAX_LAG_DEGREE",
    "MAX_DERIVE_SECONDS",
    "MAX_DEGREE",
    "MAX_TERMS",
    "MAX_KERNELS",
    "MAX_GENERATOR_CELLS",
    "MAX_GALERKIN_DEGREE",
    "GALERKIN_MEMORY",
    "MAX_MC_WORK",
    "MC_MEMORY",
    "MAX_MODEL_FILE_BYTES",
    "MIN_VERIFY_PATHS",
    "MAX_GRID_POINTS",
    "MAX_LAG_POINTS",
    "MAX_FREQUENCY_POINTS",
    "MAX_FEATURE_VALUES",
    "MAX_QUADRATURE_EVALS",
    "WARN_QUADRATURE_EVALS",
    "MAX_QUADRATURE_MEMORY",
    "MAX_FEATURE_DEGREE",
    "MAX_FEATURE_LEVEL",
    "MAX_FEATURE_REFINE",
    "MAX_DPS",
    "MAX_KERNEL_DERIVATIVE",
    "MIN_ESTIMATE_PATHS",
    "PREDICT_MEMORY",
    "MAX_BURN_IN_STEPS",
)

#: limits below which nothing works (a count of paths for a standard error); configure refuses lower values
_MINIMUM = {"MIN_ESTIMATE_PATHS": 2}


def current() -> dict[str, Any]:
    """The limits in force, name -> value."""
    return {name: getattr(sys.modules[__name__], name) for name in _NAMES}


def configure(**changes: Any) -> dict[str, Any]:
    """Change limits (keywords are the names in lower case, e.g. ``max_grid_points=2_000_000``).

    Atomic: every change is validated before any is applied, so a refused call changes nothing.
    Returns the previous values (as keywords, so ``configure(**old)`` restores them).
    """
    module = sys.modules[__name__]
    new = {key: _checked(key, value, getattr(module, key.upper(), None)) for key, value in changes.items()}
    old: dict[str, Any] = {}
    for key, value in new.items():
        name = key.upper()
        old[key] = getattr(module, name)
        setattr(module, name, value)
        if name == "MAX_DEGREE":  # the parser's exponent limit is the same limit
            parsing.MAX_DEGREE = int(value)
    return old


def _checked(key: str, value: Any, prev: Any) -> int | float:
    """``value`` as the limit ``key`` stores it (int for counts, float otherwise), or ArgumentError."""
    name = key.upper() if isinstance(key, str) else ""
    if name not in _NAMES:
        raise ArgumentError(f"{key}: not a limit; the limits are {[n.lower() for n in _NAMES]}")
    number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if isinstance(value, (int, np.integer)) and number:
        exact = int(value)
        if exact <= 0 or exact > sys.float_info.max:
            raise ArgumentError(
                f"{key}: expected a positive finite number (at most {sys.float_info.max:.3g}), "
                f"received {describe(value)}"
            )
    elif not number or not math.isfinite(value) or value <= 0:
        raise ArgumentError(f"{key}: expected a positive finite number, received {describe(value)}")
    if isinstance(prev, int) and float(value) != int(value):
        raise ArgumentError(f"{key}: {name} is a count; expected a positive integer, received {describe(value)}")
    out: int | float = int(value) if isinstance(prev, int) else float(value)
    low = _MINIMUM.get(name, 0)
    if out < low:
        raise ArgumentError(f"{key}: expected a value >= {low} (below it nothing is meaningful), received {out}")
    return out


@contextlib.contextmanager
def overridden(**changes: Any) -> Iterator[None]:
    """Temporarily change limits: ``with vs.limits.overridden(max_terms=10_000): ...``.

    The previous values are restored on exit, also when the body (or a refused change) raises."""
    module = sys.modules[__name__]
    saved = {name: getattr(module, name) for name in _NAMES}
    saved_power = parsing.MAX_DEGREE
    try:
        configure(**changes)
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)
        parsing.MAX_DEGREE = saved_power


#: the hint of a refused ``dps`` (the routes' check_int)
DPS_HINT = " (digits; at most the limit MAX_DPS, raised with vs.limits.configure(max_dps=...))"
#: the advice of a refused kernel_taylor derivative order (closed-form and Galerkin routes)
DERIVATIVE_ADVICE = (
    "a derivative of this total order (p_1 + ... + p_n) scales like rate^p and cancels every digit of its terms; "
    "use lower orders (kernel values come from kernel_values)"
)


def check_limit(
    value: int | float, argument: str, limit: str, remedy: str, cls: type[Exception] = ArgumentError
) -> None:
    """Refuse ``value`` of ``argument`` above the limit named ``limit`` (before any work), saying what to do."""
    bound = getattr(sys.modules[__name__], limit)
    if value > bound:
        shown = f"{value:.3g}" if isinstance(value, float) or value >= 10**9 else str(value)
        raise cls(
            f"{argument}: {shown} exceeds the limit {limit} = {bound:g}; {remedy}, or raise the limit with "
            f"{_remedy(limit)}"
        )


def check_memory(
    nbytes: float,
    argument: str,
    what: str,
    remedy: str,
    limit: str = "PREDICT_MEMORY",
    cls: type[Exception] = ArgumentError,
) -> None:
    """Refuse working arrays of ``nbytes`` above the byte limit ``limit`` (before allocating)."""
    bound = getattr(sys.modules[__name__], limit)
    if nbytes > bound:
        raise cls(
            f"{argument}: {what} would need {human_bytes(nbytes)}, beyond the limit {limit} = {human_bytes(bound)}; "
            f"{remedy}, or raise the limit with {_remedy(limit)}"
        )


def _remedy(name: str) -> str:
    return f"vs.limits.configure({name.lower()}=...)"


def human_bytes(n: float) -> str:
    """``1.5e9`` -> ``'1.4 GiB'``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} bytes"


def human_seconds(s: float) -> str:
    """``7200`` -> ``'2 h'``."""
    if s >= 86400 * 365:
        return f"{s / (86400 * 365):.2g} years"
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.2g} {unit}"
    return f"{s:.2g} s"


# --------------------------------------------------------------------------- polynomial size


def polynomial_size(expr: sp.Expr, state: Sequence[sp.Symbol]) -> tuple[int, int]:
    """(degree, monomials) bounds of ``expr`` expanded in ``state``, read off its tree without expanding.

    Non-polynomial pieces (tanh(...), ...) count as one new variable of degree 1; their arguments
    are bounded too (the larger of the two sizes is returned).
    """
    states = set(state)
    n = len(states)
    worst = [0, 1]

    def walk(e: sp.Expr) -> tuple[int, int, int]:
        """(degree, terms, variables) of ``e``."""
        if e in states:
            return 1, 1, 1
        if not e.free_symbols & states:
            return 0, 1, 0
        if isinstance(e, sp.Add):
            parts = [walk(a) for a in e.args]
            return max(p[0] for p in parts), sum(p[1] for p in parts), sum(p[2] for p in parts)
        if isinstance(e, sp.Mul):
            parts = [walk(a) for a in e.args]
            terms = 1
            for p in parts:
                terms = min(terms * p[1], 10**30)
            return sum(p[0] for p in parts), terms, sum(p[2] for p in parts)
        if isinstance(e, sp.Pow) and e.exp.is_Integer and int(e.exp) > 0:
            d, t, v = walk(e.base)
            q = int(e.exp)
            nv = min(max(v, 1), n + t)  # variables of the base
            # monomials of (t terms)^q <= C(t - 1 + q, q); of degree <= d*q in nv variables <= C(nv + d*q, nv)
            terms = min(_comb(t - 1 + q, q), _comb(nv + d * q, nv))
            return d * q, terms, v
        for a in e.args:  # a function of the state: bound its argument, count it as one variable
            if isinstance(a, sp.Expr) and a.free_symbols & states:
                d, t, _ = walk(a)
                worst[0], worst[1] = max(worst[0], d), max(worst[1], t)
        return 1, 1, 1

    d, t, _ = walk(expr)
    return max(d, worst[0]), max(t, worst[1])


def _clip(e: Any, limit: int = 40) -> str:
    text = str(e)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _comb(a: int, b: int) -> int:
    if b < 0 or a < b:
        return 1
    if b > 200 and a - b > 200:  # astronomically large: a cheap lower bound suffices
        return 10**30
    return min(math.comb(a, b), 10**30)


def readout_degree(model: Any) -> int | None:
    """The readout's polynomial degree bound in the state, or None when a component is not polynomial."""
    states = set(model.state)
    degrees = []
    for e in model.readout:
        if any(f.free_symbols & states for f in e.atoms(sp.Function)):
            return None
        for power in e.atoms(sp.Pow):
            if power.base.free_symbols & states and not (power.exp.is_Integer and power.exp >= 0):
                return None
        degrees.append(polynomial_size(e, model.state)[0])
    return max(degrees) if degrees else None


def check_size(expr: sp.Expr, state: Sequence[sp.Symbol], label: str, cls: type[Exception] = ModelError) -> None:
    """Refuse ``expr`` when its degree in ``state`` exceeds MAX_DEGREE or it expands to more than MAX_TERMS
    monomials (bounded from the tree: nothing is expanded)."""
    degree, terms = polynomial_size(expr, state)
    if degree > MAX_DEGREE:
        raise cls(
            f"{label}: polynomial degree {degree} in the state exceeds the limit MAX_DEGREE = {MAX_DEGREE} "
            f"({_clip(expr)}); use a lower degree (e.g. a truncated expansion), or raise the limit with "
            f"{_remedy('MAX_DEGREE')}"
        )
    if terms > MAX_TERMS:
        size = f"~{terms:.2g}" if terms >= 10**6 else str(terms)
        raise cls(
            f"{label}: expands to {size} monomials in the state, beyond the limit MAX_TERMS = {MAX_TERMS} "
            f"({_clip(expr)}); use a lower degree or fewer state variables, or raise the limit with "
            f"{_remedy('MAX_TERMS')}"
        )


def check_model_size(model: Any) -> None:
    """Refuse a model whose polynomial pieces exceed MAX_DEGREE / MAX_TERMS (before any expansion).

    A network given by its matrices whose sympy form is not built yet (``symbolic_built`` False: vs.SRNN / vs.OU
    with numeric arrays) has a drift that is affine plus an activation of an affine map, constant noise and
    coupling, and no input symbols: only its readout is checked, so that the check does not build n^2
    expressions (n = 256: minutes) for a route that works on the matrices."""
    if not getattr(model, "symbolic_built", True):
        parts = {"readout": model.readout}
    else:
        parts = {"drift": model.drift, "diffusion": model.diffusion, "coupling": model.coupling}
        parts["readout"] = model.readout
    for where, mat in parts.items():
        for i, e in enumerate(mat):
            check_size(e, model.state, where if len(mat) == 1 else f"{where}[{i}]")
    if getattr(model, "symbolic_built", True):
        check_input_powers(model)


def check_input_powers(model: Any) -> None:
    """Refuse an input symbol raised to an integer power beyond MAX_ORDER (MATH.md section 11).

    Channel u^alpha carries eps^|alpha|, so a power u^k with k > MAX_ORDER could only enter orders no
    route derives: such a model is almost certainly a mistake (or needs a rescaled input).
    """
    inputs = set(getattr(model, "inputs", ()))
    for where, mat in (("drift", model.drift), ("coupling", model.coupling)):
        for i, e in enumerate(mat):
            for pw in e.atoms(sp.Pow):
                if pw.base in inputs and pw.exp.is_Integer and int(pw.exp) > MAX_ORDER:
                    raise ModelError(
                        f"{where}{'' if len(mat) == 1 else f'[{i}]'}: the input {pw.base} appears to the power "
                        f"{pw.exp}, beyond MAX_ORDER = {MAX_ORDER} (channel u^k carries eps^k, and no route derives "
                        f"orders above {MAX_ORDER}); rescale the input or raise the limit with {_remedy('MAX_ORDER')}"
                    )


def channel_count(inputs: int, degree: int) -> int:
    """Number of input channels u^alpha, 1 <= |alpha| <= degree, over ``inputs`` inputs (at most)."""
    return math.comb(inputs + degree, degree) - 1


def check_kernel_count(order: int, inputs: int, components: int, degree: int | None = None) -> None:
    """Refuse a derivation with more than MAX_KERNELS kernels (p * sum_{n<=order} m^n index tuples)."""
    count = components * sum(inputs**n for n in range(1, order + 1))
    if count > MAX_KERNELS:
        fit = 0
        while fit < order and components * sum(inputs**n for n in range(1, fit + 2)) <= MAX_KERNELS:
            fit += 1
        vanish = (
            f"; the readout has degree {degree}, so every kernel above order {degree} vanishes"
            if degree is not None and degree < order
            else ""
        )
        raise ArgumentError(
            f"order: order {order} with {inputs} inputs and {components} readout component(s) means {count:.3g} "
            f"kernels (sum of m^n index tuples), beyond the limit MAX_KERNELS = {MAX_KERNELS}{vanish}; use "
            + (f"order <= {fit}" if fit >= 1 else "fewer inputs or readout components")
            + f", or raise the limit with {_remedy('MAX_KERNELS')}"
        )


# --------------------------------------------------------------------------- Taylor route cost


def taylor_estimate(order: int, lag_degree: int, inputs: int, generators: int, stationary: bool) -> tuple[int, float]:
    """(work units, estimated seconds) of ``method="taylor"`` for one readout component.

    Work = (number of operator words) x (size of the deepest observable): the words are
    L0^{p_{n+1}} L1^{k_n} ... L1^{k_1} L0^{p_1} with n <= order, sum p <= lag_degree (p_{n+1}
    only for non-stationary starts), i.e. sum_n m^n C(P + n', n') with n' = n or n + 1; an
    observable after P applications of L0 is a polynomial of degree ~2P in the ``generators``
    ring variables (state + tanh/exp/... pieces), C(2P + g, g) monomials.  Fitted to measured
    derivations (1-3 state variables, tanh SRNNs, orders 1-12, lag degrees 2-12): within ~3x.
    """
    words = 0
    for n in range(1, order + 1):
        width = n if stationary else n + 1
        words += inputs**n * math.comb(lag_degree + width, width)
    size = math.comb(2 * lag_degree + generators, generators)
    work = words * size
    return work, work * TAYLOR_SECONDS_PER_UNIT


def check_taylor_cost(
    order: int, lag_degree: int, inputs: int, generators: int, stationary: bool, components: int
) -> None:
    """Refuse a Taylor derivation estimated to take longer than MAX_DERIVE_SECONDS."""
    if lag_degree > MAX_LAG_DEGREE:
        raise ArgumentError(
            f"lag_degree: expected an integer in 0..{MAX_LAG_DEGREE} (the limit MAX_LAG_DEGREE), received "
            f"{lag_degree}; raise the limit with {_remedy('MAX_LAG_DEGREE')}"
        )
    work, seconds = taylor_estimate(order, lag_degree, inputs, generators, stationary)
    seconds *= components
    if seconds > MAX_DERIVE_SECONDS:
        smaller = lag_degree
        while smaller > 0 and components * taylor_estimate(order, smaller, inputs, generators, stationary)[1] > (
            MAX_DERIVE_SECONDS
        ):
            smaller -= 1
        hint = f"lag_degree <= {smaller}" if smaller > 0 or order == 1 else "a lower order"
        raise ArgumentError(
            f"lag_degree: the Taylor route at order {order}, lag_degree {lag_degree} ({inputs} input(s), "
            f"{generators} ring variables) needs ~{work * components:.2g} work units, estimated "
            f"{human_seconds(seconds)}, beyond the limit MAX_DERIVE_SECONDS = {MAX_DERIVE_SECONDS:g} s; use "
            f"{hint} (or a lower order), or raise the limit with {_remedy('MAX_DERIVE_SECONDS')}"
        )


# --------------------------------------------------------------------------- exact route cost


def irreducible_block(pattern: Any) -> int:
    """Size of the largest irreducible diagonal block of a square matrix (the largest strongly connected
    component of the graph i -> j where entry (i, j) is nonzero): 1 for a triangular matrix, also one whose
    states are listed in another order; the block sizes of a block-diagonal one.  Boolean reachability
    by repeated squaring, O(n^3 log n) on booleans."""
    reach = np.asarray(pattern, dtype=bool) | np.eye(len(pattern), dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(max(len(reach), 2)))))):
        reach = (reach.astype(np.int64) @ reach.astype(np.int64)) > 0
    return int(np.max(np.sum(reach & reach.T, axis=1))) if len(reach) else 0


def exact_estimate(n: int, block: int | bool) -> float:
    """Estimated seconds of ``method="exact"`` for an n-dimensional numeric model whose linear part has
    largest irreducible block ``block`` (:func:`irreducible_block`; ``True``/``False``: n / 1, dense / triangular).

    An irreducible numeric block has in general an irrational spectrum: its characteristic polynomial is
    factored exactly and the Lyapunov equation solved in high precision.  Measured (reference machine, order
    1): dense random A 0.18/0.42/0.94/2.2/6.3 s for n = 5..9 and ~20-90 s for n = 10, ~2.7x per dimension of
    the block; reducible linear parts cost about their largest block plus the exact arithmetic on the n^2
    Lyapunov unknowns, measured at n = 12 (the cases the dense rule refused): triangular up to the order of
    the states 1.2 s, 2 x 2 blocks 0.5 s; n = 25 diagonal 1.5 s (0.01 n^2 s covers these)."""
    k = (n if block else 1) if isinstance(block, bool) else int(block)
    return 0.01 * n * n + (0.2 if k <= 5 else 0.18 * 2.7 ** (k - 5))


def check_exact_cost(n: int, block: int | bool) -> None:
    """Refuse an exact derivation estimated to take longer than MAX_DERIVE_SECONDS."""
    seconds = exact_estimate(n, block)
    k = (n if block else 1) if isinstance(block, bool) else int(block)
    if seconds > MAX_DERIVE_SECONDS:
        fit = max((j for j in range(1, k + 1) if exact_estimate(n, j) <= MAX_DERIVE_SECONDS), default=0)
        raise ModelError(
            f"A: the exact route for a {n} x {n} numeric linear part whose largest irreducible block is {k} x {k} "
            f"(in general an irrational spectrum: exact factoring and a high-precision Lyapunov solve) is "
            f"estimated at {human_seconds(seconds)}, beyond the limit MAX_DERIVE_SECONDS = {MAX_DERIVE_SECONDS:g} s "
            f"(blocks up to {fit} x {fit} fit at this n); use Monte Carlo (vs.simulate) or method='taylor', or "
            f"raise the limit with {_remedy('MAX_DERIVE_SECONDS')}"
        )


# --------------------------------------------------------------------------- Monte Carlo


def check_mc_work(paths: int, steps: int, width: int, runs: int = 1, min_paths: int = 1) -> None:
    """Refuse Monte Carlo work paths x steps x width x runs beyond MAX_MC_WORK (before allocating).

    ``min_paths``: the fewest paths the caller accepts (``verify``: MIN_VERIFY_PATHS), so the advice
    "use paths <= N" is only given when it can be followed."""
    per_path = max(steps, 1) * max(width, 1) * max(runs, 1)
    work = float(paths) * per_path
    if work > MAX_MC_WORK:
        fit = int(MAX_MC_WORK // per_path)
        fewer = (
            f"use paths <= {fit} (the standard error shrinks like 1/sqrt(paths)) or a coarser grid"
            if fit >= min_paths
            else f"use a coarser grid or fewer substeps ({min_paths} path(s) would need {min_paths * per_path:.2g})"
        )
        raise ArgumentError(
            f"paths: {paths} paths x {steps} time steps x {width} state values"
            + (f" x {runs} runs" if runs > 1 else "")
            + f" = {work:.2g} units of Monte Carlo work, estimated {human_seconds(work / MC_UNITS_PER_SECOND)} "
            f"(holding all paths at once would need {human_bytes(8.0 * paths * width * 2)}; they are streamed in "
            f"chunks of max_memory), beyond the limit MAX_MC_WORK = {MAX_MC_WORK:.2g}; {fewer}, or raise the "
            f"limit with {_remedy('MAX_MC_WORK')}"
        )


def check_grid_points(points: int, what: str = "t", remedy: str = "use a coarser grid") -> None:
    """Refuse a time grid (or a number of time steps) of more than MAX_GRID_POINTS points."""
    if points > MAX_GRID_POINTS:
        raise InputError(
            f"{what}: {points} grid points exceed the limit MAX_GRID_POINTS = {MAX_GRID_POINTS} (the arrays of a "
            f"prediction or simulation grow with the grid: ~{human_bytes(8.0 * points)} per stored value); "
            f"{remedy}, or raise the limit with {_remedy('MAX_GRID_POINTS')}"
        )

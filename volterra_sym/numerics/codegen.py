"""Lowering kernels to numeric callables, and standalone NumPy modules.

Every kernel is an exponential polynomial; in real form

    K(tau) = sum_j prod_i tau_i^{p_ij} e^{-alpha_ij tau_i} [a_j cos(beta_j . tau) + b_j sin(beta_j . tau)].

The NumPy code computes each distinct factor e^{-alpha tau_i}, tau_i^p and each
distinct phase cos/sin(beta . tau) once (common-subexpression elimination by
construction) and sums the terms.  The generated source is plain Python that
needs only NumPy, one function per kernel (``K2_1_1`` is K^(2)_{1,1}, indices
1-based as in MATH.md), each with its formula in the docstring.

The mpmath backend evaluates the same exponential polynomial term by term from
the exact (or ``dps``-digit) coefficients, independently of the generated code.
"""

from __future__ import annotations

import itertools
import keyword
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import mpmath
import numpy as np
import sympy as sp

from .. import limits
from ..algebra.exp_polynomial import ExpPoly, numeric_value, stable_numeric_terms
from ..errors import InputError
from ..model.diffusion import Diffusion
from ..validate import (
    COMPLEX_LAGS,
    check_choice,
    check_index_tuple,
    check_int,
    check_real_in_range,
    output_path,
    refusal,
    write_text_file,
)

BACKENDS = ("numpy", "mpmath")


class ClosedFormKernels(Protocol):
    """What lowering needs of a closed-form Response (structural type: the numerics sit below the routes)."""

    model: Diffusion
    order: int
    taus: tuple[sp.Symbol, ...]
    t_sym: sp.Symbol

    @property
    def stationary(self) -> bool: ...

    @property
    def mean0(self) -> Any: ...

    def lags(self, n: int) -> tuple[sp.Symbol, ...]: ...

    def kernel(self, n: int, k: Sequence[int] | int | None = None, component: int | None = None) -> Any: ...

    def kernel_form(self, n: int, k: Sequence[int] | int | None = None, component: int = 0) -> ExpPoly: ...

    def mean0_form(self, component: int = 0) -> ExpPoly: ...


def _label(n: int, ks: tuple[int, ...], component: int, vector: bool) -> str:
    base = f"K{n}_" + "_".join(str(k + 1) for k in ks)
    return f"{base}_f{component + 1}" if vector else base


def real_terms(
    F: ExpPoly, subs: dict, max_lag: float = 100.0
) -> list[tuple[tuple[float, ...], tuple[int, ...], tuple[float, ...], float, float]]:
    """(alpha, p, beta, a, b) in float: term = prod tau^p e^{-alpha tau} (a cos(beta.tau) + b sin(beta.tau)).

    Near-coincident rates are merged for lags up to ``max_lag`` first (see
    :func:`volterra_sym.algebra.exp_polynomial.stable_numeric_terms`), so the float64 code does not cancel.
    """
    groups: dict[tuple, list[float]] = {}
    for mus, p, cz in stable_numeric_terms(F, subs, max_lag):
        alpha = tuple(round(m.real, 14) + 0.0 for m in mus)
        beta = tuple(round(m.imag, 14) + 0.0 for m in mus)
        # Re(c e^{-i beta.tau}) = Re c cos(beta.tau) + Im c sin(beta.tau)
        a, b = cz.real, cz.imag
        if any(beta):
            first = next(x for x in beta if x != 0)
            if first < 0:
                beta = tuple(-x + 0.0 for x in beta)
                b = -b
        else:
            b = 0.0
        acc = groups.setdefault((alpha, p, beta), [0.0, 0.0])
        acc[0] += a
        acc[1] += b
    return [(al, p, be, a, b) for (al, p, be), (a, b) in groups.items() if a != 0 or b != 0]


def _fmt(x: float) -> str:
    return repr(float(x))


def _function_source(name: str, args: list[str], terms: list, doc: str) -> str:
    lines = [f"def {name}({', '.join(args)}):", f'    """{doc}"""']
    for a in args:
        lines.append(f"    {a} = _real({a}, {a!r})")
    if not terms:
        shape = " + ".join(f"0.0 * {a}" for a in args) if args else "0.0"
        lines.append(f"    return {shape}")
        return "\n".join(lines)
    exps: dict[tuple[int, float, float], str] = {}
    pows: dict[tuple[int, int], str] = {}
    real_body, osc_body = [], []
    for alpha, p, beta, a, b in terms:
        factors = []
        for i, (al, pi, be) in enumerate(zip(alpha, p, beta)):
            if al != 0 or be != 0:
                key = (i, al, be)
                if key not in exps:  # e^{-alpha tau} (real) or e^{(-alpha + i beta) tau} (complex), shared by terms
                    exps[key] = f"e{len(exps)}"
                    rate = _fmt(-al) if be == 0 else f"complex({_fmt(-al)}, {_fmt(be)})"
                    lines.append(f"    {exps[key]} = np.exp({rate} * {args[i]})")
                factors.append(exps[key])
            if pi:
                key2 = (i, pi)
                if key2 not in pows:
                    pows[key2] = f"p{len(pows)}"
                    lines.append(f"    {pows[key2]} = {args[i]} ** {pi}")
                factors.append(pows[key2])
        if any(beta):  # a cos(beta.tau) + b sin(beta.tau) = Re((a - i b) e^{i beta.tau})
            osc_body.append(" * ".join([f"complex({_fmt(a)}, {_fmt(-b)})", *factors]))
        else:
            real_body.append(" * ".join([_fmt(a), *factors]))
    shape = " + ".join(f"0.0 * {a}" for a in args) if args else "0.0"
    parts = []
    if real_body:
        parts.append("(\n        " + "\n        + ".join(real_body) + "\n    )")
    if osc_body:
        parts.append("(\n        " + "\n        + ".join(osc_body) + "\n    ).real")
    lines.append("    return " + " + ".join(parts) + f" + ({shape})")
    return "\n".join(lines)


def module_source(resp: ClosedFormKernels, max_lag: float = 100.0) -> str:
    """Source text of a standalone NumPy module holding every kernel and the zeroth-order term."""
    model = resp.model
    subs = dict(model.params)
    vector = model.vector_readout
    funcs = []
    registry = []
    t_name = _safe(str(resp.t_sym))
    for c in range(model.p):
        F0 = resp.mean0_form(c)
        if resp.stationary:
            total = sum((cc for _, _, cc in F0), 0)
            F0 = ExpPoly.constant((resp.t_sym,), total)
        name0 = f"mean0_f{c + 1}" if vector else "mean0"
        doc0 = f"E f(h^0_t) = {_doc(resp.mean0[c] if vector else resp.mean0)}"
        funcs.append(_function_source(name0, [t_name], real_terms(F0, subs, max_lag), doc0))
        registry.append(f"    ({c}, 0, ()): {name0},")
        for n in range(1, resp.order + 1):
            for ks in itertools.product(range(model.m), repeat=n):
                F = resp.kernel_form(n, ks, c)
                lags = [_safe(str(s)) for s in resp.lags(n)]
                terms = real_terms(F, subs, max_lag)
                terms = [
                    (_restrict(al, resp, n), _restrict(p, resp, n), _restrict(be, resp, n), a, b)
                    for al, p, be, a, b in terms
                ]
                name = _label(n, ks, c, vector)
                expr = resp.kernel(n, ks, component=c)
                doc = f"K^({n})_{{{','.join(str(k + 1) for k in ks)}}}({', '.join(lags)}) = {_doc(expr)}"
                funcs.append(_function_source(name, lags, terms, doc))
                registry.append(f"    ({c}, {n}, {tuple(ks)!r}): {name},")
    f_txt = ", ".join(str(f) for f in model.readout)
    header = f'''"""Response kernels generated by volterra_sym (needs only NumPy).

Model: {model!r}
Readout f(h) = {f_txt}
Initial law: {model.initial!r}
Orders: 1..{resp.order}; K^(n) is the triangular kernel in the lags tau_1 = t - s_1, tau_j = s_(j-1) - s_j
{"" if resp.stationary else "(plus s_n, the time from the start to the oldest input)"}
Function K<n>_<k1>_..._<kn> is K^(n)_(k1..kn), input indices 1-based; mean0 is E f(h^0_t).
KERNELS maps (component, n, k) with 0-based k to the function.
"""

import numpy as np


class InputError(ValueError):
    """Bad input: the class and message volterra_sym gives for the same mistake (this module does not import it)."""


def _real(x, name):
    """A lag array as float64; complex lags are refused (NumPy would drop their imaginary parts)."""
    x = np.asarray(x)
    if np.iscomplexobj(x):
        raise InputError(name + ": " + COMPLEX_LAGS)
    return x.astype(float)


COMPLEX_LAGS = {COMPLEX_LAGS!r}
'''
    return header + "\n\n" + "\n\n\n".join(funcs) + "\n\n\nKERNELS = {\n" + "\n".join(registry) + "\n}\n"


def _restrict(values: tuple, resp: ClosedFormKernels, n: int) -> tuple:
    N = len(resp.taus)
    return tuple(values[:n]) + (() if resp.stationary else (values[N],))


def _safe(name: str) -> str:
    out = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    return out + "_" if keyword.iskeyword(out) else out


def _doc(expr: Any) -> str:
    text = str(expr).replace('"""', "'''").replace("\\", "\\\\")
    return text if len(text) < 4000 else text[:4000] + " ..."


class Lowered:
    """Numeric callables for every kernel of a Response.

    ``kernel(n, k, component)`` returns a function of the lags (``resp.lags(n)``,
    arrays broadcast against each other); ``mean0`` is a function of t.
    """

    def __init__(self, backend: str, funcs: dict, source: str | None, dps: int | None, vector: bool, m: int):
        self.backend, self.funcs, self.source, self.dps, self.vector, self.m = backend, funcs, source, dps, vector, m

    def kernel(self, n: int, k: Any = None, component: int = 0) -> Callable[..., Any]:
        """K^(n)_k as a vectorised callable of the lags (``resp.lags(n)``)."""
        orders = sorted({key[1] for key in self.funcs if key[1] > 0})
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) not in orders:
            raise refusal("n", f"expected a kernel order in {orders}, received {n!r}")
        key = (component, int(n), check_index_tuple(k, int(n), self.m))
        if key not in self.funcs:
            raise refusal("component", f"no readout component {component!r} (0-based)")
        return self.funcs[key]

    def mean0(self, t: Any, component: int = 0) -> Any:
        return self.funcs[(component, 0, ())](t)

    def __repr__(self) -> str:
        return f"Lowered(backend={self.backend!r}, {len(self.funcs)} functions)"


def lower(
    resp: ClosedFormKernels, backend: str = "numpy", *, dps: int | None = None, max_lag: float = 100.0
) -> Lowered:
    """Lower every kernel of ``resp`` (see module docstring); ``dps`` for the mpmath backend.

    ``max_lag``: the NumPy code is accurate for lags up to this value even when A is nearly
    defective (near-coincident rates are expanded to that horizon); irrelevant otherwise.
    """
    check_choice(backend, "backend", BACKENDS)
    _check_max_lag(max_lag)
    if backend == "numpy":
        if dps is not None:
            raise refusal("dps", "only the 'mpmath' backend takes a precision")
        src = module_source(resp, max_lag)
        ns: dict[str, Any] = {}
        exec(compile(src, f"<volterra_sym kernels of {resp.model.name}>", "exec"), ns)  # our own generated code
        return Lowered("numpy", ns["KERNELS"], src, None, resp.model.vector_readout, resp.model.m)
    if dps is None:
        dps = limits.DEFAULT_DPS
    dps = check_int(dps, "dps", minimum=1, what="a positive integer number of digits")
    subs = dict(resp.model.params)
    funcs: dict = {}
    for c in range(resp.model.p):
        F0 = resp.mean0_form(c)
        if resp.stationary:
            total = sum((cc for _, _, cc in F0), 0)
            F0 = ExpPoly.constant((resp.t_sym,), total)
        funcs[(c, 0, ())] = _mp_function(F0, list(range(1)), subs, dps)
        N = len(resp.taus)
        for n in range(1, resp.order + 1):
            idx = list(range(n)) + ([] if resp.stationary else [N])
            for ks in itertools.product(range(resp.model.m), repeat=n):
                funcs[(c, n, ks)] = _mp_function(resp.kernel_form(n, ks, c), idx, subs, dps)
    return Lowered("mpmath", funcs, None, dps, resp.model.vector_readout, resp.model.m)


def _mp_function(F: ExpPoly, idx: list[int], subs: dict, dps: int) -> Callable[..., Any]:
    with mpmath.workdps(dps):
        terms = [
            ([numeric_value(mu[i], subs, dps) for i in idx], [p[i] for i in idx], numeric_value(c, subs, dps))
            for mu, p, c in F
        ]

    def scalar(*lags: Any) -> Any:
        with mpmath.workdps(dps):
            xs = [x if isinstance(x, mpmath.mpf) else mpmath.mpf(x.item() if hasattr(x, "item") else x) for x in lags]
            total = mpmath.mpc(0)
            for mus, ps, c in terms:
                term = c
                for x, m, p in zip(xs, mus, ps):
                    term *= x**p * mpmath.exp(-m * x)
                total += term
            return mpmath.re(total)

    def func(*lags: Any) -> Any:
        if len(lags) != len(idx):
            raise refusal("lags", f"expected {len(idx)} lag argument(s), received {len(lags)}")
        if any(np.iscomplexobj(x) or isinstance(x, mpmath.mpc) for x in lags):
            raise refusal("lags", COMPLEX_LAGS, cls=InputError)
        if all(np.ndim(x) == 0 for x in lags):
            return scalar(*lags)
        arrs = np.broadcast_arrays(*[np.asarray(x, dtype=object) for x in lags])
        out = np.empty(arrs[0].shape, dtype=object)
        for pos in np.ndindex(out.shape):
            out[pos] = scalar(*[a[pos] for a in arrs])
        return out

    return func


def _check_max_lag(max_lag: Any) -> None:
    check_real_in_range(max_lag, "max_lag", low=0, open_low=True, what="a number (the largest lag used)")


def write_module(resp: ClosedFormKernels, path: Any, max_lag: float = 100.0) -> str:
    """Write :func:`module_source` to ``path`` (``.py``); returns the path as a string."""
    _check_max_lag(max_lag)
    p = Path(path)
    if p.suffix != ".py":
        raise refusal("path", f"a Python module needs a .py file name, received {str(path)!r}")
    output_path(p, "module")  # before generating the source: say what is wrong with the path first
    return write_text_file(p, module_source(resp, max_lag), "module")

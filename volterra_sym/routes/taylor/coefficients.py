"""Taylor (short-lag) response kernels for any analytic model (MATH.md sections 2, 4, 6).

For P_tau = exp(tau L0) = sum_q tau^q / q! L0^q on analytic observables, the
kernels of the triangular Volterra series have the Taylor coefficients

    d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} d^{p_{n+1}}_{s_n} K^(n)_{k_1..k_n}(0; 0)
        = E_{mu_0}[ L0^{p_{n+1}} L1^{k_n} L0^{p_n} ... L1^{k_1} L0^{p_1} f ]

(operators applied right to left: L0^{p_1} acts on f first), with
L0 g = phi . grad g + 1/2 D : Hess g and L1^k g = gamma_k . grad g.  For the
stationary start E_inf[P_s g] = E_inf[g], so the s_n entry is absent; for a
point-mass or Gaussian start the kernels also depend on s_n (time from the
start to the oldest input) and are expanded in it as well.

Representation.  Observables live in a polynomial ring over the parameter
field whose generators are the state h_1..h_n and auxiliary functions found
in the model: T = tanh(a), S = 1/(1 + exp(-a)), E = exp(a), sin/cos and
sinh/cosh pairs, with a any polynomial in earlier generators (typically
a = (W h + b)_i).  Their derivatives, e.g. dT/dh_j = (1 - T^2) da/dh_j, are
polynomials again, so d/dh_j is a derivation of the ring and the ring is
closed under L0 and L1^k (MEASURED.md: rings are ~200x faster than
Expr + expand).  Rational functions, log(a), atan(a) and roots a^(1/q) have
rational derivatives: such models use the fraction field of that ring
(``representation == "field"``).  Any other analytic piece (erf, ...) falls
back to SymPy expressions, expanded after each step (``"expr"``).  Applications are
cached along the operator word, so L0^p g is computed once and shared.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp
from sympy.core.function import AppliedUndef
from sympy.polys.constructor import construct_domain
from sympy.polys.fields import field
from sympy.polys.rings import PolyElement, ring

from ... import limits
from ...algebra.expectations import InitialExpectation
from ...errors import NotAnalyticError
from ...model.diffusion import Diffusion, Stationary
from ...validate import (
    check_component,
    check_derive_request,
    check_index_tuple,
    check_int,
    check_int_sequence,
    check_kernel_order,
    check_lag_degree,
    derive_advice,
    refusal,
)

__all__ = ["NotAnalyticError", "TaylorKernels", "taylor_kernels"]


_NON_ANALYTIC = (
    sp.Abs,
    sp.Max,
    sp.Min,
    sp.Piecewise,
    sp.sign,
    sp.Heaviside,
    sp.floor,
    sp.ceiling,
    sp.frac,
    sp.Mod,
    sp.DiracDelta,
    sp.re,
    sp.im,
    sp.arg,
)


def _check_analytic(model: Diffusion) -> None:
    parts = {
        "drift": model.drift,
        "diffusion": model.diffusion,
        "coupling": model.coupling,
        "readout": model.readout,
    }
    for where, mat in parts.items():
        for idx, e in enumerate(mat):
            for node in sp.preorder_traversal(e):
                bad = isinstance(node, _NON_ANALYTIC) or isinstance(node, AppliedUndef)
                if bad and node.has(*model.state):
                    name = type(node).__name__ if not isinstance(node, AppliedUndef) else str(node.func)
                    raise NotAnalyticError(
                        f"{where}[{idx}]: contains the non-analytic piece {name} ({node}); the Taylor route "
                        "expands P_tau = exp(tau L0) in powers of L0 and needs analytic (infinitely "
                        "differentiable) drift, noise, coupling and readout. Use Monte Carlo (simulate) for "
                        "this model, or method='generator' (discretised generator) for 1-D models, or replace "
                        "the piece by a smooth surrogate (e.g. relu(x) ~ log(1 + exp(k x)) / k)."
                    )


def _exact_floats(e: sp.Expr) -> sp.Expr:
    """Replace Floats by the Rationals of their decimal digits (keeps the ring arithmetic exact)."""
    floats = e.atoms(sp.Float)
    return e.xreplace({x: sp.Rational(str(x)) for x in floats}) if floats else e


# --------------------------------------------------------------------------- auxiliary generators


@dataclass
class _Aux:
    """An auxiliary generator: ``symbol`` stands for ``expr`` = F(arg) as a function of the state."""

    symbol: sp.Symbol
    kind: str
    arg: sp.Expr  # in lifted symbols
    expr: sp.Expr  # in the state
    factor: sp.Expr = sp.Integer(0)  # F'(arg) in lifted symbols
    grad: tuple[sp.Expr, ...] = ()  # d symbol / d h_j in lifted symbols


_PAIRS = {"sin": "cos", "cos": "sin", "sinh": "cosh", "cosh": "sinh"}
_FUNCS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "tanh": sp.tanh,
    "exp": sp.exp,
    "sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
    "sin": sp.sin,
    "cos": sp.cos,
    "sinh": sp.sinh,
    "cosh": sp.cosh,
    "log": sp.log,
    "atan": sp.atan,
}
_NAMES = {
    "tanh": "T",
    "exp": "E",
    "sigmoid": "S",
    "sin": "Sn",
    "cos": "Cs",
    "sinh": "Sh",
    "cosh": "Ch",
    "log": "Lg",
    "atan": "At",
}


class _Lifter:
    """Rewrites expressions of the state as expressions in (h, auxiliary symbols)."""

    def __init__(self, state: Sequence[sp.Symbol]):
        self.state = tuple(state)
        self.aux: list[_Aux] = []
        self._key: dict[tuple[str, sp.Expr], _Aux] = {}
        self._back: dict[sp.Symbol, sp.Expr] = {}

    @property
    def symbols(self) -> tuple[sp.Symbol, ...]:
        return self.state + tuple(a.symbol for a in self.aux)

    def lift(self, e: sp.Expr) -> sp.Expr:
        if not e.has(*self.state) or e.is_Atom:
            return e
        if isinstance(e, sp.Pow) and e.exp.is_Integer and e.exp < 0:
            ind, dep = e.base.as_independent(*self.state, as_Add=True)
            if ind == 1 and isinstance(dep, sp.exp):
                return self._get("sigmoid", -self.lift(dep.args[0])) ** (-e.exp)
        if isinstance(e, sp.Pow) and e.exp.is_Rational and not e.exp.is_Integer:
            # a^(p/q) = (a^(1/q))^p with the generator Q = a^(1/q), dQ = Q a' / (q a)
            return self._get(f"root{e.exp.q}", self.lift(e.base)) ** e.exp.p
        for kind in ("tanh", "exp", "sin", "cos", "sinh", "cosh", "log", "atan"):
            if isinstance(e, getattr(sp, kind)):
                return self._get(kind, self.lift(e.args[0]))
        return e.func(*[self.lift(a) for a in e.args])

    def _get(self, kind: str, arg: sp.Expr) -> sp.Symbol:
        arg = sp.expand(arg)
        key = (kind, arg)
        if key not in self._key:
            self._new(kind, arg)
            if kind in _PAIRS:
                self._new(_PAIRS[kind], arg)
            self._derivatives(arg)
        return self._key[key].symbol

    def _new(self, kind: str, arg: sp.Expr) -> None:
        if (kind, arg) in self._key:
            return
        sym = sp.Dummy(f"{_NAMES.get(kind, 'Q')}{len(self.aux) + 1}")
        if kind.startswith("root"):
            expr = arg.xreplace(self._back) ** sp.Rational(1, int(kind[4:]))
        else:
            expr = _FUNCS[kind](arg.xreplace(self._back))
        a = _Aux(sym, kind, arg, expr)
        self.aux.append(a)
        self._key[(kind, arg)] = a
        self._back[sym] = expr

    def _derivatives(self, arg: sp.Expr) -> None:
        for a in self.aux:
            if a.arg != arg or a.grad:
                continue
            other = self._key.get((_PAIRS.get(a.kind, ""), arg))
            s = a.symbol
            if a.kind.startswith("root"):
                a.factor = s / (int(a.kind[4:]) * arg)
            else:
                a.factor = {
                    "tanh": 1 - s**2,
                    "exp": s,
                    "sigmoid": s * (1 - s),
                    "sin": other.symbol if other else 0,
                    "cos": -other.symbol if other else 0,
                    "sinh": other.symbol if other else 0,
                    "cosh": other.symbol if other else 0,
                    "log": 1 / arg,
                    "atan": 1 / (1 + arg**2),
                }[a.kind]
            a.grad = tuple(sp.expand(a.factor * self.total_diff(arg, j)) for j in range(len(self.state)))

    def total_diff(self, e: sp.Expr, j: int) -> sp.Expr:
        """d e / d h_j for e in lifted symbols (chain rule through the auxiliary generators)."""
        out = sp.diff(e, self.state[j])
        for a in self.aux:
            if a.grad and e.has(a.symbol):
                out += sp.diff(e, a.symbol) * a.grad[j]
        return out

    def unlift(self, e: sp.Expr) -> sp.Expr:
        return e.xreplace(self._back)


# --------------------------------------------------------------------------- algebras


class _RingAlgebra:
    """Observables in a polynomial ring (or, with ``rational=True``, its fraction field) in (h, aux)."""

    def __init__(self, lifter: _Lifter, exprs: Sequence[sp.Expr], rational: bool = False):
        self.lifter = lifter
        self.name = "field" if rational else "ring"
        syms = lifter.symbols
        coeffs: list[sp.Expr] = [sp.Rational(1, 2)]
        for e in exprs:
            parts = sp.fraction(sp.together(e)) if rational else (e,)
            for part in parts:
                coeffs.extend(sp.Poly(part, *syms).coeffs())
        dom = _domain(coeffs)
        self.ring, *gens = (field if rational else ring)(list(syms), dom)
        self.domain = dom
        n = len(lifter.state)
        self.h = gens[:n]
        self.a = gens[n:]
        self.agrad = [[self.lift(g) for g in aux.grad] for aux in lifter.aux]
        self.gens = tuple(lifter.state) + tuple(aux.expr for aux in lifter.aux)

    def lift(self, e: sp.Expr) -> PolyElement:
        return self.ring.from_expr(e) if e != 0 else self.ring.zero

    def deriv(self, g: PolyElement, j: int) -> PolyElement:
        out = g.diff(self.h[j])
        for a, grad in zip(self.a, self.agrad):
            if grad[j] and (self.name == "field" or g.degree(a) > 0):
                out += g.diff(a) * grad[j]
        return out

    def tidy(self, g: PolyElement) -> PolyElement:
        return g

    def to_expr(self, g: PolyElement) -> sp.Expr:
        return self.lifter.unlift(g.as_expr())

    def expect(self, g: PolyElement, engine: InitialExpectation) -> sp.Expr:
        if self.name == "field":
            return engine(self.to_expr(g))
        to = self.domain.to_sympy
        return engine.of_terms({m: to(c) for m, c in g.terms()}, self.gens)


class _ExprAlgebra:
    """Fallback: observables as SymPy expressions of the state, expanded after each step."""

    name = "expr"

    def __init__(self, state: Sequence[sp.Symbol]):
        self.state = tuple(state)
        self.gens = self.state

    def lift(self, e: sp.Expr) -> sp.Expr:
        return e

    def deriv(self, g: sp.Expr, j: int) -> sp.Expr:
        return sp.diff(g, self.state[j])

    def tidy(self, g: sp.Expr) -> sp.Expr:
        return sp.expand(g)

    def to_expr(self, g: sp.Expr) -> sp.Expr:
        return g

    def expect(self, g: sp.Expr, engine: InitialExpectation) -> sp.Expr:
        return engine(g)


def _domain(coeffs: list[sp.Expr]) -> Any:
    """Coefficient domain: QQ, QQ[params], a fraction field, or EX."""
    dom, _ = construct_domain(coeffs)
    if dom == sp.ZZ:
        return sp.QQ
    if dom.is_PolynomialRing and dom.domain == sp.ZZ:
        return sp.QQ[tuple(dom.symbols)]
    return dom


# --------------------------------------------------------------------------- the operators


class _Generators:
    """L0 and L1^k acting on an algebra, with the operator word -> observable cache.

    A word is a tuple of operations applied left to right to f: -1 is L0, k >= 0 is L1^k.
    """

    def __init__(self, model: Diffusion, component: int):
        state = model.state
        prep = [_exact_floats(e) for e in (*model.drift, *model.D, *model.coupling, model.readout[component])]
        lifter = _Lifter(state)
        lifted = [lifter.lift(e) for e in prep]
        exprs = lifted + [g for aux in lifter.aux for g in aux.grad]
        alg: _RingAlgebra | _ExprAlgebra | None = None
        for rational in (False, True):
            try:
                alg = _RingAlgebra(lifter, exprs, rational)
                break
            except (sp.PolynomialError, sp.polys.polyerrors.GeneratorsError, sp.polys.polyerrors.CoercionFailed):
                continue
        if alg is None:
            alg = _ExprAlgebra(state)
            lifted = prep
        self.alg = alg
        n, m = model.n, model.m
        drift, D, gam, f = lifted[:n], lifted[n : n + n * n], lifted[n + n * n : -1], lifted[-1]
        self.phi = [(i, alg.lift(drift[i])) for i in range(n) if drift[i] != 0]
        self.hess = []
        for i in range(n):
            for j in range(i, n):
                dij = D[i * n + j] if i == j else 2 * D[i * n + j]
                if dij != 0:
                    self.hess.append((i, j, alg.lift(dij / 2)))
        self.gamma = [[(i, alg.lift(gam[i * m + k])) for i in range(n) if gam[i * m + k] != 0] for k in range(m)]
        self.n = n
        self._value: dict[tuple[int, ...], Any] = {(): alg.lift(f)}
        self._grad: dict[tuple[int, ...], list[Any]] = {}
        self.applications = 0

    def grad(self, word: tuple[int, ...]) -> list[Any]:
        if word not in self._grad:
            g = self.value(word)
            self._grad[word] = [self.alg.tidy(self.alg.deriv(g, j)) for j in range(self.n)]
        return self._grad[word]

    def value(self, word: tuple[int, ...]) -> Any:
        if word in self._value:
            return self._value[word]
        parent, op = word[:-1], word[-1]
        grad = self.grad(parent)
        zero = self.alg.lift(sp.Integer(0))
        out = zero
        if op < 0:
            for i, phi in self.phi:
                out += phi * grad[i]
            for i, j, c in self.hess:
                out += c * self.alg.deriv(grad[i], j)
        else:
            for i, g in self.gamma[op]:
                out += g * grad[i]
        out = self.alg.tidy(out)
        self.applications += 1
        self._value[word] = out
        return out


def _word(k: Sequence[int], p: Sequence[int]) -> tuple[int, ...]:
    word: list[int] = []
    for j, kj in enumerate(k):
        word += [-1] * p[j] + [kj]
    if len(p) > len(k):
        word += [-1] * p[-1]
    return tuple(word)


def _compositions(length: int, total: int) -> list[tuple[int, ...]]:
    """All tuples of ``length`` non-negative integers with sum <= total (graded order)."""
    return [p for s in range(total + 1) for p in itertools.product(range(s + 1), repeat=length) if sum(p) == s]


# --------------------------------------------------------------------------- public result


class TaylorKernels:
    """Taylor coefficients of the response kernels K^(n)_k up to a lag degree.

    Attributes
    ----------
    model, order, lag_degree, dps : as given to :func:`taylor_kernels`.
    stationary : True for the stationary start (coefficients indexed by p of
        length n); otherwise p has length n + 1, the last entry the power of s_n.
    mean0_coefficients : [E_inf f] (stationary) or [d^q/dt^q E f(h^0_t) at t = 0, q = 0..lag_degree].
    representation : "ring" (polynomial ring in h and auxiliary generators), "field" (its fraction
        field) or "expr" (SymPy expressions, the fallback).
    generators : the ring generators as functions of the state (h_i, tanh(...), ...).
    expectation_report : how the expectations over mu_0 were computed.
    """

    def __init__(self, model: Diffusion, order: int, lag_degree: int, dps: int, component: int, engine: Any = None):
        self.model = model
        self.order = order
        self.lag_degree = lag_degree
        self.dps = dps
        self.component = component
        self.stationary = isinstance(model.initial, Stationary)
        self._ops = _Generators(model, component)
        # the cost, up front (before any operator word is applied)
        limits.check_taylor_cost(order, lag_degree, model.m, len(self._ops.alg.gens), self.stationary, model.p)
        self.representation = self._ops.alg.name
        self.generators: tuple[sp.Expr, ...] = self._ops.alg.gens
        # E_mu0 of the observables: quadrature/exact by default; a route may supply another engine
        # (an object with ``of_terms(terms, gens)`` and ``report``, e.g. the Galerkin stationary law)
        self._engine = InitialExpectation(model, dps=dps) if engine is None else engine
        self._coef: dict[tuple[int, tuple[int, ...], tuple[int, ...]], sp.Expr] = {}
        alg = self._ops.alg
        for n in range(1, order + 1):
            for k in itertools.product(range(model.m), repeat=n):
                for p in _compositions(n if self.stationary else n + 1, lag_degree):
                    g = self._ops.value(_word(k, p))
                    self._coef[(n, k, p)] = alg.expect(g, self._engine)
        qs = [0] if self.stationary else list(range(lag_degree + 1))
        self.mean0_coefficients: list[sp.Expr] = [alg.expect(self._ops.value((-1,) * q), self._engine) for q in qs]
        self.expectation_report = self._engine.report
        self.applications = self._ops.applications

    # ---- indexing -------------------------------------------------------------------
    def _key(self, n: int, k: Any, p: Any) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
        n = check_kernel_order(n, self.order)
        kk = check_index_tuple(k, n, self.model.m)
        want = n if self.stationary else n + 1
        lag_powers = "lag powers" if self.stationary else "lag powers p_1..p_n, then the power of s_n"
        pp = check_int_sequence((p,) if isinstance(p, int) else p, "p", want, what=lag_powers)
        if sum(pp) > self.lag_degree:
            why = f"total degree {sum(pp)} exceeds lag_degree={self.lag_degree}"
            raise refusal("p", why, derive_advice("lag_degree", sum(pp)))
        return n, kk, pp

    def coefficient(self, n: int, k: Any, p: Any) -> sp.Expr:
        """d^{p_1}_{tau_1} ... d^{p_n}_{tau_n} (d^{p_{n+1}}_{s_n}) K^(n)_k at 0 (MATH.md section 6)."""
        return self._coef[self._key(n, k, p)]

    @property
    def coefficients(self) -> dict[tuple[int, tuple[int, ...], tuple[int, ...]], sp.Expr]:
        """Every coefficient a_{k,p} computed, (n, k, p) -> a (a copy)."""
        return dict(self._coef)

    def observable(self, n: int, k: Any, p: Any) -> sp.Expr:
        """L0^{p_{n+1}} L1^{k_n} L0^{p_n} ... L1^{k_1} L0^{p_1} f as a function of the state (before E_mu0)."""
        n, kk, pp = self._key(n, k, p)
        return self._ops.alg.to_expr(self._ops.value(_word(kk, pp)))

    def lag_symbols(self, n: int) -> tuple[sp.Symbol, ...]:
        """(tau1, ..., taun), followed by s_n for a non-stationary start."""
        taus = tuple(sp.Symbol(f"tau{j + 1}") for j in range(n))
        return taus if self.stationary else (*taus, sp.Symbol(f"s_{n}"))

    def kernel_polynomial(self, n: int, k: Any) -> sp.Expr:
        """Truncated Taylor polynomial sum_p coefficient * prod_j x_j^{p_j} / p_j! in lag_symbols(n)."""
        n, kk, _ = self._key(n, k, (0,) * (n if self.stationary else n + 1))
        xs = self.lag_symbols(n)
        terms = []
        for (nn, k2, p), c in self._coef.items():
            if nn == n and k2 == kk:
                mono = sp.Mul(*[x**e / sp.factorial(e) for x, e in zip(xs, p)])
                terms.append(c * mono)
        return sp.Add(*terms)

    @property
    def mean0_polynomial(self) -> sp.Expr:
        """Truncated Taylor polynomial of E f(h^0_t) in the symbol t (a constant for the stationary start)."""
        t = sp.Symbol("t")
        return sp.Add(*[c * t**q / sp.factorial(q) for q, c in enumerate(self.mean0_coefficients)])

    def __repr__(self) -> str:
        return (
            f"TaylorKernels(model={self.model.name!r}, order={self.order}, lag_degree={self.lag_degree}, "
            f"stationary={self.stationary}, representation={self.representation!r}, "
            f"coefficients={len(self._coef)})"
        )


def taylor_kernels(
    model: Diffusion,
    order: int,
    lag_degree: int,
    *,
    dps: int = limits.DEFAULT_DPS,
    component: int = 0,
    engine: Any = None,
) -> TaylorKernels:
    """Taylor coefficients of every kernel K^(n)_k, n = 1..order, |p| <= lag_degree.

    Parameters
    ----------
    model : any Diffusion with analytic drift, noise, coupling and readout.
    order : highest kernel order N >= 1.
    lag_degree : highest total Taylor degree P >= 0 (in the lags, and s_n for non-stationary starts).
    dps : digits for expectations that need quadrature (stationary nonlinear laws).
    component : which readout component f to use (vector readouts).

    Raises :class:`NotAnalyticError` for non-analytic pieces (Abs, Max, Piecewise, ...),
    :class:`~volterra_sym.errors.StationaryLawError` when rho_inf is unknown.
    """
    order = check_derive_request(model, order)
    lag_degree = check_lag_degree(lag_degree)
    dps = check_int(dps, "dps", minimum=10, maximum=limits.MAX_DPS, hint=limits.DPS_HINT)
    component = check_component(component, model.p)
    _check_analytic(model)
    limits.check_model_size(model)
    return TaylorKernels(model, order, lag_degree, dps, component, engine)

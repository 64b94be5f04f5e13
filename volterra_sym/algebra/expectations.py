"""Expectations over the initial law mu_0 (MATH.md sections 1, 5, 6).

``expectation(model, g)`` returns E_{mu_0}[g(h_0)] for a SymPy function g of the
state, for every initial law the model type knows:

=====================  ===================================================  ==========
initial law            method                                               result
=====================  ===================================================  ==========
point mass x0          substitution g(x0)                                   exact [1]
Gaussian N(m0, S0)     polynomial g: Gaussian moments (Stein / Isserlis)    exact
                       otherwise: Gauss-Legendre panels in whitened coords  Float
stationary, linear     N(m_inf, S_inf), A m_inf = c, A S + S A^T = D        exact
stationary, n = 1      rho_inf ~ D^-1 exp(int 2 phi / D), panel quadrature  Float
stationary, gradient   phi = -grad U, D = s^2 I, n = 2:                     Float
                       rho_inf ~ exp(-2 U / s^2), tensor panel quadrature
anything else          :class:`StationaryLawError` (rho_inf is unknown)
=====================  ===================================================  ==========

[1] ``InitialExpectation.of_terms`` (the Taylor route) evaluates polynomials in
transcendental numbers such as tanh(1/2) to ``dps`` digits instead of returning
a long exact sum; with symbolic parameters or rational values it stays exact.

Numerical rules are composite Gauss-Legendre rules ("panels") on a box outside
of which the density has dropped by more than ``dps * ln 10 + margin``
(checked; in 1-D also the tail mass beyond the box), run at two
refinement levels (Gauss-Legendre degree doubled); the error of the finer one
is estimated from their difference and must be below ``10**-dps`` relative
to the size of the moment (else the rules are refined, then an error is
raised).  Gaussian
starts use the same panels in whitened coordinates h = m + L z rather than
Gauss-Hermite nodes: Gauss-Hermite converges only like exp(-c sqrt(N)) for
observables such as tanh whose poles lie near the real axis.

Moments of monomials in a fixed tuple of generator functions (the state
variables and, e.g., tanh(W h + b)) are cached by :class:`InitialExpectation`,
which is what :mod:`volterra_sym.taylor` uses for its many observables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import mpmath
import numpy as np
import sympy as sp
from mpmath.calculus.quadrature import GaussLegendre
from sympy.polys.matrices import DomainMatrix

from ..errors import ExpectationError, StationaryLawError, UnstableError
from ..model.diffusion import Diffusion, Gaussian, PointMass

__all__ = [
    "ExpectationError",
    "InitialExpectation",
    "StationaryLawError",
    "expectation",
    "gaussian_moment",
    "linear_parts",
    "stationary_gaussian",
]


_OTHER_STARTS = (
    "use a start whose law is known instead: model.replace(initial=vs.PointMass(x0)) "
    "or model.replace(initial=vs.Gaussian(mean, cov))"
)

# --------------------------------------------------------------------------- public entry points


def expectation(model: Diffusion, g: Any, *, dps: int = 30) -> sp.Expr:
    """E_{mu_0}[g(h_0)] for the model's initial law mu_0.

    Parameters
    ----------
    model : the diffusion; its ``initial`` law is used.
    g : a SymPy expression in the state symbols (and parameters).
    dps : decimal digits for numerical (quadrature) results.

    Returns a SymPy number or expression: exact where the expectation is exact
    (point mass, polynomial g under Gaussian or linear-stationary laws), else a
    ``Float`` with ``dps`` digits.
    """
    return InitialExpectation(model, dps=dps)(g)


def linear_parts(model: Diffusion) -> tuple[sp.Matrix, sp.Matrix] | None:
    """(A, c) with phi(h) = -A h + c when the drift is affine and D constant; else None."""
    h = list(model.state)
    jac = model.drift.jacobian(h)
    if any(e.has(*h) for e in jac) or any(e.has(*h) for e in model.D):
        return None
    A = -jac
    c = model.drift.xreplace({x: 0 for x in h})
    return A, c


def stationary_gaussian(A: sp.Matrix, c: sp.Matrix, D: sp.Matrix) -> tuple[sp.Matrix, sp.Matrix]:
    """(m_inf, S_inf) of dh = (-A h + c) dt + sigma dW, D = sigma sigma^T.

    A m_inf = c and the Lyapunov equation A S + S A^T = D, solved exactly on its
    n(n+1)/2 symmetric unknowns with a fraction-free DomainMatrix solve (MEASURED.md).
    Raises :class:`UnstableError` when A is provably not stable (numeric A: some
    eigenvalue with real part <= 0; symbolic 1-D A: a <= 0 decidable).
    """
    n = A.rows
    _check_stable(A)
    m = _solve_exact(A, c)
    idx = [(i, j) for i in range(n) for j in range(i, n)]
    unknowns = sp.symbols(f"_S0:{len(idx)}")
    S = sp.zeros(n, n)
    for u, (i, j) in zip(unknowns, idx):
        S[i, j] = S[j, i] = u
    lyap = A * S + S * A.T - D
    eqs = [lyap[i, j] for i, j in idx]
    M, rhs = sp.linear_eq_to_matrix(eqs, unknowns)
    sol = _solve_exact(M, rhs)
    Sinf = S.xreplace(dict(zip(unknowns, sol)))
    return m, Sinf


def gaussian_moment(
    alpha: Sequence[int], mean: sp.Matrix, cov: sp.Matrix, cache: dict[tuple[int, ...], sp.Expr] | None = None
) -> sp.Expr:
    """E[prod_i h_i^{alpha_i}] for h ~ N(mean, cov), exactly.

    Stein's identity E[h_i q(h)] = m_i E[q(h)] + sum_j S_ij E[d_j q(h)] applied to
    monomials gives the recursion (Isserlis' theorem in raw-moment form)
    M(alpha) = m_i M(beta) + sum_j S_ij beta_j M(beta - e_j),  beta = alpha - e_i.
    """
    memo: dict[tuple[int, ...], sp.Expr] = {} if cache is None else cache
    key = tuple(int(a) for a in alpha)

    def rec(a: tuple[int, ...]) -> sp.Expr:
        if a in memo:
            return memo[a]
        nz = [i for i, e in enumerate(a) if e]
        if not nz:
            return sp.Integer(1)
        i = nz[0]
        beta = a[:i] + (a[i] - 1,) + a[i + 1 :]
        val = mean[i] * rec(beta)
        for j, bj in enumerate(beta):
            if bj and cov[i, j] != 0:
                val += cov[i, j] * bj * rec(beta[:j] + (bj - 1,) + beta[j + 1 :])
        val = sp.expand(val)
        memo[a] = val
        return val

    return rec(key)


# --------------------------------------------------------------------------- the engine


class InitialExpectation:
    """E_{mu_0}[.] for one model, with cached moments.

    ``engine(g)`` takes a SymPy function of the state.  ``engine.of_terms(terms,
    gens)`` takes a polynomial sum_e c_e prod_j gens_j^{e_j} in generator
    functions ``gens`` (SymPy expressions of the state, e.g. ``h1`` or
    ``tanh(2*h1 + 1)``), given as {exponent tuple: coefficient}; moments of
    the monomials are cached across calls, so many observables in the same
    generators cost little more than one.  ``report`` describes the method.
    """

    def __init__(self, model: Diffusion, *, dps: int = 30):
        if isinstance(dps, bool) or not isinstance(dps, int) or dps < 10:
            raise ExpectationError(f"dps: expected an integer >= 10, received {dps!r}")
        self.model = model
        self.dps = dps
        self.state = tuple(model.state)
        self._values = dict(model.params)
        self._moments: dict[tuple[tuple[sp.Expr, ...], tuple[int, ...]], sp.Expr] = {}
        self._gauss_cache: dict[tuple[int, ...], sp.Expr] = {}
        self._rules: _RuleEngine | None = None
        self._rule_factory: Callable[[], _RuleEngine] | None = None
        self.point: sp.Matrix | None = None
        self.mean: sp.Matrix | None = None
        self.cov: sp.Matrix | None = None
        init = model.initial
        if isinstance(init, PointMass):
            self.kind = "point mass"
            self.point = init.x0
        elif isinstance(init, Gaussian):
            self.kind = "Gaussian"
            self.mean, self.cov = init.mean, init.cov
            self._rule_factory = self._gaussian_rules
        else:
            self._setup_stationary()

    # ---- set-up of the stationary law ---------------------------------------------
    def _setup_stationary(self) -> None:
        model = self.model
        lin = linear_parts(model)
        if lin is not None:
            A, c = lin
            self.kind = "stationary Gaussian (linear drift)"
            self.mean, self.cov = stationary_gaussian(A, c, model.D)
            self._rule_factory = self._gaussian_rules
            return
        if model.n == 1:
            self.kind = "stationary, 1-D density D^-1 exp(int 2 phi / D)"
            self._rule_factory = self._one_d_rules
            return
        U, s2 = _gradient_potential(model)
        if model.n > 2:
            raise StationaryLawError(
                f"initial: the stationary law of this {model.n}-D gradient system is exp(-2U/s^2) with "
                f"U = {U}, but quadrature is implemented for n <= 2 only; {_OTHER_STARTS}"
            )
        self.kind = "stationary, gradient system exp(-2 U / s^2)"
        self.potential = U
        self._rule_factory = lambda: self._gradient_rules(U, s2)

    # ---- public API -----------------------------------------------------------------
    @property
    def report(self) -> dict[str, Any]:
        """How the expectations were computed (method, nodes, error estimate)."""
        out: dict[str, Any] = {"initial law": self.kind, "dps": self.dps}
        if self._rules is not None:
            out.update(self._rules.report())
        return out

    def __call__(self, g: Any) -> sp.Expr:
        g = sp.sympify(g)
        if self.point is not None:
            return g.xreplace(dict(zip(self.state, self.point)))
        if self.mean is not None:
            try:
                poly = sp.Poly(g, *self.state)
            except sp.PolynomialError:
                poly = None
            if poly is not None and not any(self._has_state(cf) for cf in poly.coeffs()):
                terms = dict(zip(poly.monoms(), poly.coeffs()))
                return self.of_terms(terms, self.state)
        return self._rule_engine().expect_function(self._numeric(g, "g"), self.state)

    def of_terms(self, terms: Mapping[tuple[int, ...], Any], gens: Sequence[sp.Expr]) -> sp.Expr:
        """E[sum_e c_e prod_j gens_j^{e_j}] with cached monomial moments (see the class docstring)."""
        gens = tuple(sp.sympify(x) for x in gens)
        if self.point is not None:
            at = dict(zip(self.state, self.point))
            vals = [x.xreplace(at) for x in gens]
            coeffs = [sp.sympify(c) for c in terms.values()]
            if all(v.is_Rational or v.free_symbols for v in vals) or any(c.free_symbols for c in coeffs):
                total = sp.Add(*[c * sp.Mul(*[v**e for v, e in zip(vals, ex) if e]) for ex, c in zip(terms, coeffs)])
                return _tidy(total)
            # numbers such as tanh(1/2): an exact polynomial in them is long and unreadable; evaluate
            with mpmath.workdps(self.dps + 10):
                nv = [_to_mpf(v, self.dps + 10) for v in vals]
                acc = mpmath.fsum(
                    _to_mpf(c, self.dps + 10) * mpmath.fprod(v**e for v, e in zip(nv, ex) if e)
                    for ex, c in zip(terms, coeffs)
                )
            return sp.Float(acc, self.dps)
        exact: list[sp.Expr] = []
        numeric: dict[tuple[int, ...], Any] = {}
        for ex, c in terms.items():
            if self.mean is not None and all(g in self.state or not e for g, e in zip(gens, ex)):
                alpha = [0] * len(self.state)
                for g, e in zip(gens, ex):
                    if e:
                        alpha[self.state.index(g)] += e
                exact.append(sp.sympify(c) * gaussian_moment(alpha, self.mean, self.cov, self._gauss_cache))
            else:
                numeric[ex] = c
        total = _tidy(sp.Add(*exact))
        if not numeric:
            return total
        rules = self._rule_engine()
        ngens = tuple(self._numeric(x, "observable") for x in gens)
        acc = mpmath.mpf(0)
        with mpmath.workdps(self.dps + 10):
            for ex, c in numeric.items():
                cn = self._numeric(sp.sympify(c), "coefficient")
                acc += _to_mpf(cn, self.dps + 10) * rules.moment(ngens, ex)
            if total != 0:
                acc += _to_mpf(self._numeric(total, "coefficient"), self.dps + 10)
        return sp.Float(acc, self.dps)

    # ---- helpers ----------------------------------------------------------------------
    def _has_state(self, e: sp.Expr) -> bool:
        return bool(e.free_symbols & set(self.state))

    def _numeric(self, e: sp.Expr, what: str) -> sp.Expr:
        """Substitute the model's parameter values; every remaining symbol must be a state variable."""
        out = e.xreplace(self._values) if self._values else e
        stray = out.free_symbols - set(self.state)
        if stray:
            raise ExpectationError(
                f"{what}: the expectation over the {self.kind} law needs numbers, but the parameter(s) "
                f"{sorted(map(str, stray))} have no value; pass params={{name: value}} to the model "
                "or call model.with_values(...)"
            )
        return out

    def _rule_engine(self) -> _RuleEngine:
        if self._rules is None:
            assert self._rule_factory is not None
            self._rules = self._rule_factory()
        return self._rules

    def _gaussian_rules(self) -> _RuleEngine:
        assert self.mean is not None and self.cov is not None
        with mpmath.workdps(self.dps + 15):
            mean = [_to_mpf(self._numeric(x, "Gaussian mean"), self.dps + 15) for x in self.mean]
            cov = mpmath.matrix(
                [
                    [_to_mpf(self._numeric(x, "Gaussian covariance"), self.dps + 15) for x in row]
                    for row in self.cov.tolist()
                ]
            )
            lam, Q = mpmath.eigsy(cov)
            scale = max([abs(x) for x in lam] + [mpmath.mpf(1)])
            if min(lam) < -(mpmath.mpf(10) ** (-self.dps)) * scale:
                raise ExpectationError(f"Gaussian covariance {self.cov.tolist()} is not positive semidefinite")
            keep = [k for k in range(len(lam)) if lam[k] > mpmath.mpf(10) ** (-2 * self.dps) * scale]
            L = [[Q[i, k] * mpmath.sqrt(lam[k]) for k in keep] for i in range(len(mean))]
        return _RuleEngine(_GaussianRuleFamily(self.state, mean, L, self.dps), self.dps)

    def _one_d_rules(self) -> _RuleEngine:
        h = self.state[0]
        phi = self._numeric(self.model.drift[0], "drift")
        D = self._numeric(self.model.D[0, 0], "diffusion")
        if D == 0:
            raise StationaryLawError("initial: D = sigma^2 is zero; there is no stationary density; " + _OTHER_STARTS)
        dlog = sp.cancel((2 * phi - sp.diff(D, h)) / D)
        return _RuleEngine(_OneDRuleFamily(h, dlog, D, self.dps, phi), self.dps)

    def _gradient_rules(self, U: sp.Expr, s2: sp.Expr) -> _RuleEngine:
        ell = self._numeric(-2 * U / s2, "potential")
        return _RuleEngine(_BoxRuleFamily(self.state, ell, self.dps), self.dps)


def _to_mpf(e: sp.Expr, dps: int) -> Any:
    """A real SymPy number as an mpf with ``dps`` digits."""
    v = sp.N(e, dps)
    if not v.is_real:
        raise ExpectationError(f"expected a real number, received {e}")
    return mpmath.mpf(v)


def _tidy(e: sp.Expr) -> sp.Expr:
    if e.free_symbols and not e.has(sp.Float):
        try:
            return sp.cancel(e)
        except sp.PolynomialError:  # pragma: no cover - non-rational symbolic expressions
            return e
    return e


# --------------------------------------------------------------------------- exact helpers


def _solve_exact(M: sp.Matrix, rhs: sp.Matrix) -> list[sp.Expr]:
    """Solve M x = rhs exactly (fraction-free over the coefficient domain)."""
    dM = DomainMatrix.from_Matrix(M)
    dr = DomainMatrix.from_Matrix(rhs)
    dM, dr = dM.unify(dr)
    try:
        num, den = dM.solve_den(dr)
    except Exception as exc:  # singular systems
        raise UnstableError(
            f"initial: the stationary moments need an invertible A (matrix {M.tolist()}); "
            f"the linear solve failed ({exc}). A stationary start needs a stable A; " + _OTHER_STARTS
        ) from None
    d = den.as_expr() if hasattr(den, "as_expr") else dM.domain.to_sympy(den)
    return [sp.cancel(x / d) for x in num.to_Matrix()]


def _check_stable(A: sp.Matrix) -> None:
    n = A.rows
    if not A.free_symbols:
        ev = np.linalg.eigvals(np.array(A.evalf(20).tolist(), dtype=float))
        if np.any(ev.real <= 1e-14 * max(1.0, float(np.abs(ev).max()))):
            raise UnstableError(
                f"initial: the stationary law needs all eigenvalues of A (phi = -A h + c) to have positive real "
                f"part; A = {A.tolist()} has eigenvalues {ev.tolist()}. " + _OTHER_STARTS
            )
        return
    tests = [A[0, 0]] if n == 1 else ([A.trace(), A.det()] if n == 2 else [])
    for t in tests:
        if sp.simplify(t).is_positive is False:
            raise UnstableError(
                f"initial: the stationary law needs A (phi = -A h + c) stable, but {t} > 0 fails for "
                f"A = {A.tolist()}. " + _OTHER_STARTS
            )


def _gradient_potential(model: Diffusion) -> tuple[sp.Expr, sp.Expr]:
    """(U, s^2) with phi = -grad U and D = s^2 I constant, or raise StationaryLawError saying why not."""
    h = list(model.state)
    D = model.D
    n = model.n
    s2 = D[0, 0]
    const_iso = all(not D[i, j].has(*h) for i in range(n) for j in range(n)) and all(
        sp.simplify(D[i, j] - (s2 if i == j else 0)) == 0 for i in range(n) for j in range(n)
    )
    if not const_iso:
        raise StationaryLawError(
            f"initial: the stationary law rho_inf of a nonlinear {n}-D model is known here only for gradient "
            f"systems with isotropic constant noise (D = s^2 I); this model has D = {D.tolist()}. "
            "rho_inf solves L0* rho = 0, which has no closed form in general; " + _OTHER_STARTS
        )
    J = model.drift.jacobian(h)
    if any(sp.simplify(J[i, j] - J[j, i]) != 0 for i in range(n) for j in range(i + 1, n)):
        raise StationaryLawError(
            f"initial: the drift is not a gradient field (its Jacobian is not symmetric: "
            f"d phi_1/d h_2 = {J[0, 1]} but d phi_2/d h_1 = {J[1, 0]}), so the stationary law rho_inf is not "
            "exp(-2U/s^2) and has no closed form (the process is not reversible); " + _OTHER_STARTS
        )
    U = sp.Integer(0)
    for i, x in enumerate(h):
        rest = sp.simplify(-model.drift[i] - sp.diff(U, x))
        part = sp.integrate(rest, x)
        if part.has(sp.Integral):
            raise StationaryLawError(
                f"initial: could not integrate the potential U (-phi_{i + 1} = {rest}); " + _OTHER_STARTS
            )
        U = U + part
    return sp.expand(U), s2


# --------------------------------------------------------------------------- quadrature rules


@dataclass
class _Rule:
    """Nodes (one mpf list per coordinate) and normalised weights."""

    coords: list[list[Any]]
    weights: list[Any]


@lru_cache(maxsize=8)
def _gl_nodes(degree: int, prec: int) -> tuple[tuple[Any, Any], ...]:
    """Gauss-Legendre nodes and weights on [-1, 1] (3 * 2**(degree-1) of them)."""
    with mpmath.workprec(prec):
        return tuple(GaussLegendre(mpmath.mp).calc_nodes(degree, prec))


def _panel_rule(a: Any, b: Any, panels: int, degree: int, prec: int) -> tuple[list[Any], list[Any]]:
    """Composite Gauss-Legendre rule on [a, b] with ``panels`` equal panels."""
    xs: list[Any] = []
    ws: list[Any] = []
    base = _gl_nodes(degree, prec)
    width = (b - a) / panels
    for k in range(panels):
        lo = a + k * width
        half = width / 2
        mid = lo + half
        for t, w in base:
            xs.append(mid + half * t)
            ws.append(half * w)
    return xs, ws


class _RuleFamily:
    """A sequence of quadrature rules for one law, finer with the level."""

    description = ""
    state: tuple[sp.Symbol, ...]  # the variables of the rules' nodes (set by every family)

    def rule(self, level: int) -> _Rule:  # pragma: no cover - interface
        raise NotImplementedError


class _RuleEngine:
    """Moments on two consecutive rule levels (Gauss-Legendre degree doubled), with an error estimate.

    Gauss-Legendre errors fall geometrically, E_N ~ C rho^(-2N), so doubling the
    nodes per panel roughly squares the relative error: once the coarse and
    fine values differ by d <= 1e-6 |scale|, the fine value's error is estimated
    as 100 d^2 / scale (the extrapolation mpmath.quad also uses); otherwise as d.
    """

    max_level = 3  # finest level (Gauss-Legendre with 3 * 2**(3 + level - 1) = 96 nodes per panel)

    def __init__(self, family: _RuleFamily, dps: int):
        self.family = family
        self.dps = dps
        self.level = 0
        self.bits = int(math.ceil((dps + 25) * math.log2(10)))
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._tables: dict[tuple[Any, ...], Any] = {}
        self._rules: dict[int, _Rule] = {}
        self._int_weights: dict[int, Any] = {}
        self.max_error = mpmath.mpf(0)

    def report(self) -> dict[str, Any]:
        rules = [self._rule(self.level), self._rule(self.level + 1)]
        return {
            "method": self.family.description,
            "nodes": [len(r.weights) for r in rules],
            "error estimate": sp.Float(self.max_error, 5),
        }

    def _rule(self, level: int) -> _Rule:
        if level not in self._rules:
            with mpmath.workdps(self.dps + 15):
                self._rules[level] = self.family.rule(level)
        return self._rules[level]

    def _tol(self, value: Any) -> Any:
        return mpmath.mpf(10) ** (-self.dps) * max(mpmath.mpf(1), abs(value))

    @staticmethod
    def _estimate(coarse: Any, fine: Any) -> Any:
        scale = max(mpmath.mpf(1), abs(fine))
        d = abs(coarse - fine)
        return d if d > scale * mpmath.mpf(10) ** -6 else min(d, 100 * d * d / scale)

    def _refine(self, what: str, err: Any) -> None:
        if self.level + 1 >= self.max_level:
            raise ExpectationError(
                f"quadrature over the initial law did not converge for {what}: the two finest rules "
                f"({[len(self._rule(k).weights) for k in (self.level, self.level + 1)]} nodes) differ by "
                f"{mpmath.nstr(err, 5)}; lower dps, or use a point-mass / Gaussian start"
            )
        self.level += 1
        self._cache.clear()

    # ---- arbitrary functions ----------------------------------------------------------
    def expect_function(self, g: sp.Expr, state: Sequence[sp.Symbol]) -> sp.Expr:
        fn = sp.lambdify(list(state), g, modules="mpmath")
        while True:
            with mpmath.workdps(self.dps + 15):
                vals = []
                for lev in (self.level, self.level + 1):
                    r = self._rule(lev)
                    pts = zip(*r.coords)
                    vals.append(mpmath.fsum(w * fn(*x) for w, x in zip(r.weights, pts)))
                err = self._estimate(vals[0], vals[1])
                if err <= self._tol(vals[1]):
                    self.max_error = max(self.max_error, err)
                    return sp.Float(vals[1], self.dps)
            self._refine(str(g), err)

    # ---- monomial moments in fixed-point integer arithmetic ---------------------------
    def moment(self, gens: tuple[sp.Expr, ...], ex: tuple[int, ...]) -> Any:
        """E[prod_j gens_j^{ex_j}] (gens: numeric functions of the state) as an mpf."""
        while True:
            key = (gens, ex)
            if key in self._cache:
                return self._cache[key]
            a = self._int_moment(gens, ex, self.level)
            b = self._int_moment(gens, ex, self.level + 1)
            err = self._estimate(a, b)
            if err <= self._tol(b):
                self.max_error = max(self.max_error, err)
                self._cache[key] = b
                return b
            self._refine(f"the moment {ex} of {gens}", err)

    def _int_moment(self, gens: tuple[sp.Expr, ...], ex: tuple[int, ...], level: int) -> Any:
        F = self.bits
        acc = self._weights_int(level)
        for j, e in enumerate(ex):
            if e:
                acc = (acc * self._power_table(gens, j, e, level)) >> F
        with mpmath.workdps(self.dps + 15):
            return mpmath.ldexp(mpmath.mpf(int(acc.sum())), -F)

    def _weights_int(self, level: int) -> Any:
        if level not in self._int_weights:
            r = self._rule(level)
            self._int_weights[level] = np.array([int(mpmath.ldexp(w, self.bits)) for w in r.weights], dtype=object)
        return self._int_weights[level]

    def _power_table(self, gens: tuple[sp.Expr, ...], j: int, e: int, level: int) -> Any:
        key = (gens[j], e, level)
        if key in self._tables:
            return self._tables[key]
        if e == 1:
            r = self._rule(level)
            fn = sp.lambdify(list(self._state_of(r)), gens[j], modules="mpmath")
            with mpmath.workdps(self.dps + 15):
                vals = [fn(*x) for x in zip(*r.coords)]
                tab = np.array([int(mpmath.ldexp(mpmath.mpf(v), self.bits)) for v in vals], dtype=object)
        else:
            tab = (self._power_table(gens, j, e - 1, level) * self._power_table(gens, j, 1, level)) >> self.bits
        self._tables[key] = tab
        return tab

    def _state_of(self, r: _Rule) -> tuple[sp.Symbol, ...]:
        return self.family.state


class _GaussianRuleFamily(_RuleFamily):
    """h = m + L z, z ~ N(0, I_r): tensor product of 1-D panel rules for exp(-z^2/2)."""

    def __init__(self, state: Sequence[sp.Symbol], mean: list[Any], L: list[list[Any]], dps: int):
        self.mean, self.L, self.dps = mean, L, dps
        self.r = len(L[0]) if L else 0
        self.state = tuple(state)
        self.zmax = mpmath.sqrt(2 * (dps * mpmath.log(10) + 12))
        zmax = mpmath.nstr(self.zmax, 4)
        self.description = f"Gauss-Legendre panels in whitened coordinates z in [-{zmax}, {zmax}]^{self.r}"

    def rule(self, level: int) -> _Rule:
        prec = mpmath.mp.prec
        panels = 8 if self.r > 1 else 16
        z1, w1 = _panel_rule(-self.zmax, self.zmax, panels, 3 + level, prec)
        w1 = [w * mpmath.exp(-z * z / 2) for z, w in zip(z1, w1)]
        tot = mpmath.fsum(w1)
        w1 = [w / tot for w in w1]
        grids: list[tuple[list[Any], Any]] = [([], mpmath.mpf(1))]
        for _ in range(self.r):
            grids = [(zs + [z], w * wz) for zs, w in grids for z, wz in zip(z1, w1)]
        n = len(self.mean)
        coords = [
            [self.mean[i] + mpmath.fsum(self.L[i][k] * zs[k] for k in range(self.r)) for zs, _ in grids]
            for i in range(n)
        ]
        return _Rule(coords, [w for _, w in grids])


class _OneDRuleFamily(_RuleFamily):
    """rho_inf(x) ~ exp(ell(x)), ell' = (2 phi - D') / D, on a box found from the drift."""

    def __init__(self, h: sp.Symbol, dlog: sp.Expr, D: sp.Expr, dps: int, phi: sp.Expr):
        self.state = (h,)
        self.dps = dps
        self.threshold = dps * math.log(10) + 20
        with mpmath.workdps(dps + 15):
            self._dl = sp.lambdify([h], dlog, modules="mpmath")
            self._D = sp.lambdify([h], D, modules="mpmath")
            try:
                poly = sp.Poly(dlog, h)
            except sp.PolynomialError:
                poly = None
            if poly is not None:
                ell = sp.integrate(poly.as_expr(), h)
                self._ell_exact: Callable[[Any], Any] | None = sp.lambdify([h], ell, modules="mpmath")
            else:
                self._ell_exact = None
            self.a, self.b = self._find_limits(phi)
        self.description = (
            f"Gauss-Legendre panels on [{mpmath.nstr(self.a, 6)}, {mpmath.nstr(self.b, 6)}] "
            f"(log-density drops by > {self.threshold:.0f} at the ends)"
        )

    def _ell_between(self, x0: Any, x1: Any) -> Any:
        if self._ell_exact is not None:
            return self._ell_exact(x1) - self._ell_exact(x0)
        return mpmath.quad(self._dl, [x0, x1])

    def _find_limits(self, phi: sp.Expr) -> tuple[Any, Any]:
        zero = mpmath.mpf(0)
        ends = []
        top = zero
        for sign in (1, -1):
            x, ell = zero, zero
            step = mpmath.mpf(1) / 8
            while True:
                if abs(x) > 1e6:
                    side = "positive" if sign > 0 else "negative"
                    if ell < top - 2 * math.log(abs(x)) - 1:  # decays, but only like a power of |h|
                        raise StationaryLawError(
                            f"initial: the stationary density rho_inf ~ D^-1 exp(int 2 phi / D) with phi = {phi} has "
                            f"a heavy (power-law) tail in the {side} direction: it has not decayed by "
                            f"{self.threshold:.0f} in log within |h| < 1e6, so it cannot be integrated to {self.dps} "
                            "digits here; lower dps, or " + _OTHER_STARTS
                        )
                    raise StationaryLawError(
                        f"initial: the stationary density rho_inf ~ D^-1 exp(int 2 phi / D) with phi = {phi} is not "
                        f"normalisable (its log-density does not decay in the {side} direction): the drift does not "
                        "confine the process, so there is no stationary law; " + _OTHER_STARTS
                    )
                nx = x + sign * step
                self._check_D(nx)
                ell = ell + self._ell_between(x, nx)
                x = nx
                top = max(top, ell)
                slope = sign * self._dl(x)
                if ell < top - self.threshold and slope < 0:
                    tail = mpmath.exp(ell - top) / abs(slope)
                    if tail < mpmath.mpf(10) ** (-self.dps - 5):
                        break
                step = step * 2 if abs(x) >= step * 4 else step
            ends.append(x)
        return ends[1], ends[0]

    def _check_D(self, x: Any) -> None:
        if not self._D(x) > 0:
            raise StationaryLawError(
                f"initial: D(h) = sigma(h)^2 must be positive for the 1-D stationary density; it is "
                f"{mpmath.nstr(self._D(x), 5)} at h = {mpmath.nstr(x, 5)}; " + _OTHER_STARTS
            )

    def rule(self, level: int) -> _Rule:
        prec = mpmath.mp.prec
        panels = 16
        xs, ws = _panel_rule(self.a, self.b, panels, 3 + level, prec)
        ells = self._ell_at(xs, panels, 3 + level)
        top = max(ells)
        ws = [w * mpmath.exp(e - top) for w, e in zip(ws, ells)]
        tot = mpmath.fsum(ws)
        if not tot > 0:
            raise StationaryLawError("initial: the stationary density integrates to zero; " + _OTHER_STARTS)
        return _Rule([xs], [w / tot for w in ws])

    def _ell_at(self, xs: list[Any], panels: int, degree: int) -> list[Any]:
        if self._ell_exact is not None:
            return [self._ell_exact(x) for x in xs]
        # cumulative: ell(x_i) = ell(panel start) + half * sum_j Q_ij ell'(x_j)   (spectral integration)
        base = _gl_nodes(degree, mpmath.mp.prec)
        Q = _gl_integration_matrix(degree, mpmath.mp.prec)
        per = len(base)
        half = (self.b - self.a) / panels / 2
        out: list[Any] = []
        ell_left = mpmath.mpf(0)
        for k in range(panels):
            d = [self._dl(x) for x in xs[k * per : (k + 1) * per]]
            out.extend(ell_left + half * mpmath.fdot(row, d) for row in Q)
            ell_left = ell_left + half * mpmath.fdot([w for _, w in base], d)
        return out


@lru_cache(maxsize=4)
def _gl_integration_matrix(degree: int, prec: int) -> tuple[tuple[Any, ...], ...]:
    """Q_ij = int_{-1}^{t_i} l_j(t) dt for the Lagrange basis l_j on the Gauss-Legendre nodes t_j.

    With l_j(t) = w_j sum_k (2k+1)/2 P_k(t_j) P_k(t) and int_{-1}^x P_k = (P_{k+1} - P_{k-1})(x) / (2k+1):
    Q_ij = w_j [ (t_i + 1)/2 + sum_{k=1}^{N-1} P_k(t_j) (P_{k+1}(t_i) - P_{k-1}(t_i)) / 2 ].
    """
    base = _gl_nodes(degree, prec)
    N = len(base)
    with mpmath.workprec(prec):

        def legendre_all(x: Any) -> list[Any]:
            P = [mpmath.mpf(1), x]
            for k in range(1, N):
                P.append(((2 * k + 1) * x * P[k] - k * P[k - 1]) / (k + 1))
            return P

        tab = [legendre_all(t) for t, _ in base]
        rows = []
        for i in range(N):
            Pi = tab[i]
            ti = base[i][0]
            row = []
            for j in range(N):
                Pj = tab[j]
                acc = (ti + 1) / 2 + mpmath.fsum(Pj[k] * (Pi[k + 1] - Pi[k - 1]) / 2 for k in range(1, N))
                row.append(base[j][1] * acc)
            rows.append(tuple(row))
    return tuple(rows)


class _BoxRuleFamily(_RuleFamily):
    """rho ~ exp(ell(x)) in 2-D on a box found by expanding squares (tensor panel rule)."""

    def __init__(self, state: Sequence[sp.Symbol], ell: sp.Expr, dps: int):
        self.state = tuple(state)
        self.dps = dps
        self.threshold = dps * math.log(10) + 20
        self.ell_expr = ell
        with mpmath.workdps(dps + 15):
            self._ell = sp.lambdify(list(state), ell, modules="mpmath")
            self.box = self._find_box()
        lims = ", ".join(f"[{mpmath.nstr(a, 5)}, {mpmath.nstr(b, 5)}]" for a, b in self.box)
        self.description = f"tensor Gauss-Legendre panels on {lims}"

    def _edge_max(self, box: list[list[Any]], axis: int, side: int, samples: int = 96) -> Any:
        other = 1 - axis
        lo, hi = box[other]
        x = box[axis][side]
        best = mpmath.mpf("-inf")
        for k in range(samples + 1):
            y = lo + (hi - lo) * k / samples
            pt = [x, y] if axis == 0 else [y, x]
            best = max(best, self._ell(*pt))
        return best

    def _inner_max(self, box: list[list[Any]], samples: int = 48) -> Any:
        (a1, b1), (a2, b2) = box
        return max(
            self._ell(a1 + (b1 - a1) * i / samples, a2 + (b2 - a2) * j / samples)
            for i in range(samples + 1)
            for j in range(samples + 1)
        )

    def _find_box(self) -> list[list[Any]]:
        R = mpmath.mpf(1)
        while True:
            box = [[-R, R], [-R, R]]
            top = self._inner_max(box)
            edges = [self._edge_max(box, ax, sd) for ax in (0, 1) for sd in (0, 1)]
            if max(edges) < top - self.threshold:
                break
            R *= 2
            if R > 1e4:
                raise StationaryLawError(
                    f"initial: exp({self.ell_expr}) does not decay within |h| < 1e4: the potential does not confine "
                    "the process, so there is no normalisable stationary law; " + _OTHER_STARTS
                )
        self.top = top
        # shrink each side while its edge stays below the threshold
        for ax in (0, 1):
            for sd in (0, 1):
                for _ in range(30):
                    trial = [list(box[0]), list(box[1])]
                    trial[ax][sd] = box[ax][sd] * mpmath.mpf("0.9")
                    if self._edge_max(trial, ax, sd) < top - self.threshold:
                        box = trial
                    else:
                        break
        return box

    def rule(self, level: int) -> _Rule:
        prec = mpmath.mp.prec
        panels = 8
        (a1, b1), (a2, b2) = self.box
        x1, w1 = _panel_rule(a1, b1, panels, 3 + level, prec)
        x2, w2 = _panel_rule(a2, b2, panels, 3 + level, prec)
        c1: list[Any] = []
        c2: list[Any] = []
        ws: list[Any] = []
        ells: list[Any] = []
        for xa, wa in zip(x1, w1):
            for xb, wb in zip(x2, w2):
                c1.append(xa)
                c2.append(xb)
                ws.append(wa * wb)
                ells.append(self._ell(xa, xb))
        top = max(ells)
        ws = [w * mpmath.exp(e - top) for w, e in zip(ws, ells)]
        tot = mpmath.fsum(ws)
        return _Rule([c1, c2], [w / tot for w in ws])

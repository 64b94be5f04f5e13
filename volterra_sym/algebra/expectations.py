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
which is what :mod:`volterra_sym.routes.taylor` uses for its many observables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import mpmath
import sympy as sp

from .. import limits
from ..errors import ArgumentError, ExpectationError, StationaryLawError
from ..model.diffusion import Diffusion, Gaussian, PointMass
from ..model.parsing import as_expression, constant_problem
from ..validate import check_model, refusal
from .linear_gaussian import affine_parts, stationary_gaussian
from .quadrature_rules import OTHER_STARTS, BoxRuleFamily, GaussianRuleFamily, OneDRuleFamily, RuleEngine

__all__ = [
    "ExpectationError",
    "InitialExpectation",
    "StationaryLawError",
    "expectation",
    "gaussian_moment",
]



# --------------------------------------------------------------------------- public entry points


def expectation(model: Diffusion, g: Any, *, dps: int = limits.DEFAULT_DPS) -> sp.Expr:
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
    check_model(model)
    if isinstance(g, sp.Basic):
        limits.check_size(g, model.state, "g", ArgumentError)  # the moment recursion is as deep as the degree
        problem = constant_problem(g) if isinstance(g, sp.Expr) else None
        if problem:
            raise refusal("g", problem)
    return InitialExpectation(model, dps=dps)(g)


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

    def __init__(self, model: Diffusion, *, dps: int = limits.DEFAULT_DPS):
        if isinstance(dps, bool) or not isinstance(dps, int) or dps < 10:
            raise ExpectationError(f"dps: expected an integer >= 10, received {dps!r}")
        self.model = model
        self.dps = dps
        self.state = tuple(model.state)
        self._values = dict(model.params)
        self._moments: dict[tuple[tuple[sp.Expr, ...], tuple[int, ...]], sp.Expr] = {}
        self._gauss_cache: dict[tuple[int, ...], sp.Expr] = {}
        self._rules: RuleEngine | None = None
        self._rule_factory: Callable[[], RuleEngine] | None = None
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
        lin = affine_parts(model)
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
                f"U = {U}, but quadrature is implemented for n <= 2 only; {OTHER_STARTS}"
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
        g = as_expression(g, {s.name: s for s in self.state}, where="g")
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
        gens = tuple(sp.sympify(x, strict=True) for x in gens)
        if self.point is not None:
            at = dict(zip(self.state, self.point))
            vals = [x.xreplace(at) for x in gens]
            coeffs = [sp.sympify(c, strict=True) for c in terms.values()]
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
                moment = gaussian_moment(alpha, self.mean, self.cov, self._gauss_cache)
                exact.append(sp.sympify(c, strict=True) * moment)
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
                cn = self._numeric(sp.sympify(c, strict=True), "coefficient")
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

    def _rule_engine(self) -> RuleEngine:
        if self._rules is None:
            assert self._rule_factory is not None
            self._rules = self._rule_factory()
        return self._rules

    def _gaussian_rules(self) -> RuleEngine:
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
        return RuleEngine(GaussianRuleFamily(self.state, mean, L, self.dps), self.dps)

    def _one_d_rules(self) -> RuleEngine:
        h = self.state[0]
        phi = self._numeric(self.model.drift[0], "drift")
        D = self._numeric(self.model.D[0, 0], "diffusion")
        if D == 0:
            raise StationaryLawError("initial: D = sigma^2 is zero; there is no stationary density; " + OTHER_STARTS)
        dlog = sp.cancel((2 * phi - sp.diff(D, h)) / D)
        return RuleEngine(OneDRuleFamily(h, dlog, D, self.dps, phi), self.dps)

    def _gradient_rules(self, U: sp.Expr, s2: sp.Expr) -> RuleEngine:
        ell = self._numeric(-2 * U / s2, "potential")
        return RuleEngine(BoxRuleFamily(self.state, ell, self.dps), self.dps)


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


def _clearly_nonzero(e: sp.Expr, h: list[sp.Symbol], model: Diffusion) -> bool:
    """A numerical look at a few fixed points before any simplification: a non-gradient drift of a
    transcendental model (tanh(W h + b) with a rotational W) otherwise sends ``simplify`` into minutes of
    trigsimp.  True only when e is far from 0 at some point (symbolic parameters: no verdict)."""
    e = e.xreplace(model.params)
    if e.free_symbols - set(h):
        return False
    points = ([0.3, -0.7, 0.5, 1.1, -0.2, 0.8], [-0.45, 0.25, 0.9, -1.3, 0.6, 0.1], [1.2, 0.4, -0.8, 0.35, -1.0, 0.7])
    for pt in points:
        try:
            val = complex(e.evalf(30, subs={x: sp.Float(pt[i % len(pt)]) for i, x in enumerate(h)}))
        except (TypeError, ValueError):
            return False
        if abs(val) > 1e-12:
            return True
    return False


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
            "rho_inf solves L0* rho = 0, which has no closed form in general; " + OTHER_STARTS
        )
    J = model.drift.jacobian(h)
    if any(_clearly_nonzero(J[i, j] - J[j, i], h, model) or sp.simplify(J[i, j] - J[j, i]) != 0
           for i in range(n) for j in range(i + 1, n)):
        raise StationaryLawError(
            f"initial: the drift is not a gradient field (its Jacobian is not symmetric: "
            f"d phi_1/d h_2 = {J[0, 1]} but d phi_2/d h_1 = {J[1, 0]}), so the stationary law rho_inf is not "
            "exp(-2U/s^2) and has no closed form (the process is not reversible); " + OTHER_STARTS
        )
    U = sp.Integer(0)
    for i, x in enumerate(h):
        rest = sp.simplify(-model.drift[i] - sp.diff(U, x))
        part = sp.integrate(rest, x)
        if part.has(sp.Integral):
            raise StationaryLawError(
                f"initial: could not integrate the potential U (-phi_{i + 1} = {rest}); " + OTHER_STARTS
            )
        U = U + part
    return sp.expand(U), s2



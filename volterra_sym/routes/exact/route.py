"""The generator recursion for the response kernels and :func:`derive` (MATH.md sections 4-5).

    G_0 = f,   G_j = L1^{k_j} P_{tau_j} G_{j-1},   K^(n)_{k_1..k_n}(tau; s_n) = E_mu0[(P_{s_n} G_n)(h_0)]

For a linear SRNN the semigroup intertwines with gradients,
grad P_tau g = e^{-A^T tau} P_tau grad g, so each step keeps the form

    G_j = P_{T_j}[ g_j ],   g_j = (e^{-A T_j} C_{k_j}) . grad g_{j-1},   T_j = tau_1 + ... + tau_j,

with g_j a polynomial in the state of degree deg f - j whose coefficients are
exponential polynomials in the lags.  The initial-law expectation is then a
Gaussian moment computation:

* stationary start: E_inf[P_T g] = E_inf[g], X ~ N(m_inf, S_inf);
* point mass / Gaussian start: X ~ N(e^{-A t} m0 + m_t, e^{-A t} S0 e^{-A^T t} + S_t),
  t = T_n + s_n.

Hence K^(n) = 0 for n > deg f, and every kernel is an exponential polynomial.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import sympy as sp

from ... import limits
from ...algebra.exp_polynomial import ExpPoly
from ...algebra.linear_gaussian import (
    LinearData,
    check_linear,
    check_stationary,
    initial_moments,
    linear_data,
    readout_polynomials,
)
from ...algebra.state_polynomial import StatePolynomial, linear_substitution
from ...documents.derivation import Derivation
from ...errors import ArgumentError
from ...model.diffusion import OU, Diffusion, Stationary
from ...response import lag_symbols
from ...validate import check_order, refusal
from ..base import ContractCase, Route
from ..closed_form import ClosedFormResponse
from ..options import DPS, Option
from .derivation import exact_derivation


@dataclass
class RecursionStep:
    """One step of the recursion: G_j = P_{T_j}[g_j] for input indices ``k`` (0-based), readout ``component``."""

    component: int
    k: tuple[int, ...]
    g: StatePolynomial

    def __repr__(self) -> str:
        return (
            f"RecursionStep(component={self.component}, k={self.k}, g: degree {self.g.degree()} in the state, "
            f"{len(self.g.coeffs)} monomials)"
        )


def derive_exact(
    model: Diffusion, order: int | None = None, *, dps: int = limits.DEFAULT_DPS, simplify: bool = True
) -> ExactResponse:
    """Exact kernels of a linear SRNN with polynomial readout (see module docstring)."""
    check_linear(model)
    J = model.drift.jacobian(model.state)
    if not J.free_symbols:  # numeric: estimate the cost of the spectral data before computing it
        pattern = [[entry != 0 for entry in J.row(i)] for i in range(J.rows)]
        limits.check_exact_cost(model.n, limits.irreducible_block(pattern))
    polys = readout_polynomials(model)
    degree = max(p.total_degree() for p in polys)
    if order is None:
        order = max(degree, 1)
    order = check_order(order)
    limits.check_kernel_count(order, model.m, model.p, degree)  # also when the order comes from the readout
    with mpmath.workdps(dps):
        data = linear_data(model, dps=dps)
    dps = data.dps  # raised automatically for clustered eigenvalues
    with mpmath.workdps(dps):
        stationary = isinstance(model.initial, Stationary)
        if stationary:
            check_stationary(data, model)
        taus, s_sym, t_sym = lag_symbols(model, order)  # the Response derives the same symbols
        V = (*taus, s_sym)
        m = model.m

        # propagated coupling columns v_k(T_j) = e^{-A T_j} C_k as ExpPolys over V
        T = sp.Symbol("T")
        cols_T = data.propagated_columns(T)
        cols: dict[tuple[int, int], list[ExpPoly]] = {}
        for j in range(order):
            for k in range(m):
                cols[(j, k)] = [v.substitute_sum(0, V, tuple(range(j + 1))) for v in cols_T[k]]

        # the law of h_0 propagated: moments as functions of t (univariate), or constants
        law = _Law(data, model, t_sym, stationary)

        kernels: dict[tuple[int, int, tuple[int, ...]], ExpPoly] = {}
        steps: list[RecursionStep] = []
        mean0: list[ExpPoly] = []
        for comp, poly in enumerate(polys):
            g0 = StatePolynomial.from_poly(poly, V, data.num)
            mean0.append(law.expectation_t(g0))
            frontier: list[tuple[tuple[int, ...], StatePolynomial]] = [((), g0)]
            for j in range(order):
                nxt = []
                for ks, g in frontier:
                    for k in range(m):
                        gj = g.directional(cols[(j, k)]).simplified(False)
                        key = (*ks, k)
                        steps.append(RecursionStep(comp, key, gj))
                        kernels[(comp, j + 1, key)] = law.expectation_lags(gj, j + 1, V)
                        nxt.append((key, gj))
                frontier = nxt
        kernels = {key: F.simplified(simplify) for key, F in kernels.items()}
        mean0 = [F.simplified(simplify) for F in mean0]
        law_info = law.describe()
    return ExactResponse(
        model=model,
        order=order,
        kernel_forms=kernels,
        mean0_forms=mean0,
        readout_degree=[p.total_degree() for p in polys],
        linear=data,
        recursion=steps,
        law=law_info,
        dps=dps,
        simplify=simplify,
    )


class _Law:
    """Moments of the unperturbed law of h_t, for the initial-law expectation of the recursion."""

    def __init__(self, data: LinearData, model: Diffusion, t_sym: sp.Symbol, stationary: bool):
        self.data, self.model, self.t, self.stationary = data, model, t_sym, stationary
        self.mean: Sequence[object]  # numbers (stationary start) or ExpPolys in t
        self.cov: Sequence[Sequence[object]]
        n = data.n
        if stationary:
            self.mean, self.cov = data.stationary()
            return
        m0, S0 = initial_moments(data, model)
        E = data.expm_neg(t_sym)
        mt = data.mean_drift(t_sym)
        St = data.cov_drift(t_sym)
        mean = []
        for i in range(n):
            acc = mt[i]
            for j in range(n):
                if m0[j] != 0:
                    acc = acc + E[i][j] * m0[j]
            mean.append(acc)
        cov = [[St[i][j] for j in range(n)] for i in range(n)]
        if any(S0[i][j] != 0 for i in range(n) for j in range(n)):
            ES0 = [
                [sum((E[i][k] * S0[k][j] for k in range(n) if S0[k][j] != 0), ExpPoly([t_sym])) for j in range(n)]
                for i in range(n)
            ]
            for i in range(n):
                for j in range(n):
                    acc = ExpPoly([t_sym])
                    for k in range(n):
                        acc = acc + ES0[i][k] * E[j][k]
                    cov[i][j] = cov[i][j] + acc
        self.mean, self.cov = mean, cov
        self._moment_cache: dict = {}

    def expectation_t(self, g: StatePolynomial) -> ExpPoly:
        """E f(h^0_t) as an ExpPoly in t (a constant for the stationary start)."""
        if self.stationary:
            return g.gaussian_expectation(self.mean, self.cov)
        uni = StatePolynomial(g.n, (self.t,), {a: _const_to(F, (self.t,)) for a, F in g.coeffs.items()})
        return uni.gaussian_expectation(self.mean, self.cov)

    def expectation_lags(self, g: StatePolynomial, n_order: int, V: tuple[sp.Symbol, ...]) -> ExpPoly:
        """E_mu0[P_{T_n + s_n} g] over the lag variables V."""
        if self.stationary:
            return g.gaussian_expectation(self.mean, self.cov)
        from ...algebra.state_polynomial import GaussianMoments

        parts = (*range(n_order), len(V) - 1)
        key = n_order
        if key not in self._moment_cache:
            self._moment_cache[key] = (GaussianMoments(g.n, (self.t,), self.mean, self.cov), {})
        mom, subs = self._moment_cache[key]
        total = ExpPoly(V)
        for alpha, F in g.coeffs.items():
            if alpha not in subs:
                subs[alpha] = mom(alpha).substitute_sum(0, V, parts)
            total = total + F * subs[alpha]
        return total

    def describe(self) -> dict[str, object]:
        return {"stationary": self.stationary, "mean": self.mean, "cov": self.cov, "t": self.t}


def _const_to(F: ExpPoly, vars: tuple[sp.Symbol, ...]) -> ExpPoly:
    total = sum((c for _, _, c in F), 0)
    return ExpPoly.constant(vars, total)


def fdt_kernel(resp: ExactResponse, k: int = 0, component: int = 0) -> ExpPoly:
    """First-order kernel in fluctuation-dissipation form (MATH.md section 4), stationary start:

        K^(1)_k(tau) = E_inf[ (P_tau f)(h_0) A_k(h_0) ],   A_k(x) = C_k^T S_inf^{-1} (x - m_inf),

    with P_tau f computed explicitly by the Gaussian action (a route independent of the recursion).
    """
    data: LinearData = resp.linear
    if not isinstance(resp.model.initial, Stationary):
        raise refusal("fdt_kernel", "the fluctuation-dissipation form needs the stationary start")
    tau = resp.taus[0]
    V = (tau,)
    with mpmath.workdps(resp.dps):
        polys = readout_polynomials(resp.model)
        f = StatePolynomial.from_poly(polys[component], V, data.num)
        E = data.expm_neg(tau)
        Pf = linear_substitution(f, E, data.mean_drift(tau), data.cov_drift(tau))
        m_inf, S_inf = data.stationary()
        n = data.n
        singular = ArgumentError(
            "fdt_kernel: the stationary covariance S_inf is singular (the noise does not reach every direction), "
            "so rho_inf has no density and the fluctuation-dissipation form A_k = -div(gamma_k rho)/rho is "
            "undefined; the kernels of the recursion, resp.kernel(1, k), are unaffected"
        )
        if (
            sp.Matrix(S_inf).det() == 0
            if data.domain == "exact"
            else abs(mpmath.det(mpmath.matrix(S_inf))) < (mpmath.mpf(10) ** (-data.dps // 2))
        ):
            raise singular
        if data.domain == "exact":
            Sinv = sp.Matrix(S_inf).inv()
            w = [sum(data.C[j, k] * Sinv[j, i] for j in range(n)) for i in range(n)]
        else:
            with mpmath.workdps(data.dps + 10):
                Sinv = mpmath.inverse(mpmath.matrix(S_inf))
                Cn = data.mat(data.C)
                w = [sum(Cn[j][k] * Sinv[j, i] for j in range(n)) for i in range(n)]
        # A_k(x) = sum_i w_i (x_i - m_i)
        Ak = StatePolynomial(n, V)
        const = -sum(w[i] * m_inf[i] for i in range(n))
        Ak.coeffs[(0,) * n] = ExpPoly.constant(V, const)
        for i in range(n):
            alpha = [0] * n
            alpha[i] = 1
            Ak.add_term(tuple(alpha), ExpPoly.constant(V, w[i]))
        return (Pf * Ak).gaussian_expectation(m_inf, S_inf).simplified(resp.simplify)


class ExactResponse(ClosedFormResponse):
    """Exact kernels of a linear SRNN (exponential polynomials; see :class:`ClosedFormResponse`).

    Extra attributes: ``readout_degree`` (degree of each readout component), ``linear`` (the
    :class:`~volterra_sym.algebra.linear_gaussian.LinearData` of the model), ``recursion``
    (the steps G_j = P_{T_j}[g_j]), ``law`` (moments of the unperturbed law).
    """


    def __init__(
        self,
        *,
        readout_degree: list[int],
        linear: LinearData,
        recursion: list[RecursionStep],
        law: dict[str, object],
        **forms: Any,
    ) -> None:
        super().__init__(**forms)
        self.readout_degree = readout_degree
        self.linear = linear
        self.recursion = recursion
        self.law = law

    def vanishes(self, n: int, component: int = 0) -> bool:
        """True when K^(n) is identically zero because n exceeds the readout's degree."""
        return n > self.readout_degree[component]

    @property
    def zero_orders(self) -> dict[int, str]:
        """Orders <= ``order`` whose kernels vanish identically, with the reason."""
        deg = max(self.readout_degree)
        return {
            n: (
                f"K^({n}) = 0: the readout has degree {deg}, P_tau preserves polynomial degree and each "
                "L1 lowers it by one (docs/MATH.md section 5)"
            )
            for n in range(deg + 1, self.order + 1)
        }

    def fdt_kernel(self, k: int = 0, component: int = 0) -> sp.Expr:
        """K^(1)_k in fluctuation-dissipation form E_inf[f(h_tau) A_k(h_0)] (stationary start)."""
        kk = self._k(1, k)[0]
        comp = self._component(component)[0]
        F = fdt_kernel(self, kk, comp)
        with mpmath.workdps(self.dps):
            return F.as_expr(self.simplify)

    def _build_derivation(self) -> Derivation:
        return exact_derivation(self)


class ExactRoute(Route):
    """Closed forms of linear SRNNs / OU models with polynomial readouts (MATH.md section 5)."""

    name = "exact"
    summary = "exact closed forms (linear SRNNs / OU, polynomial readout)"
    schema = (DPS, Option("simplify", "flag", "factor symbolic coefficients", default=True))
    default_order = True
    response = ExactResponse

    def _derive(self, model: Diffusion, order: int | None, **options: Any) -> ExactResponse:
        return derive_exact(model, order, dps=options["dps"], simplify=options["simplify"])

    def contract_case(self) -> ContractCase:
        return ContractCase(OU(1.0, 1.0, 0.5, readout="h1**2 + h1"), 2)

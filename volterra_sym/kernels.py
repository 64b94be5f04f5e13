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

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import mpmath
import sympy as sp

from .errors import ModelError, VolterraError, describe
from .expopoly import ExpPoly
from .linear import (
    LinearData,
    check_linear,
    check_stationary,
    initial_moments,
    linear_data,
    readout_polynomials,
)
from .model import Diffusion, Stationary
from .polyexp import PolyEP, linear_substitution

METHODS = ("exact", "taylor", "generator")


def lag_symbols(model: Diffusion, order: int) -> tuple[tuple[sp.Symbol, ...], sp.Symbol, sp.Symbol]:
    """Lag symbols tau1..tau_order, the start lag s_n and the time t, avoiding the model's names."""
    taken = {s.name for s in model.state} | {s.name for s in model.parameters}

    def fresh(name: str) -> sp.Symbol:
        while name in taken:
            name += "_"
        return sp.Symbol(name)

    taus = tuple(fresh(f"tau{i + 1}") for i in range(order))
    return taus, fresh("s_n"), fresh("t")


def _check_order(order: object) -> int:
    if isinstance(order, bool) or not isinstance(order, int):
        try:
            import numpy as np

            if isinstance(order, np.integer):
                order = int(order)
            else:
                raise TypeError
        except TypeError:
            raise VolterraError(f"order: expected a positive integer, received {describe(order)}") from None
    if order < 1:
        raise VolterraError(f"order: expected a positive integer (the highest kernel order), received {order}")
    if order > 12:
        raise VolterraError(f"order: {order} is beyond what symbolic kernels can reach here; use order <= 12")
    return order


def derive(
    model: Diffusion,
    order: int | None = None,
    *,
    method: str = "exact",
    lag_degree: int | None = None,
    dps: int = 30,
    simplify: bool = True,
    **options: object,
):
    """Derive the response kernels of ``model`` up to ``order``.

    Parameters
    ----------
    model : Diffusion
    order : highest kernel order N (default for ``method="exact"``: the readout's degree,
        beyond which all kernels vanish).
    method : ``"exact"`` (closed forms, linear SRNNs), ``"taylor"`` (short-lag Taylor
        kernels, any analytic model; needs ``lag_degree``) or ``"generator"``
        (numerical kernels at any lag, 1-D models).
    dps : working precision (digits) where numbers cannot be kept exact.
    simplify : factor symbolic coefficients.

    Returns
    -------
    Response
    """
    if not isinstance(model, Diffusion):
        raise VolterraError(
            f"model: expected a vs.Diffusion (e.g. vs.OU(...), vs.SRNN(...)), received {describe(model)}"
        )
    if method not in METHODS:
        raise VolterraError(f"method: expected one of {METHODS}, received {method!r}")
    if isinstance(dps, bool) or not isinstance(dps, int) or dps < 15:
        raise VolterraError(f"dps: expected an integer >= 15, received {describe(dps)}")
    if method == "exact":
        if options:
            raise VolterraError(f"unexpected options for method='exact': {sorted(options)}")
        if lag_degree is not None:
            raise VolterraError(
                "lag_degree: applies to method='taylor' (the exact kernels are not truncated); drop it or use "
                "method='taylor'"
            )
        return derive_exact(model, order, dps=dps, simplify=simplify)
    if order is None:
        raise VolterraError(f"order: method={method!r} needs an explicit order, e.g. order=2")
    order = _check_order(order)
    if method == "taylor":
        from .taylor_response import derive_taylor

        return derive_taylor(model, order, lag_degree=lag_degree, dps=dps, **options)
    from .generator import derive_generator

    allowed = {"cells", "domain", "values"}
    if set(options) - allowed or lag_degree is not None:
        bad = sorted(set(options) - allowed) + (["lag_degree"] if lag_degree is not None else [])
        raise VolterraError(f"unexpected options for method='generator': {bad} (it takes {sorted(allowed)})")
    return derive_generator(model, order, **options)


@dataclass
class RecursionStep:
    """One step of the recursion: G_j = P_{T_j}[g_j] for input indices ``k`` (0-based), readout ``component``."""

    component: int
    k: tuple[int, ...]
    g: PolyEP

    def __repr__(self) -> str:
        return (
            f"RecursionStep(component={self.component}, k={self.k}, g: degree {self.g.degree()} in the state, "
            f"{len(self.g.coeffs)} monomials)"
        )


def derive_exact(model: Diffusion, order: int | None = None, *, dps: int = 30, simplify: bool = True):
    """Exact kernels of a linear SRNN with polynomial readout (see module docstring)."""
    from .response import Response

    check_linear(model)
    polys = readout_polynomials(model)
    degree = max(p.total_degree() for p in polys)
    if order is None:
        order = max(degree, 1)
    order = _check_order(order)
    with mpmath.workdps(dps):
        data = linear_data(model, dps=dps)
    dps = data.dps  # raised automatically for clustered eigenvalues
    with mpmath.workdps(dps):
        stationary = isinstance(model.initial, Stationary)
        if stationary:
            check_stationary(data, model)
        taus, s_sym, t_sym = lag_symbols(model, order)
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
            g0 = PolyEP.from_poly(poly, V, data.num)
            mean0.append(law.expectation_t(g0))
            frontier = [((), g0)]
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
    return Response(
        model=model,
        order=order,
        method="exact",
        taus=taus,
        s_sym=s_sym,
        t_sym=t_sym,
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

    def expectation_t(self, g: PolyEP) -> ExpPoly:
        """E f(h^0_t) as an ExpPoly in t (a constant for the stationary start)."""
        if self.stationary:
            return g.gaussian_expectation(self.mean, self.cov)
        uni = PolyEP(g.n, (self.t,), {a: _const_to(F, (self.t,)) for a, F in g.coeffs.items()})
        return uni.gaussian_expectation(self.mean, self.cov)

    def expectation_lags(self, g: PolyEP, n_order: int, V: tuple[sp.Symbol, ...]) -> ExpPoly:
        """E_mu0[P_{T_n + s_n} g] over the lag variables V."""
        if self.stationary:
            return g.gaussian_expectation(self.mean, self.cov)
        from .polyexp import GaussianMoments

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


def fdt_kernel(resp, k: int = 0, component: int = 0) -> ExpPoly:
    """First-order kernel in fluctuation-dissipation form (MATH.md section 4), stationary start:

        K^(1)_k(tau) = E_inf[ (P_tau f)(h_0) A_k(h_0) ],   A_k(x) = C_k^T S_inf^{-1} (x - m_inf),

    with P_tau f computed explicitly by the Gaussian action (a route independent of the recursion).
    """
    data: LinearData = resp.linear
    if not isinstance(resp.model.initial, Stationary):
        raise VolterraError("fdt_kernel: the fluctuation-dissipation form needs the stationary start")
    tau = resp.taus[0]
    V = (tau,)
    with mpmath.workdps(resp.dps):
        polys = readout_polynomials(resp.model)
        f = PolyEP.from_poly(polys[component], V, data.num)
        E = data.expm_neg(tau)
        Pf = linear_substitution(f, E, data.mean_drift(tau), data.cov_drift(tau))
        m_inf, S_inf = data.stationary()
        n = data.n
        singular = VolterraError(
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
        Ak = PolyEP(n, V)
        const = -sum(w[i] * m_inf[i] for i in range(n))
        Ak.coeffs[(0,) * n] = ExpPoly.constant(V, const)
        for i in range(n):
            alpha = [0] * n
            alpha[i] = 1
            Ak._add(tuple(alpha), ExpPoly.constant(V, w[i]))
        return (Pf * Ak).gaussian_expectation(m_inf, S_inf).simplified(resp.simplify)


def all_index_tuples(m: int, n: int) -> list[tuple[int, ...]]:
    """All input-index tuples (k_1..k_n), 0-based."""
    return list(itertools.product(range(m), repeat=n))


def normalise_k(model: Diffusion, n: int, k: Sequence[int] | int | None) -> tuple[int, ...]:
    """Validate the input indices of a kernel request."""
    if k is None:
        if model.m != 1:
            raise ModelError(f"k: the model has {model.m} inputs; give the input indices k=(k1, ..., k{n}) (0-based)")
        return (0,) * n
    import operator

    try:
        k = (operator.index(k),) if not isinstance(k, (tuple, list)) else tuple(operator.index(x) for x in k)
    except TypeError:
        raise ModelError(f"k: expected a tuple of {n} integer input indices, received {k!r}") from None
    if len(k) != n or any(x < 0 or x >= model.m for x in k):
        raise ModelError(f"k: expected {n} input indices in 0..{model.m - 1} for a kernel of order {n}, received {k!r}")
    return k

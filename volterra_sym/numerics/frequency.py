"""The kernels in the frequency domain: generalised frequency response functions H_n(omega_1..omega_n).

Convention (docs/frequency.md).  With the symmetric kernels H^(n)_k of MATH.md section 4 (theta_j = t - s_j the
time since the j-th input; ``Response.symmetric_kernel``)

    H_{n,k}(omega_1..omega_n) = int_{[0,oo)^n} H^(n)_k(theta) exp(-i sum_j omega_j theta_j) dtheta,

so a stationary input u^k(t) = e^{i omega t} gives the order-1 output H_1(omega) e^{i omega t} (the sign of
the exponent is that of scipy.signal.freqs: H(s) at s = i omega).  Sorting theta increasingly by a
permutation sigma, theta_sigma(j) = tau_1 + ... + tau_j, and sum_j omega_sigma(j) theta_sigma(j) =
sum_l tau_l (omega_sigma(l) + ... + omega_sigma(n)), so with the multivariate Laplace transform of the
triangular kernel

    T_k(s_1..s_n) = int_{[0,oo)^n} K^(n)_k(tau) exp(-sum_l s_l tau_l) dtau

the symmetric transform is the average over the n! orderings

    H_{n,k}(omega) = (1/n!) sum_sigma T_{k o sigma}(s^sigma),   s^sigma_l = i (omega_sigma(l) + ... + omega_sigma(n)).

The most recent input's lag tau_1 carries the total frequency omega_1 + ... + omega_n.  The transform exists
(as an absolutely convergent integral at real omega) when the kernel decays in every lag: for an exponential
polynomial every rate has Re mu > 0, for a generator (Galerkin, grid) the reduced resolvents exist on the
imaginary axis.  Non-stationary kernels depend on s_n as well and have no transform: refused by the caller.

Three evaluations of T share :func:`symmetrise`: exponential polynomials (:func:`exp_poly_laplace`,
sum c prod_l p_l! / (s_l + mu_l)^(p_l + 1)), resolvent chains of a generator matrix
(:func:`resolvent_chain`), and quadrature of kernel values on a lag grid (:func:`grid_laplace`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ..errors import InputError, VolterraError
from ..validate import check_choice, check_flag, check_frequencies, refusal

#: T_{ks}(S): the triangular transform for input tuple ks at Laplace variables S (F, n) complex -> (F,) complex
Triangular = Callable[[tuple[int, ...], np.ndarray], np.ndarray]


def orderings(n: int, W: np.ndarray) -> list[tuple[tuple[int, ...], np.ndarray]]:
    """For each permutation sigma of 0..n-1: (sigma, S) with S (F, n) = the Laplace variables
    s_l = i (W[:, sigma(l)] + ... + W[:, sigma(n-1)]) of the triangular transform."""
    out = []
    for sigma in itertools.permutations(range(n)):
        Wp = W[:, list(sigma)]
        S = 1j * np.cumsum(Wp[:, ::-1], axis=1)[:, ::-1]
        out.append((sigma, S))
    return out


def symmetrise(tri: Triangular, ks: tuple[int, ...], W: np.ndarray) -> np.ndarray:
    """H_{n,ks}(W) = (1/n!) sum_sigma T_{ks o sigma}(s^sigma) for frequencies W (F, n) complex -> (F,)."""
    n = len(ks)
    total = np.zeros(W.shape[0], dtype=complex)
    for sigma, S in orderings(n, W):
        total += tri(tuple(ks[i] for i in sigma), S)
    return total / math.factorial(n)


def symmetrise_abs(tri: Triangular, ks: tuple[int, ...], W: np.ndarray) -> np.ndarray:
    """The same average of non-negative error bounds (triangle inequality): (1/n!) sum_sigma E_{ks o sigma}."""
    return symmetrise(tri, ks, W).real


# --------------------------------------------------------------------------- exponential polynomials


@dataclass(frozen=True)
class ExpTerms:
    """Numeric terms c prod_l tau_l^p_l e^{-mu_l tau_l} of one kernel over its n lags: c (T,), mu (T, n), p (T, n)."""

    c: np.ndarray
    mu: np.ndarray
    p: np.ndarray

    @property
    def slowest(self) -> float:
        """min over terms and lags of Re mu (> 0 when the transform exists)."""
        return float(self.mu.real.min()) if self.mu.size else math.inf


_DECAYING_ROUTES = "use method='exact' (linear SRNNs), 'galerkin' or 'generator'"


def _non_stationary(what: str) -> VolterraError:
    return refusal(
        "n",
        f"{what} depends on the time since the start (s_n): a non-stationary kernel has no transfer function",
        "derive with the stationary start (initial='stationary')",
    )


def check_decay(form: Any, n: int, what: str = "K") -> None:
    """Refuse a kernel that depends on s_n (non-stationary) or has a rate that is exactly zero (a polynomial
    factor that never decays: the short-lag Taylor kernels)."""
    for mu, p, _ in form:
        if any(m != 0 for m in mu[n:]) or any(q != 0 for q in p[n:]):
            raise _non_stationary(what)
        for lag in range(n):
            if mu[lag] == 0:
                raise refusal(
                    "n",
                    f"{what} has a term that does not decay in tau_{lag + 1} (rate 0: a polynomial in the lag, as the "
                    "short-lag Taylor kernels are), so the integral defining its transfer function diverges",
                    _DECAYING_ROUTES,
                )


def exp_terms(form: Any, n: int, params: dict, dps: int = 30, what: str = "K") -> ExpTerms:
    """The terms of an :class:`~volterra_sym.algebra.exp_polynomial.ExpPoly` kernel of order n (variables
    tau_1..tau_n first; any further variable must be absent) as complex arrays; refuses terms that do not decay."""
    from ..algebra.exp_polynomial import numeric_value

    cs, mus, ps = [], [], []
    for mu, p, c in form:
        if any(m != 0 for m in mu[n:]) or any(q != 0 for q in p[n:]):
            raise _non_stationary(what)
        cs.append(complex(numeric_value(c, params, dps)))
        mus.append([complex(numeric_value(m, params, dps)) for m in mu[:n]])
        ps.append(list(p[:n]))
    terms = ExpTerms(
        np.array(cs, dtype=complex), np.array(mus, dtype=complex).reshape(-1, n), np.array(ps, dtype=int).reshape(-1, n)
    )
    if terms.mu.size and terms.slowest <= 0:
        j, lag = np.unravel_index(int(np.argmin(terms.mu.real)), terms.mu.shape)
        raise refusal(
            "n",
            f"{what} has a term that does not decay in tau_{lag + 1} (rate {terms.mu[j, lag]:.6g}, Re <= 0), so the "
            "integral defining its transfer function diverges (short-lag Taylor kernels are polynomials and never "
            "decay)",
            _DECAYING_ROUTES,
        )
    return terms


def exp_poly_laplace(terms: ExpTerms, S: np.ndarray, *, with_error: bool = False) -> Any:
    """T(S) = sum_j c_j prod_l p_jl! / (S_l + mu_jl)^(p_jl + 1) for S (F, n) -> (F,) complex; with ``with_error``
    also the rounding bound 8 u sum_j |term_j| (u = 2^-53, the float64 unit roundoff)."""
    F = S.shape[0]
    val = np.zeros(F, dtype=complex)
    mag = np.zeros(F)
    fact = np.array([math.factorial(int(q)) for q in range(int(terms.p.max(initial=0)) + 1)], dtype=float)
    for c, mu, p in zip(terms.c, terms.mu, terms.p):
        term = np.full(F, c, dtype=complex)
        for lag in range(S.shape[1]):
            term = term * (fact[p[lag]] / (S[:, lag] + mu[lag]) ** (p[lag] + 1))
        val += term
        mag += np.abs(term)
    return (val, 8 * 2.0**-53 * mag) if with_error else val


def exp_poly_laplace_expr(form: Any, n: int, s: Sequence[sp.Expr]) -> sp.Expr:
    """T(s_1..s_n) as a SymPy expression: sum c prod_l p_l! / (s_l + mu_l)^(p_l + 1) (rates and coefficients as
    derived: exact, symbolic or Floats)."""
    from ..algebra.exp_polynomial import to_sympy

    total = sp.Integer(0)
    for mu, p, c in form:
        term = to_sympy(c)
        for lag in range(n):
            term *= sp.factorial(p[lag]) / (s[lag] + to_sympy(mu[lag])) ** (p[lag] + 1)
        total += term
    return total


def tidy_rational(expr: sp.Expr, variables: Sequence[sp.Symbol]) -> sp.Expr:
    """One fraction, numerator and denominator expanded in ``variables`` (conjugate-pair terms combine into real
    coefficients); imaginary parts of Float coefficients at rounding level (1e-25 relative) dropped."""
    num, den = sp.fraction(sp.cancel(sp.together(expr)))
    parts = []
    for poly in (num, den):
        poly = sp.expand(poly)
        floats = [abs(x) for x in poly.atoms(sp.Float)]
        if floats and poly.has(sp.I):
            floor = max(floats) * sp.Float("1e-25")
            poly = poly.xreplace({x: 0 for x in poly.atoms(sp.Float) if abs(x) < floor})
        parts.append(poly)
    num, den = parts
    if len(den.free_symbols) <= 6 and not den.atoms(sp.Float):  # exact denominators factor (poles visible)
        den = sp.factor(den)
    else:  # floating-point coefficients: 1.0 s^3 -> s^3
        den = den.xreplace({x: sp.Integer(1) for x in den.atoms(sp.Float) if abs(x - 1) < 1e-25})
    return sp.collect(num, list(variables)) / den


# --------------------------------------------------------------------------- generator matrices


def resolvent_chain(
    left: np.ndarray,
    gammas: Sequence[np.ndarray] | np.ndarray,
    right: np.ndarray,
    ks: tuple[int, ...],
    S: np.ndarray,
    solve: Callable[[complex, np.ndarray], np.ndarray],
) -> np.ndarray:
    """T(S) = left . Gamma_{k_n} R(s_n) ... Gamma_{k_1} R(s_1) right for S (F, n) -> (F,) complex.

    R(s) is the *reduced* resolvent (s - M)^{-1} on the complement of the constant function, which ``solve(s, V)``
    applies to the columns V (N, c); exact here because every Gamma_k annihilates constants (L1 is a derivative).
    ``solve`` is called once per distinct s of each lag (the caller caches one factorisation per frequency).
    """
    F, n = S.shape
    V = np.broadcast_to(np.asarray(right, dtype=complex)[:, None], (right.shape[0], F))
    for lag in range(n):
        svals, inv = np.unique(S[:, lag], return_inverse=True)
        X = np.empty_like(V, dtype=complex)
        for j, s in enumerate(svals):
            cols = np.nonzero(inv.reshape(-1) == j)[0]
            X[:, cols] = solve(complex(s), V[:, cols])
        V = np.asarray(gammas[ks[lag]]) @ X
    return np.asarray(left) @ V


# --------------------------------------------------------------------------- sampled kernels


def trapezoid_weights(grid: np.ndarray) -> np.ndarray:
    """Trapezoid weights of a sorted 1-D grid."""
    w = np.zeros(grid.size)
    d = np.diff(grid)
    w[:-1] += d / 2
    w[1:] += d / 2
    return w


def grid_laplace(grids: Sequence[np.ndarray], values: np.ndarray, S: np.ndarray) -> np.ndarray:
    """T(S) ~ the trapezoid rule of K(tau) e^{-S . tau} over a tensor grid of 1 or 2 lags (``values`` of shape
    (len(g_1)[, len(g_2)])): the discrete Fourier transform at arbitrary frequencies, as a matrix product."""
    E = [trapezoid_weights(g)[None, :] * np.exp(-np.outer(S[:, lag], g)) for lag, g in enumerate(grids)]
    vals = np.asarray(values, dtype=complex)
    if len(grids) == 1:
        return E[0] @ vals
    return np.einsum("fa,ab,fb->f", E[0], vals, E[1])


@dataclass
class Transfer:
    """H_n(omega_1..omega_n) of one kernel K^(n)_k and readout component (module docstring: the convention).

    ``H(w1, ..., wn)`` -> complex array of the broadcast shape; ``H.laplace(s1, ..., sn)`` the same function at
    s_j = i omega_j; ``H.error(w1, ..., wn)`` the route's error estimate (``error_kind``: "rounding" bound for
    formulas, "degree" tail of the Galerkin degrees, "grid" Richardson estimate of the grid route, "stderr" bound
    of a Monte Carlo estimate, whose deterministic errors are ``H.bias``);
    ``H.expression(variable)`` a SymPy formula (closed-form routes; None otherwise).
    """

    n: int
    k: tuple[int, ...]
    component: int
    method: str
    triangular: Triangular
    triangular_error: Triangular | None = None
    real_only: bool = False
    formula: Callable[[str, bool | None], sp.Expr] | None = field(default=None, repr=False)
    error_kind: str = "none"
    bias_bound: Triangular | None = None
    rates_of: Callable[[], np.ndarray] | None = field(default=None, repr=False)

    @property
    def rates(self) -> np.ndarray:
        """Relaxation rates -lambda (Re > 0; complex for oscillating modes), slowest first: the rates mu of the
        kernel's exponential terms (the poles s = -mu of H_1) for formulas, the leading eigenvalues of the
        generator for the Galerkin and grid routes; empty for Monte Carlo estimates."""
        if self.rates_of is None:
            return np.zeros(0, dtype=complex)
        r = np.asarray(self.rates_of(), dtype=complex).reshape(-1)
        return r[np.lexsort((np.abs(r.imag), r.real))]

    def _freqs(self, omegas: Sequence[Any]) -> tuple[np.ndarray, tuple[int, ...]]:
        arrs = check_frequencies(omegas, self.n, real=self.real_only)
        shape = arrs[0].shape
        return np.stack([a.reshape(-1) for a in arrs], axis=1), shape

    def __call__(self, *omegas: Any) -> np.ndarray:
        W, shape = self._freqs(omegas)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # a pole: refused below
            out = symmetrise(self.triangular, self.k, W)
        if not np.all(np.isfinite(out)):
            bad = W[int(np.argmax(~np.isfinite(out)))]
            raise refusal(
                "omega",
                f"H_{self.n} is infinite at omega = {bad.tolist()} (a pole of the transfer function, or beyond the "
                "floating-point range)",
                "move the frequency off the pole",
                InputError,
            )
        return out.reshape(shape)

    def laplace(self, *s: Any) -> np.ndarray:
        """H at Laplace variables s_j (complex; the transfer function is H(omega) with s_j = i omega_j)."""
        if self.real_only:
            raise refusal(
                "laplace",
                "this transfer function is a Monte Carlo estimate known on the real frequency axis only",
                "call it with real omega",
            )
        arrs = check_frequencies(s, self.n, real=False, name="s")
        return self(*[-1j * a for a in arrs])

    def error(self, *omegas: Any) -> np.ndarray:
        """The error estimate of H at these frequencies (see the class docstring), float array."""
        W, shape = self._freqs(omegas)
        if self.triangular_error is None:
            return np.zeros(shape)
        return symmetrise_abs(self.triangular_error, self.k, W).reshape(shape)

    def bias(self, *omegas: Any) -> np.ndarray:
        """A bound on the deterministic error of H (Monte Carlo estimates: lag window, trapezoid rule, time step);
        zeros for the routes, whose whole error is :meth:`error`."""
        W, shape = self._freqs(omegas)
        if self.bias_bound is None:
            return np.zeros(shape)
        return symmetrise_abs(self.bias_bound, self.k, W).reshape(shape)

    def expression(self, variable: str = "omega", combine: bool | None = None) -> sp.Expr:
        """H_n as a SymPy expression in omega_1..omega_n (``variable="omega"``) or s_1..s_n (``"s"``).

        ``combine``: one fraction (True) or the sum of partial fractions c p! / (s + mu)^(p + 1) over the
        orderings (False); default: one fraction when it is cheap (at most 24 partial fractions with exact or
        symbolic coefficients, 8 with floating-point ones), since combining grows quickly with n and the rates."""
        check_choice(variable, "variable", ("omega", "s"))
        combine = check_flag(combine, "combine", allow_none=True)
        if self.formula is None:
            raise refusal(
                "expression",
                f"method={self.method!r} computes H_{self.n} numerically (no formula)",
                "use a closed-form route (method='exact' for linear SRNNs) for a rational expression",
            )
        return self.formula(variable, combine)

    def __repr__(self) -> str:
        return f"Transfer(n={self.n}, k={self.k}, component={self.component}, method={self.method!r})"


def formula_builder(
    forms: Callable[[tuple[int, ...]], Any], ks: tuple[int, ...], taken: set[str] | frozenset[str] = frozenset()
) -> Callable[[str, bool | None], sp.Expr]:
    """The symmetric transfer function as a SymPy expression, from the ExpPoly kernels ``forms(ks')``; the
    frequency symbols avoid the model's names ``taken`` (s -> s_L, s1 -> s_L1)."""
    n = len(ks)

    def fresh(name: str, **assumptions: bool) -> sp.Symbol:
        if name in taken:  # e.g. a noise amplitude called s: the Laplace variable becomes s_L
            name = f"{name}_L" if len(name) == 1 else f"{name[0]}_L{name[1:]}"
        while name in taken:
            name += "_"
        return sp.Symbol(name, **assumptions)

    def build(variable: str, combine: bool | None = None) -> sp.Expr:
        names = [variable] if n == 1 else [f"{variable}{j + 1}" for j in range(n)]
        if variable == "s":
            syms = [fresh(x) for x in names]
            sfreq = list(syms)
        else:
            syms = [fresh(x, real=True) for x in names]
            sfreq = [sp.I * w for w in syms]
        total = sp.Integer(0)
        count, floats = 0, False
        for sigma in itertools.permutations(range(n)):
            s_l = [sp.Add(*[sfreq[sigma[j]] for j in range(lag, n)]) for lag in range(n)]
            form = forms(tuple(ks[i] for i in sigma))
            count += len(form)
            total += exp_poly_laplace_expr(form, n, s_l)
        total = total / math.factorial(n)
        if combine is None:
            floats = bool(total.atoms(sp.Float))
            combine = count <= (8 if floats else 24)
        return tidy_rational(total, syms) if combine else total

    return build

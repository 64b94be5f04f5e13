"""Polynomials in the state whose coefficients are exponential polynomials in the lags.

A :class:`StatePolynomial` is ``{alpha: F_alpha}`` meaning sum_alpha F_alpha(v) x^alpha, with
``alpha`` an n-tuple of exponents and ``F_alpha`` an :class:`ExpPoly` over the
lag variables v.  These are the intermediate results g_j of the generator
recursion for linear SRNNs (MATH.md section 5) and the objects the Gaussian
expectations act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from math import comb

import sympy as sp

from ..algebra.exp_polynomial import ExpPoly, to_sympy

Monomial = tuple[int, ...]


class StatePolynomial:
    """sum_alpha F_alpha(v) x^alpha over n state variables; F_alpha are ExpPolys over ``vars``."""

    __slots__ = ("n", "vars", "coeffs")

    def __init__(self, n: int, vars: Sequence[sp.Symbol], coeffs: dict[Monomial, ExpPoly] | None = None):
        self.n = n
        self.vars = tuple(vars)
        self.coeffs: dict[Monomial, ExpPoly] = dict(coeffs or {})

    @classmethod
    def from_poly(cls, poly: sp.Poly, vars: Sequence[sp.Symbol], convert=lambda c: c) -> StatePolynomial:
        """From a SymPy Poly in the state; ``convert`` maps coefficients into the working domain."""
        out = cls(len(poly.gens), vars)
        for alpha, c in poly.terms():
            out.coeffs[tuple(alpha)] = ExpPoly.constant(vars, convert(c))
        return out

    def degree(self) -> int:
        return max((sum(a) for a in self.coeffs), default=-1)

    def derivative(self, i: int) -> StatePolynomial:
        """d/dx_i."""
        out = StatePolynomial(self.n, self.vars)
        for alpha, F in self.coeffs.items():
            if alpha[i] == 0:
                continue
            beta = list(alpha)
            beta[i] -= 1
            out.add_term(tuple(beta), F.scale(alpha[i]))
        return out

    def directional(self, v: Sequence[ExpPoly]) -> StatePolynomial:
        """v . grad (with ExpPoly components v_i): the action of L1 after intertwining."""
        out = StatePolynomial(self.n, self.vars)
        for i, vi in enumerate(v):
            if not vi.terms:
                continue
            d = self.derivative(i)
            for alpha, F in d.coeffs.items():
                out.add_term(alpha, F * vi)
        return out

    def add_term(self, alpha: Monomial, F: ExpPoly) -> None:
        """Add F to the coefficient of the monomial alpha (in place)."""
        if alpha in self.coeffs:
            self.coeffs[alpha] = self.coeffs[alpha] + F
        else:
            self.coeffs[alpha] = F

    def __add__(self, other: StatePolynomial) -> StatePolynomial:
        out = StatePolynomial(self.n, self.vars, self.coeffs)
        for alpha, F in other.coeffs.items():
            out.add_term(alpha, F)
        return out

    def __mul__(self, other: StatePolynomial) -> StatePolynomial:
        out = StatePolynomial(self.n, self.vars)
        for a1, F1 in self.coeffs.items():
            for a2, F2 in other.coeffs.items():
                out.add_term(tuple(x + y for x, y in zip(a1, a2)), F1 * F2)
        return out

    def simplified(self, simplify: bool = True) -> StatePolynomial:
        out = StatePolynomial(self.n, self.vars)
        for alpha, F in self.coeffs.items():
            G = F.simplified(simplify)
            if G.terms:
                out.coeffs[alpha] = G
        return out

    def as_expr(self, state: Sequence[sp.Symbol], simplify: bool = True) -> sp.Expr:
        """The SymPy expression sum_alpha F_alpha(v) x^alpha."""
        total = sp.Integer(0)
        for alpha, F in self.coeffs.items():
            mono = sp.Mul(*[x**a for x, a in zip(state, alpha)])
            total += F.as_expr(simplify) * mono
        return total

    def gaussian_expectation(self, mean: Sequence[object], cov: Sequence[Sequence[object]]) -> ExpPoly:
        """E[sum F_alpha X^alpha] for X ~ N(mean, cov); mean/cov entries are numbers or ExpPolys over ``vars``."""
        mom = GaussianMoments(self.n, self.vars, mean, cov)
        total = ExpPoly(self.vars)
        for alpha, F in self.coeffs.items():
            total = total + F * mom(alpha)
        return total


def _as_ep(x: object, vars: tuple[sp.Symbol, ...]) -> ExpPoly:
    if isinstance(x, ExpPoly):
        return x
    return ExpPoly.constant(vars, x)


class GaussianMoments:
    """E[X^alpha] for X ~ N(mean, cov) via x = mean + xi and Isserlis' theorem, memoised.

    E[xi^beta] = sum_j cov_{i j} beta'_j E[xi^{beta' - e_j}],  beta' = beta - e_i (i the first index used).
    """

    def __init__(self, n: int, vars: tuple[sp.Symbol, ...], mean: Sequence[object], cov: Sequence[Sequence[object]]):
        self.n, self.vars = n, vars
        self.mean = [_as_ep(m, vars) for m in mean]
        self.cov = [[_as_ep(c, vars) for c in row] for row in cov]
        self.cov_zero = [[not c.terms or all(v == 0 for v in c.terms.values()) for c in row] for row in self.cov]
        self.mean_zero = [not m.terms or all(v == 0 for v in m.terms.values()) for m in self.mean]
        self._central: dict[Monomial, ExpPoly] = {}
        self._raw: dict[Monomial, ExpPoly] = {}
        self._mpow: dict[tuple[int, int], ExpPoly] = {}

    def central(self, beta: Monomial) -> ExpPoly:
        if beta in self._central:
            return self._central[beta]
        total = sum(beta)
        if total == 0:
            res = ExpPoly.constant(self.vars, 1)
        elif total % 2 == 1:
            res = ExpPoly(self.vars)
        else:
            i = next(k for k, b in enumerate(beta) if b > 0)
            rest = list(beta)
            rest[i] -= 1
            res = ExpPoly(self.vars)
            for j in range(self.n):
                if rest[j] == 0 or self.cov_zero[i][j]:
                    continue
                r2 = list(rest)
                r2[j] -= 1
                res = res + self.cov[i][j] * self.central(tuple(r2)) * rest[j]
        self._central[beta] = res
        return res

    def _mean_pow(self, i: int, k: int) -> ExpPoly:
        key = (i, k)
        if key not in self._mpow:
            if k == 0:
                self._mpow[key] = ExpPoly.constant(self.vars, 1)
            else:
                self._mpow[key] = self._mean_pow(i, k - 1) * self.mean[i]
        return self._mpow[key]

    def __call__(self, alpha: Monomial) -> ExpPoly:
        if alpha in self._raw:
            return self._raw[alpha]
        res = ExpPoly(self.vars)
        for beta in _below(alpha):
            c = 1
            term = self.central(beta)
            if not term.terms:
                continue
            skip = False
            for i, (a, b) in enumerate(zip(alpha, beta)):
                if a - b > 0:
                    if self.mean_zero[i]:
                        skip = True
                        break
                    term = term * self._mean_pow(i, a - b)
                c *= comb(a, b)
            if not skip:
                res = res + term * c
        self._raw[alpha] = res
        return res


def _below(alpha: Monomial):
    if not alpha:
        yield ()
        return
    for b0 in range(alpha[0] + 1):
        for rest in _below(alpha[1:]):
            yield (b0, *rest)


def linear_substitution(
    poly: StatePolynomial,
    E: Sequence[Sequence[ExpPoly]],
    shift: Sequence[ExpPoly],
    noise_cov: Sequence[Sequence[ExpPoly]],
) -> StatePolynomial:
    """(P g)(x) = E_xi[ g(E x + shift + xi) ],  xi ~ N(0, noise_cov): the Gaussian action of the OU semigroup.

    Expands y_i = sum_j E_ij x_j + shift_i + xi_i in every monomial of ``poly``
    and integrates xi out with Isserlis' theorem.  Returns a StatePolynomial in x.
    """
    n, vars = poly.n, poly.vars
    # represent y_i as StatePolynomial over 2n variables (x, xi)
    ys = []
    for i in range(n):
        lin = StatePolynomial(2 * n, vars)
        for j in range(n):
            if E[i][j].terms:
                unit = [0] * (2 * n)
                unit[j] = 1
                lin.add_term(tuple(unit), E[i][j])
        if shift[i].terms:
            lin.add_term((0,) * (2 * n), shift[i])
        unit = [0] * (2 * n)
        unit[n + i] = 1
        lin.add_term(tuple(unit), ExpPoly.constant(vars, 1))
        ys.append(lin)
    one = StatePolynomial(2 * n, vars, {(0,) * (2 * n): ExpPoly.constant(vars, 1)})
    pw_cache: dict[tuple[int, int], StatePolynomial] = {}

    def ypow(i: int, k: int) -> StatePolynomial:
        if (i, k) not in pw_cache:
            pw_cache[(i, k)] = one if k == 0 else ypow(i, k - 1) * ys[i]
        return pw_cache[(i, k)]

    expanded = StatePolynomial(2 * n, vars)
    for alpha, F in poly.coeffs.items():
        term = StatePolynomial(2 * n, vars, {(0,) * (2 * n): F})
        for i, a in enumerate(alpha):
            if a:
                term = term * ypow(i, a)
        expanded = expanded + term
    mom = GaussianMoments(n, vars, [0] * n, noise_cov)
    out = StatePolynomial(n, vars)
    for alpha, F in expanded.coeffs.items():
        xa, xia = alpha[:n], alpha[n:]
        m = mom.central(xia) if any(xia) else ExpPoly.constant(vars, 1)
        if m.terms:
            out.add_term(xa, F * m)
    return out


def domain_value(x: object, dps: int) -> sp.Expr:
    """Convert a working-domain number to SymPy."""
    return to_sympy(x, dps)

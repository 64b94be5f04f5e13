"""Linear SRNNs: the exact Gaussian semigroup (MATH.md section 5).

For phi(h) = -A h + c, constant sigma (D = sigma sigma^T) and constant coupling C,

    (P_tau g)(x) = E[ g(e^{-A tau} x + m_tau + xi) ],   xi ~ N(0, S_tau),
    m_tau = int_0^tau e^{-A s} c ds,   S_tau = int_0^tau e^{-A s} D e^{-A^T s} ds,
    stationary law N(m_inf, S_inf):  A m_inf = c,  A S_inf + S_inf A^T = D.

The matrix exponential is kept in spectral (exponential-polynomial) form

    e^{-A tau} = sum_lambda e^{-lambda tau} sum_{p < m_lambda} (-tau)^p / p! N_lambda^p P_lambda,

with spectral projectors P_lambda = h_lambda(A) from Hermite interpolation and
nilpotent parts N_lambda = (A - lambda) P_lambda, which covers non-normal,
complex and defective (Jordan-block) A alike.  Two arithmetic domains:

* ``exact``: SymPy arithmetic, used for symbolic parameters and for rational
  data whose characteristic polynomial factors over Q into pieces of degree <= 2
  (rational, Gaussian-rational or quadratic-irrational eigenvalues);
* ``numeric``: mpmath at ``dps`` digits, used otherwise.  Multiplicities are
  still exact (from the factorisation over Q), only the simple roots of each
  irreducible factor are computed numerically, so Jordan blocks are handled
  without numerical clustering.

Never ``Matrix.exp()`` / ``jordan_form`` (they hang on irreducible cubics, MEASURED.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import factorial
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from .. import limits
from ..algebra.exp_polynomial import ExpPoly
from ..errors import ModelError, NotLinearError, UnstableError
from ..model.diffusion import Diffusion, Gaussian, PointMass
from ..validate import refusal
from .quadrature_rules import OTHER_STARTS

Z = sp.Symbol("z")


def exactify(expr: sp.Basic) -> sp.Basic:
    """Replace floating-point numbers by the decimals they print as (0.3 -> 3/10)."""
    floats = expr.atoms(sp.Float)
    if not floats:
        return expr
    return expr.xreplace({f: sp.Rational(str(f)) for f in floats})


def check_linear(model: Diffusion) -> None:
    """Raise :class:`NotLinearError` unless drift is affine and sigma, gamma are constant."""
    x = set(model.state)
    J = model.drift.jacobian(model.state)
    problems = []
    if any(e.free_symbols & x for e in J):
        problems.append(f"the drift {list(model.drift)} is not affine in the state")
    if model.diffusion.free_symbols & x:
        problems.append("the noise sigma depends on the state")
    if model.coupling.free_symbols & x:
        problems.append("the input coupling gamma depends on the state")
    if problems:
        raise NotLinearError(
            "exact closed-form kernels need a linear SRNN (affine drift, constant sigma and coupling), but "
            + "; ".join(problems)
            + ". Use vs.derive(model, order, method='taylor', lag_degree=P) for short-lag Taylor kernels, "
            "method='generator' for numerical kernels of 1-D models, or vs.simulate for Monte Carlo."
        )


def readout_polynomials(model: Diffusion) -> list[sp.Poly]:
    """The readout components as polynomials in the state (error if not polynomial)."""
    out = []
    for i, f in enumerate(model.readout):
        try:
            poly = sp.Poly(sp.expand(exactify(f)), *model.state)
        except sp.PolynomialError:
            poly = None
        if poly is None or any(model_sym in c.free_symbols for c in poly.coeffs() for model_sym in model.state):
            raise NotLinearError(
                f"readout: component {i} ({f}) is not a polynomial in the state {list(model.state)}; the exact "
                "closed forms need a polynomial readout. Expand it (e.g. a Taylor polynomial) or use "
                "method='taylor' (analytic readouts) or method='generator' (1-D)."
            )
        out.append(poly)
    return out


@dataclass
class LinearData:
    """The linear part of a linear SRNN and its exponential-polynomial semigroup.

    Shapes: A (n x n), c (n x 1), C (n x m), D (n x n).  ``domain`` is
    ``"exact"`` or ``"numeric"``; in the numeric domain every number is an
    mpmath ``mpf``/``mpc`` at ``dps`` digits.
    """

    A: sp.Matrix
    c: sp.Matrix
    C: sp.Matrix
    D: sp.Matrix
    domain: str
    dps: int
    spectrum: list[tuple[object, int]] = field(default_factory=list)
    blocks: list[tuple[object, int, list[list[object]]]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.A.rows

    # ---- numbers in the working domain -------------------------------------------------
    def num(self, x: sp.Expr) -> object:
        """Convert an exact SymPy number into the working domain."""
        if self.domain == "exact":
            return x
        x = sp.sympify(x, strict=True)
        if x.free_symbols:  # symbolic readout weights: kept symbolic (SymPy absorbs the mpmath numbers)
            return x
        v = sp.N(x, self.dps + 5)
        re, im = (sp.Float(part, self.dps + 5) for part in v.as_real_imag())
        with mpmath.workdps(self.dps + 5):
            if im != 0:
                return mpmath.mpc(mpmath.mpf(str(re)), mpmath.mpf(str(im)))
            return mpmath.mpf(str(re))

    def mat(self, M: sp.Matrix) -> list[list[object]]:
        return [[self.num(M[i, j]) for j in range(M.cols)] for i in range(M.rows)]

    # ---- the semigroup in exponential-polynomial form ---------------------------------
    def expm_neg(self, var: sp.Symbol) -> list[list[ExpPoly]]:
        """e^{-A var} as an n x n nested list of univariate ExpPolys."""
        n = self.n
        out = [[ExpPoly([var]) for _ in range(n)] for _ in range(n)]
        for lam, p, M in self.blocks:
            for i in range(n):
                for j in range(n):
                    if M[i][j] != 0:
                        out[i][j].add_term((lam,), (p,), M[i][j])
        return out

    def propagated_columns(self, var: sp.Symbol) -> list[list[ExpPoly]]:
        """v_k(var) = e^{-A var} C_k for each input k: list (m) of n-lists of ExpPoly."""
        E = self.expm_neg(var)
        Cn = self.mat(self.C)
        cols = []
        for k in range(self.C.cols):
            col = []
            for i in range(self.n):
                acc = ExpPoly([var])
                for j in range(self.n):
                    if Cn[j][k] != 0:
                        acc = acc + E[i][j] * Cn[j][k]
                col.append(acc)
            cols.append(col)
        return cols

    def mean_drift(self, var: sp.Symbol) -> list[ExpPoly]:
        """m_var = int_0^var e^{-A s} c ds (n-list of univariate ExpPolys)."""
        E = self.expm_neg(var)
        cn = self.mat(self.c)
        tol = self._zero_tol()
        out = []
        for i in range(self.n):
            acc = ExpPoly([var])
            for j in range(self.n):
                if cn[j][0] != 0:
                    acc = acc + E[i][j] * cn[j][0]
            out.append(acc.integrate_univariate(zero_tol=tol))
        return out

    def cov_drift(self, var: sp.Symbol) -> list[list[ExpPoly]]:
        """S_var = int_0^var e^{-A s} D e^{-A^T s} ds (n x n of univariate ExpPolys)."""
        E = self.expm_neg(var)
        Dn = self.mat(self.D)
        n = self.n
        tol = self._zero_tol()
        ED = [
            [_dot([E[i][k] for k in range(n)], [Dn[k][j] for k in range(n)], var) for j in range(n)] for i in range(n)
        ]
        out = [[ExpPoly([var]) for _ in range(n)] for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                acc = ExpPoly([var])
                for k in range(n):
                    acc = acc + ED[i][k] * E[j][k]
                out[i][j] = acc.integrate_univariate(zero_tol=tol)
                out[j][i] = out[i][j]
        return out

    def _zero_tol(self) -> float:
        return 0.0 if self.domain == "exact" else mpmath.mpf(10) ** (-(self.dps // 2))

    # ---- stationary law -----------------------------------------------------------------
    def stationary(self) -> tuple[list[object], list[list[object]]]:
        """(m_inf, S_inf) with A m_inf = c and A S + S A^T = D, in the working domain."""
        n = self.n
        if self.domain == "exact":
            m = solve_exact(self.A, self.c)
            S = lyapunov_exact(self.A, self.D)
            return [m[i] for i in range(n)], [[S[i, j] for j in range(n)] for i in range(n)]
        with mpmath.workdps(self.dps + 10):
            A = mpmath.matrix(self.mat(self.A))
            m = mpmath.lu_solve(A, mpmath.matrix(self.mat(self.c)))
            K = mpmath.zeros(n * n, n * n)
            Dv = mpmath.zeros(n * n, 1)
            Dn = self.mat(self.D)
            for i in range(n):
                for j in range(n):
                    Dv[i * n + j] = Dn[i][j]
                    for k in range(n):
                        K[i * n + j, k * n + j] += A[i, k]
                        K[i * n + j, i * n + k] += A[j, k]
            Sv = mpmath.lu_solve(K, Dv)
        return [m[i] for i in range(n)], [[Sv[i * n + j] for j in range(n)] for i in range(n)]


def _dot(row: list[ExpPoly], col: list[object], var: sp.Symbol) -> ExpPoly:
    acc = ExpPoly([var])
    for a, b in zip(row, col):
        if b != 0:
            acc = acc + a * b
    return acc


def solve_exact(A: sp.Matrix, b: sp.Matrix) -> sp.Matrix:
    """Solve A x = b exactly: fraction-free over the coefficients' domain (DomainMatrix.solve_den,
    MEASURED.md: symbolic 3 x 3 Lyapunov systems in 0.2 s where linsolve does not finish)."""
    from sympy.polys.matrices import DomainMatrix

    dA = DomainMatrix.from_Matrix(A)
    db = DomainMatrix.from_Matrix(b)
    K = dA.domain.unify(db.domain)
    try:
        num, den = dA.convert_to(K).solve_den(db.convert_to(K))
    except Exception as exc:  # singular systems
        raise UnstableError(
            f"initial: the stationary moments need an invertible A (matrix {A.tolist()}); the linear solve failed "
            f"({exc}). A stationary start needs a stable A; " + OTHER_STARTS
        ) from None
    d = den.as_expr() if hasattr(den, "as_expr") else K.to_sympy(den)
    return (num.to_Matrix() / d).applyfunc(sp.cancel)


def affine_parts(model: Diffusion) -> tuple[sp.Matrix, sp.Matrix] | None:
    """(A, c) with phi(h) = -A h + c when the drift is affine and D constant; else None."""
    h = list(model.state)
    jac = model.drift.jacobian(h)
    if any(e.has(*h) for e in jac) or any(e.has(*h) for e in model.D):
        return None
    return -jac, model.drift.xreplace({x: 0 for x in h})


def check_stable(A: sp.Matrix) -> None:
    """Raise :class:`UnstableError` when A is provably not stable (numeric A: an eigenvalue with real
    part <= 0; symbolic A in 1-2 dimensions: trace/determinant conditions decidably false)."""
    n = A.rows
    if not A.free_symbols:
        ev = np.linalg.eigvals(np.array(A.evalf(20).tolist(), dtype=complex))
        if np.any(ev.real <= 1e-14 * max(1.0, float(np.abs(ev).max()))):
            raise UnstableError(
                f"initial: the stationary law needs all eigenvalues of A (phi = -A h + c) to have positive real "
                f"part; A = {A.tolist()} has eigenvalues {ev.tolist()}. " + OTHER_STARTS
            )
        return
    tests = [A[0, 0]] if n == 1 else ([A.trace(), A.det()] if n == 2 else [])
    for t in tests:
        if sp.simplify(t).is_positive is False:
            raise UnstableError(
                f"initial: the stationary law needs A (phi = -A h + c) stable, but {t} > 0 fails for "
                f"A = {A.tolist()}. " + OTHER_STARTS
            )


def stationary_gaussian(A: sp.Matrix, c: sp.Matrix, D: sp.Matrix) -> tuple[sp.Matrix, sp.Matrix]:
    """(m_inf, S_inf) of dh = (-A h + c) dt + sigma dW, D = sigma sigma^T: A m_inf = c and the
    Lyapunov equation A S + S A^T = D (exact), after :func:`check_stable`."""
    check_stable(A)
    return solve_exact(A, c), lyapunov_exact(A, D)


def lyapunov_exact(A: sp.Matrix, D: sp.Matrix) -> sp.Matrix:
    """Solve A S + S A^T = D for symmetric S on the n(n+1)/2 unknowns (exact / symbolic)."""
    n = A.rows
    idx = [(i, j) for i in range(n) for j in range(i, n)]
    pos = {ij: k for k, ij in enumerate(idx)}

    def var(i: int, j: int) -> int:
        return pos[(i, j) if i <= j else (j, i)]

    N = len(idx)
    K = sp.zeros(N, N)
    rhs = sp.zeros(N, 1)
    for r, (i, j) in enumerate(idx):
        rhs[r] = D[i, j]
        for k in range(n):
            K[r, var(k, j)] += A[i, k]
            K[r, var(i, k)] += A[j, k]
    sol = solve_exact(K, rhs)
    S = sp.zeros(n, n)
    for (i, j), k in pos.items():
        S[i, j] = S[j, i] = sp.factor(sp.cancel(sol[k])) if sol[k].free_symbols else sol[k]
    return S


# --------------------------------------------------------------------------- construction


def linear_data(model: Diffusion, *, dps: int = limits.DEFAULT_DPS, domain: str | None = None) -> LinearData:
    """Extract A, c, C, D of a linear SRNN and its spectral decomposition.

    ``domain``: None chooses ``"exact"`` when possible (see module docstring).
    """
    check_linear(model)
    state = model.state
    A = exactify(-model.drift.jacobian(state))
    c = exactify(model.drift.xreplace({s: 0 for s in state}))
    C = exactify(model.coupling)
    D = exactify(model.D)
    n = A.rows
    charpoly = (Z * sp.eye(n) - A).det(method="berkowitz")
    charpoly = sp.expand(charpoly)
    symbolic = bool(A.free_symbols)
    factors: list[tuple[Any, int]] = sp.factor_list(charpoly, Z)[1] if not symbolic else []
    if domain is None:
        if symbolic:
            domain = "exact"
        else:
            degs = [sp.degree(f, Z) for f, _ in factors]
            domain = "exact" if all(d == 1 for d in degs) or (max(degs) <= 2 and n <= 3) else "numeric"
    if domain == "numeric":
        if symbolic:  # the numeric spectrum needs the factors of a numeric characteristic polynomial
            raise refusal("domain", "'numeric' needs a numeric drift matrix A", "use domain='exact' (or None)")
        extra = sorted((c.free_symbols | C.free_symbols | D.free_symbols | _initial_symbols(model)), key=str)
        if extra:
            missing = [x for x in extra if x not in model.params]
            if missing:
                raise ModelError(
                    f"params: A's characteristic polynomial has an irreducible factor of degree > 2, so the kernels "
                    f"are computed with high-precision numbers; the symbol(s) {[str(x) for x in missing]} in the "
                    "bias, coupling, noise or initial law then need numeric values: pass params={'name': value} "
                    "(symbolic readout weights are fine)"
                )
            vals = {x: exactify(model.params[x]) for x in extra}
            c, C, D = c.xreplace(vals), C.xreplace(vals), D.xreplace(vals)
    data = LinearData(A=A, c=c, C=C, D=D, domain=domain, dps=dps)
    if domain == "exact":
        spectrum = _exact_spectrum(charpoly, n, symbolic)
    else:
        spectrum = _numeric_spectrum(factors, dps)
        extra_digits = _cluster_digits(spectrum, n)
        if extra_digits:  # clustered eigenvalues: coefficients ~ gap^-(n-1) cancel, so work with more digits
            data.dps = dps + extra_digits
            with mpmath.workdps(data.dps):
                spectrum = _numeric_spectrum(factors, data.dps)
    data.spectrum = spectrum
    data.blocks = _blocks(data, spectrum)
    return data


def _initial_symbols(model: Diffusion) -> set:
    init = model.initial
    if isinstance(init, PointMass):
        return set(init.x0.free_symbols)
    if isinstance(init, Gaussian):
        return set(init.mean.free_symbols | init.cov.free_symbols)
    return set()


def _exact_spectrum(charpoly: sp.Expr, n: int, symbolic: bool) -> list[tuple[sp.Expr, int]]:
    if symbolic:
        fl = sp.factor_list(charpoly, Z)[1]
        if any(sp.degree(f, Z) > 2 for f, _ in fl):
            raise ModelError(
                "A: symbolic parameters give a characteristic polynomial with an irreducible factor of degree > 2, "
                "whose roots have no usable closed form; give numeric values for the parameters (e.g. via "
                "model.with_values()) to get exact or high-precision kernels"
            )
    roots = sp.roots(sp.Poly(charpoly, Z))
    if sum(roots.values()) != n:
        raise ModelError(f"A: could not find all {n} eigenvalues exactly (found {roots})")
    return [(sp.expand(r), mult) for r, mult in roots.items()]


def _numeric_spectrum(factors: list[tuple[sp.Expr, int]], dps: int) -> list[tuple[object, int]]:
    out = []
    with mpmath.workdps(dps + 20):
        for f, mult in factors:
            coeffs = [mpmath.mpf(sp.Rational(cf).p) / sp.Rational(cf).q for cf in sp.Poly(f, Z).all_coeffs()]
            if len(coeffs) == 2:
                roots = [-coeffs[1] / coeffs[0]]
            else:
                roots = mpmath.polyroots(coeffs, maxsteps=200, extraprec=4 * dps)
            for r in roots:
                r = mpmath.mpc(r)
                if abs(r.imag) <= mpmath.mpf(10) ** (-(dps + 10)) * (1 + abs(r)):
                    r = mpmath.mpc(r.real, 0)
                out.append((r, mult))
    return out


def _cluster_digits(spectrum: list[tuple[object, int]], n: int) -> int:
    """Extra working digits for clustered distinct eigenvalues: 2 (n - 1) log10(1 / relative gap)."""
    lams = [mpmath.mpc(lam) for lam, _ in spectrum]
    gap = mpmath.inf
    for i in range(len(lams)):
        for j in range(i + 1, len(lams)):
            gap = min(gap, abs(lams[i] - lams[j]) / max(1, abs(lams[i])))
    if gap == mpmath.inf or gap >= 1e-3:
        return 0
    return min(400, int(2 * (n - 1) * float(-mpmath.log10(gap))) + 1)


def _blocks(data: LinearData, spectrum: list[tuple[Any, int]]) -> list[tuple[object, int, list[list[object]]]]:
    """(lambda, p, M_{lambda,p}) with e^{-A tau} = sum e^{-lambda tau} tau^p M_{lambda,p}."""
    n = data.n
    exact = data.domain == "exact"
    if exact:
        A = data.A
        eye = sp.eye(n)
        simplify = bool(A.free_symbols) or any(not sp.sympify(lam, strict=True).is_Rational for lam, _ in spectrum)

        def mul(X: sp.Matrix, Y: sp.Matrix) -> sp.Matrix:
            Z_ = X * Y
            return Z_.applyfunc(sp.expand) if simplify else Z_

        blocks = []
        for lam, mlt in spectrum:
            q = eye
            inv_series = [sp.Integer(1)] + [sp.Integer(0)] * (mlt - 1)
            for mu, mm in spectrum:
                if mu == lam:
                    continue
                q = mul(q, (A - mu * eye) ** mm)
                d = lam - mu
                s = [sp.binomial(-mm, j) / d ** (mm + j) for j in range(mlt)]
                inv_series = _series_mul(inv_series, s, mlt)
            Nl = A - lam * eye
            r = sp.zeros(n, n)
            Npow = eye
            for j in range(mlt):
                r += inv_series[j] * Npow
                Npow = mul(Npow, Nl)
            P = mul(q, r)
            if simplify:
                P = P.applyfunc(lambda e: sp.factor(sp.cancel(e)) if e.free_symbols else sp.radsimp(sp.expand(e)))
            Npow = P
            for p in range(mlt):
                M = Npow * sp.Rational((-1) ** p, factorial(p))
                if simplify:
                    M = M.applyfunc(lambda e: sp.factor(sp.cancel(e)) if e.free_symbols else sp.radsimp(sp.expand(e)))
                if any(e != 0 for e in M):
                    blocks.append((lam, p, [[M[i, j] for j in range(n)] for i in range(n)]))
                Npow = mul(Nl, Npow)
        return blocks
    with mpmath.workdps(data.dps + 20):
        A = mpmath.matrix(data.mat(data.A))
        eye = mpmath.eye(n)
        blocks = []
        for lam, mlt in spectrum:
            q = eye
            inv_series = [mpmath.mpc(1)] + [mpmath.mpc(0)] * (mlt - 1)
            for mu, mm in spectrum:
                if mu == lam:
                    continue
                q = q * (A - mu * eye) ** mm
                d = lam - mu
                s = [mpmath.binomial(-mm, j) / d ** (mm + j) for j in range(mlt)]
                inv_series = _series_mul(inv_series, s, mlt)
            Nl = A - lam * eye
            r = mpmath.zeros(n, n)
            Npow = eye
            for j in range(mlt):
                r += inv_series[j] * Npow
                Npow = Npow * Nl
            P = q * r
            Npow = P
            for p in range(mlt):
                M = Npow * (mpmath.mpf((-1) ** p) / factorial(p))
                entries = [[_clean(M[i, j], data.dps) for j in range(n)] for i in range(n)]
                if any(e != 0 for row in entries for e in row):
                    blocks.append((lam, p, entries))
                Npow = Nl * Npow
        return blocks


def _clean(x: object, dps: int) -> object:
    """Round an mpmath number to ``dps`` digits, dropping parts below the working precision."""
    z = mpmath.mpc(x)
    tiny = mpmath.mpf(10) ** (-(dps + 8))
    re = z.real if abs(z.real) > tiny else mpmath.mpf(0)
    im = z.imag if abs(z.imag) > tiny else mpmath.mpf(0)
    if re == 0 and im == 0:
        return 0
    return mpmath.mpc(re, im) if im != 0 else mpmath.mpf(re)


def _series_mul(a: list, b: list, order: int) -> list:
    out = [a[0] * 0] * order
    for i in range(order):
        for j in range(order - i):
            out[i + j] = out[i + j] + a[i] * b[j]
    return out


# --------------------------------------------------------------------------- checks


def check_stationary(data: LinearData, model: Diffusion) -> None:
    """Raise :class:`UnstableError` when the stationary start needs a stable A but A is not."""
    bad = []
    for lam, _ in data.spectrum:
        if data.domain == "numeric":
            re = mpmath.re(lam)
            if re <= 0:
                bad.append(mpmath.nstr(lam, 6))
            continue
        lam_s = sp.sympify(lam, strict=True)
        if lam_s.free_symbols:
            if model.params and not (lam_s.free_symbols - set(model.params)):
                val = complex(sp.N(lam_s.xreplace(model.params)))
                if val.real <= 0:
                    bad.append(f"{lam_s} = {val:.6g} at the given params")
            continue
        if sp.re(sp.N(lam_s, 30)) <= 0:
            bad.append(str(lam_s))
    if bad:
        raise UnstableError(
            "initial: the stationary start needs a stable linear part (all eigenvalues of A = -d(drift)/dh with "
            f"positive real part), but A has eigenvalue(s) {', '.join(bad)}. Change the parameters, or start "
            "from vs.PointMass(x0) or vs.Gaussian(mean, cov)."
        )


def initial_moments(data: LinearData, model: Diffusion) -> tuple[list[object], list[list[object]]]:
    """Mean and covariance of the initial law (point mass: zero covariance), in the working domain."""
    init = model.initial
    n = data.n
    vals = {k: exactify(v) for k, v in model.params.items()} if data.domain == "numeric" else {}
    if isinstance(init, PointMass):
        x0 = exactify(init.x0).xreplace(vals)
        return [data.num(x0[i]) for i in range(n)], [[0] * n for _ in range(n)]
    if isinstance(init, Gaussian):
        m0, S0 = exactify(init.mean).xreplace(vals), exactify(init.cov).xreplace(vals)
        return [data.num(m0[i]) for i in range(n)], data.mat(S0)
    raise TypeError("initial_moments: stationary start has no explicit initial moments")

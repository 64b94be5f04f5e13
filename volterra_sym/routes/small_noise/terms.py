"""The expansion terms: K^(n) = K^(n)_0 + s^2 K^(n)_2 for n = 0, 1, 2, as exponential polynomials.

Why a deterministic system gives the expansion.  Write h = h0 + s x1 + s^2 x2 + ... with h0 the
noiseless response to eps u and x1 the linear fluctuation (Gaussian, mean zero, covariance P_t):
the odd powers of s vanish in E f(h_t) and, to O(s^4),

    E f(h_t) = f(h0) + f'(h0) m + 1/2 f''(h0)[P],                  (s^2 absorbed in D, P, m)
    h0' = F_u(h0),                                                 F_u = phi + eps sum_k u_k gamma_k
    P'  = DF_u(h0) P + P DF_u(h0)^T + D,
    m'  = DF_u(h0) m + 1/2 F_u''(h0)[P],

started at the stationary point X* = (h*, P, m*) (J P + P J^T + D = 0, m* = -J^{-1} phi''[P] / 2,
MATH.md section 10).  The right-hand side is linear in (P, m), so the Volterra kernels of this
deterministic system X' = F(X) + eps sum_k u_k G_k(X), y = Y(X), are exactly K_0 + s^2 K_2 (the linearised-law
Wick expectations of section 10, summed in closed form).  The input operator (with a state-dependent
coupling gamma_k(h), e.g. the channels of an input inside the activation, MATH.md section 11) is

    G_k(X) = (gamma_k(h), Dgamma_k P + P Dgamma_k^T, Dgamma_k m + 1/2 gamma_k''[P])

(still linear in (P, m); (gamma_k, 0, 0) for a constant coupling).  With Phi(t) = e^{DF(X*) t}, expanding
X = X* + eps X1 + eps^2 X2 gives X1' = DF X1 + sum_k u_k G_k(X*) and
X2' = DF X2 + 1/2 D^2F[X1, X1] + sum_k u_k(t) DG_k(X*)[X1(t)]; in the triangular convention (s2 < s1 < t,
tau1 = t - s1, tau2 = s1 - s2) the last term is the input k1 at s1 acting through DG_k1 on the response to the
input k2 at s2:

    K^(0)           = Y(X*) = f(h*) + f'.m* + 1/2 f''[P]
    K^(1)_k(tau)    = DY[X_k(tau)],   X_k(t) = Phi(t) G_k(X*)
    K^(2)_k1k2(tau1, tau2) = DY[Z(tau1; tau2)] + D^2Y[X_k1(tau1), X_k2(tau1 + tau2)],
    Z(tau1; tau2)   = int_0^tau1 Phi(tau1 - r) D^2F[X_k1(r), X_k2(r + tau2)] dr + Phi(tau1) DG_k1[X_k2(tau2)],
    DG_k[(a, dP, dm)] = (Dgamma_k a,  gamma_k''[a] P + P gamma_k''[a]^T + Dgamma_k dP + dP Dgamma_k^T,
                         gamma_k''[a, m*] + 1/2 gamma_k^(3)[a][P] + Dgamma_k dm + 1/2 gamma_k''[dP])

(MATH.md section 4; the derivative tensors at h*).  Phi acts block by block (from an initial value
(a0, P0, m0): a = e^{J t} a0, P adds e^{J t} P0 e^{J^T t}, m adds e^{J t} m0):
a' = J a (+ s_a); P' = J P + P J^T + B(a) (+ s_P) with B(a) = phi''[a] P + P phi''[a]^T;
m' = J m + phi''[a, m*] + 1/2 phi'''[a][P] + 1/2 phi''[P] (+ s_m).  Each block is a convolution with
e^{J t} (``conv``: int_0^t F(t - r) G(r) dr of exponential polynomials, in closed form), so every term
is an exponential polynomial in the lags with rates among the eigenvalues of J and their sums.
``noise_order=0`` drops (P, m): K_0 alone, the Volterra kernels of the noiseless network at h*.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import comb, factorial
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ...algebra.exp_polynomial import ExpPoly, is_mp
from .local import LocalData

Vec = list[ExpPoly]
Mat = list[list[ExpPoly]]


def _mp(x: Any) -> Any:
    """A rate or coefficient as an mpmath number (SymPy zero and Python floats included)."""
    if is_mp(x):
        return x
    return mpmath.mpmathify(complex(x)) if isinstance(x, complex) else mpmath.mpf(float(x))


def conv(F: ExpPoly, G: ExpPoly, zero_tol: Any) -> ExpPoly:
    """int_0^t F(t - r) G(r, w) dr over G's variables (t in G's first variable; F univariate).

    ``zero_tol``: rates closer than this are equal (mpmath numbers); None: exact / symbolic rates, equal
    when their difference simplifies to zero.

    For a (t-r)^p e^{-mu (t-r)} and b r^q e^{-nu r} with delta = mu - nu:
    delta = 0: a b p! q! / (p+q+1)! t^{p+q+1} e^{-mu t}; otherwise
    a b sum_k C(p,k) (-1)^k t^{p-k} I_{q+k}(t) e^{-mu t}, with
    I_j(t) = int_0^t r^j e^{delta r} dr
           = j! [e^{delta t} sum_{i<=j} (-1)^{j-i} t^i / (i! delta^{j-i+1}) - (-1)^j / delta^{j+1}].
    """
    terms: dict[tuple, Any] = {}

    def add(rate0: Any, power0: int, rest_mu: tuple, rest_p: tuple, c: Any) -> None:
        key = ((rate0, *rest_mu), (power0, *rest_p))
        terms[key] = terms.get(key, 0) + c

    exact = zero_tol is None
    for (mu,), (p,), a in F:
        mu_ = sp.sympify(mu, strict=True) if exact else _mp(mu)
        for nu_rates, q_pows, b in G:
            nu, q = nu_rates[0], q_pows[0]
            rest_mu, rest_p = tuple(nu_rates[1:]), tuple(q_pows[1:])
            ab = a * b
            delta = sp.simplify(mu_ - nu) if exact else mu_ - _mp(nu)
            if (delta == 0) if exact else (abs(delta) <= zero_tol):
                add(mu, p + q + 1, rest_mu, rest_p, ab * factorial(p) * factorial(q) / factorial(p + q + 1))
                continue
            for k in range(p + 1):
                ck = ab * comb(p, k) * (-1) ** k
                j = q + k
                for i in range(j + 1):
                    add(
                        nu,
                        p - k + i,
                        rest_mu,
                        rest_p,
                        ck * factorial(j) / factorial(i) * (-1) ** (j - i) / delta ** (j - i + 1),
                    )
                add(mu, p - k, rest_mu, rest_p, -ck * factorial(j) * (-1) ** j / delta ** (j + 1))
    return ExpPoly(G.vars, terms)


def mp_number(c: Any) -> Any:
    """A float or complex NumPy/Python number as mpmath (mpf when real); SymPy expressions unchanged."""
    if isinstance(c, sp.Basic):
        return c
    z = complex(c)
    return mpmath.mpf(z.real) if z.imag == 0 else mpmath.mpc(z.real, z.imag)


def _combine(coeffs: Any, polys: list[ExpPoly], vars: tuple) -> ExpPoly:
    """sum_i coeffs[i] polys[i] (zero coefficients skipped)."""
    out = ExpPoly(vars)
    for c, F in zip(coeffs, polys):
        if c != 0 and F is not None and len(F):
            out = out + F * mp_number(c)
    return out


@dataclass
class Ext:
    """A point of the extended system (a, P, m): vectors/matrices of ExpPoly (P, m None at noise_order 0)."""

    a: Vec
    P: Mat | None
    m: Vec | None


class Expansion:
    """The closed-form terms of the module docstring for one fixed point (``loc``) and e^{J t} (``E``).

    ``E[i][j]``: univariate ExpPoly of e^{J t} (rates -lambda).  ``noise``: include (P, m) (noise_order 2).
    """

    def __init__(self, loc: LocalData, E: Mat, noise: bool, zero_tol: Any) -> None:
        """``loc`` in any basis where E = e^{J t} (J's eigenbasis: E diagonal, the fast case)."""
        self.loc, self.E, self.noise, self.tol = loc, E, noise, zero_tol
        #: 1/2, exact for symbolic data (object arrays of SymPy expressions)
        self.half: Any = sp.Rational(1, 2) if loc.P.dtype == object else 0.5
        n = loc.J.shape[0]
        self.n = n
        phi2, phi3, phi4 = loc.phi[2], loc.phi[3], loc.phi[4]
        P, m = loc.P, loc.m
        self.phi2 = phi2
        self.phi3 = phi3
        # m-block coupling to a: phi''[a, m*] + 1/2 phi'''[a][P]
        self.Lm = np.einsum("ijl,j->il", phi2, m) + self.half * np.einsum("ijkl,kl->ij", phi3, P)
        # B(a)_ik = sum_l (BP[i,k,l] + BP[k,i,l]) a_l,  BP = phi''[., ., l] P
        BP = np.einsum("ijl,jk->ikl", phi2, P)
        self.BA = BP + BP.transpose(1, 0, 2)
        # second-order constants
        self.T3P = np.einsum("ijkl,jm->imkl", phi3, P)  # (Phi3[x,y] P)_im = sum_kl T3P[i,m,k,l] x_k y_l
        self.T3m = np.einsum("ijkl,j->ikl", phi3, m)  # phi'''[x, y, m*]
        self.T4P = self.half * np.einsum("ijklq,lq->ijk", phi4, P)  # 1/2 phi''''[x, y][P]
        self._EE: dict[tuple[int, int, int, int], ExpPoly] = {}
        self._E_on: dict[tuple, Mat] = {}
        #: a state-dependent coupling: per input k the constants of G_k(X*) and of DG_k (module docstring)
        self.coupled = loc.gam is not None
        if loc.gam is not None:
            self.G1 = [gk[1] for gk in loc.gam]  # D gamma_k
            self.G2 = [gk[2] for gk in loc.gam]  # gamma_k''
            # DG_k[da]_P = gamma_k''[da] P + P gamma_k''[da]^T = sum_l GA[k][i, q, l] da_l
            GP = [np.einsum("ijl,jq->iql", G2, P) for G2 in self.G2]
            self.GA = [x + x.transpose(1, 0, 2) for x in GP]
            # DG_k[da]_m = gamma_k''[da, m*] + 1/2 gamma_k'''[da][P] = sum_l Lg[k][i, l] da_l
            self.Lg = [
                np.einsum("ijl,j->il", gk[2], m) + self.half * np.einsum("ijkl,kl->ij", gk[3], P) for gk in loc.gam
            ]

    # ---- the blocks of Phi ---------------------------------------------------------------
    def apply_E(self, S: Vec) -> Vec:
        """int_0^t e^{J (t - r)} S(r) dr."""
        n = self.n
        vars = S[0].vars
        out = []
        for i in range(n):
            acc = ExpPoly(vars)
            for j in range(n):
                if len(S[j]) and len(self.E[i][j]):
                    acc = acc + conv(self.E[i][j], S[j], self.tol)
            out.append(acc)
        return out

    def lyap(self, S: Mat) -> Mat:
        """int_0^t e^{J (t - r)} S(r) e^{J^T (t - r)} dr (S symmetric)."""
        n = self.n
        vars = S[0][0].vars
        out: Mat = [[ExpPoly(vars) for _ in range(n)] for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                acc = ExpPoly(vars)
                for a in range(n):
                    for b in range(n):
                        if not len(S[a][b]):
                            continue
                        key = (i, a, j, b)
                        if key not in self._EE:
                            self._EE[key] = self.E[i][a] * self.E[j][b]
                        if len(self._EE[key]):
                            acc = acc + conv(self._EE[key], S[a][b], self.tol)
                out[i][j] = acc
                out[j][i] = acc
        return out

    def E_on(self, vars: tuple) -> Mat:
        """e^{J t} over ``vars`` with t = vars[0]."""
        if vars == self.E[0][0].vars:
            return self.E
        if vars not in self._E_on:
            self._E_on[vars] = [[F.embed(vars, [0]) for F in row] for row in self.E]
        return self._E_on[vars]

    def flow_a(self, a0: Vec, vars: tuple) -> Vec:
        """e^{J t} a0 (a0 over ``vars``, independent of t = vars[0])."""
        E = self.E_on(vars)
        out = []
        for i in range(self.n):
            acc = ExpPoly(vars)
            for j in range(self.n):
                if len(E[i][j]) and len(a0[j]):
                    acc = acc + E[i][j] * a0[j]
            out.append(acc)
        return out

    def _flow_P(self, P0: Mat, vars: tuple) -> Mat:
        """e^{J t} P0 e^{J^T t} (P0 symmetric, over ``vars``, independent of t = vars[0])."""
        E, n = self.E_on(vars), self.n
        out: Mat = [[ExpPoly(vars) for _ in range(n)] for _ in range(n)]
        for i in range(n):
            for j in range(i, n):
                acc = ExpPoly(vars)
                for a in range(n):
                    for b in range(n):
                        if len(P0[a][b]) and len(E[i][a]) and len(E[j][b]):
                            acc = acc + E[i][a] * E[j][b] * P0[a][b]
                out[i][j] = acc
                out[j][i] = acc
        return out

    def respond(
        self, a: Vec, sP: Mat | None = None, sm: Vec | None = None, P0: Mat | None = None, m0: Vec | None = None
    ) -> Ext:
        """(P, m) driven by the h-component ``a`` (and the sources sP, sm), started at (P0, m0) (zero when None;
        P0 and m0 independent of the first variable)."""
        if not self.noise:
            return Ext(a, None, None)
        n, vars = self.n, a[0].vars
        S = [[_combine(self.BA[i, k], a, vars) for k in range(n)] for i in range(n)]
        if sP is not None:
            S = [[S[i][k] + sP[i][k] for k in range(n)] for i in range(n)]
        P = self.lyap(S)
        if P0 is not None:
            hom = self._flow_P(P0, vars)
            P = [[P[i][k] + hom[i][k] for k in range(n)] for i in range(n)]
        src = []
        for i in range(n):
            acc = _combine(self.Lm[i], a, vars)
            flatP = [P[j][k] for j in range(n) for k in range(n)]
            acc = acc + _combine(self.half * self.phi2[i].reshape(-1), flatP, vars)
            if sm is not None:
                acc = acc + sm[i]
            src.append(acc)
        m = self.apply_E(src)
        if m0 is not None:
            m = [x + y for x, y in zip(m, self.flow_a(m0, vars))]
        return Ext(a, P, m)

    # ---- the input operator G_k ------------------------------------------------------------
    def coupling_at_rest(self, k: int, vars: tuple) -> Ext:
        """G_k(X*) = (gamma_k, Dgamma_k P + P Dgamma_k^T, Dgamma_k m* + 1/2 gamma_k''[P]) as constants over
        ``vars`` (P, m blocks None for a constant coupling, where they vanish, and at noise_order 0)."""
        n, loc = self.n, self.loc

        def const(c: Any) -> ExpPoly:
            return ExpPoly.constant(vars, mp_number(c)) if c != 0 else ExpPoly(vars)

        a = [const(x) for x in loc.g[:, k]]
        if not self.noise or not self.coupled:
            return Ext(a, None, None)
        G1, P = self.G1[k], loc.P
        GPm = G1 @ P + P @ G1.T
        Gm = G1 @ loc.m + self.half * np.einsum("ijk,jk->i", self.G2[k], P)
        return Ext(a, [[const(GPm[i, j]) for j in range(n)] for i in range(n)], [const(x) for x in Gm])

    def coupling_shift(self, k: int, X: Ext) -> Ext:
        """DG_k(X*)[X] = (Dgamma_k a, gamma_k''[a] P + P gamma_k''[a]^T + Dgamma_k P_X + P_X Dgamma_k^T,
        gamma_k''[a, m*] + 1/2 gamma_k^(3)[a][P] + Dgamma_k m_X + 1/2 gamma_k''[P_X]) (X = (a, P_X, m_X))."""
        n, vars = self.n, X.a[0].vars
        G1 = self.G1[k]
        a = [_combine(G1[i], X.a, vars) for i in range(n)]
        if not self.noise:
            return Ext(a, None, None)
        assert X.P is not None and X.m is not None
        flatP = [x for row in X.P for x in row]
        P: Mat = [[ExpPoly(vars) for _ in range(n)] for _ in range(n)]
        for i in range(n):
            for q in range(i, n):
                acc = _combine(self.GA[k][i, q], X.a, vars)
                acc = acc + _combine(G1[i], [X.P[j][q] for j in range(n)], vars)
                acc = acc + _combine(G1[q], [X.P[i][j] for j in range(n)], vars)
                P[i][q] = acc
                P[q][i] = acc
        m = []
        for i in range(n):
            acc = _combine(self.Lg[k][i], X.a, vars) + _combine(G1[i], X.m, vars)
            acc = acc + _combine(self.half * self.G2[k][i].reshape(-1), flatP, vars)
            m.append(acc)
        return Ext(a, P, m)

    # ---- first order ---------------------------------------------------------------------
    def first_order(self, k: int) -> Ext:
        """X_k(t) = Phi(t) G_k(X*) over the univariate variable of E."""
        vars = self.E[0][0].vars
        G = self.coupling_at_rest(k, vars)
        return self.respond(self.flow_a(G.a, vars), P0=G.P, m0=G.m)

    # ---- second order --------------------------------------------------------------------
    def _bil(self, T: np.ndarray, x: Vec, y: Vec) -> Vec:
        """[sum_jk T[i, j, k] x_j y_k]_i."""
        n, vars = self.n, x[0].vars
        prods = {(j, k): x[j] * y[k] for j in range(n) for k in range(n)}
        return [_combine(T[i].reshape(-1), [prods[(j, k)] for j in range(n) for k in range(n)], vars) for i in range(n)]

    def _matvec_a(self, x: Vec, M: Mat) -> Mat:
        """phi''[x] M + M phi''[x]^T (x a vector, M a matrix of ExpPoly)."""
        n, vars = self.n, x[0].vars
        Phi2x = [[_combine(self.phi2[i, j], x, vars) for j in range(n)] for i in range(n)]
        out: Mat = [[ExpPoly(vars) for _ in range(n)] for _ in range(n)]
        for i in range(n):
            for k in range(n):
                acc = ExpPoly(vars)
                for j in range(n):
                    if len(Phi2x[i][j]) and len(M[j][k]):
                        acc = acc + Phi2x[i][j] * M[j][k]
                    if len(M[i][j]) and len(Phi2x[k][j]):
                        acc = acc + M[i][j] * Phi2x[k][j]
                out[i][k] = acc
        return out

    def second_source(self, A: Ext, B: Ext) -> tuple[Vec, Mat | None, Vec | None]:
        """D^2F[A, B] split into its blocks (s_a, s_P, s_m) (module docstring)."""
        n, vars = self.n, A.a[0].vars
        sa = self._bil(self.phi2, A.a, B.a)
        if not self.noise:
            return sa, None, None
        assert A.P is not None and B.P is not None and A.m is not None and B.m is not None
        prods = {(k, l): A.a[k] * B.a[l] for k in range(n) for l in range(n)}
        pl = [prods[(k, l)] for k in range(n) for l in range(n)]
        sP1 = self._matvec_a(A.a, B.P)
        sP2 = self._matvec_a(B.a, A.P)
        sP = [[ExpPoly(vars) for _ in range(n)] for _ in range(n)]
        for i in range(n):
            for q in range(n):
                c = self.T3P[i, q].reshape(-1) + self.T3P[q, i].reshape(-1)
                sP[i][q] = sP1[i][q] + sP2[i][q] + _combine(c, pl, vars)
        sm = []
        for i in range(n):
            acc = _combine((self.T3m[i] + self.T4P[i]).reshape(-1), pl, vars)
            sm.append(acc + self._cross(self.phi2[i], self.phi3[i], A, B))
        return sa, sP, sm

    def second_order(self, A: Ext, B: Ext, k1: int | None = None, B_late: Ext | None = None) -> Ext:
        """Z = int_0^tau1 Phi(tau1 - r) D^2F[A(r), B(r)] dr (A, B over the lag variables, r = first), plus, for a
        state-dependent coupling, Phi(tau1) DG_k1[B_late] (``B_late`` = X_k2(tau2), independent of tau1)."""
        sa, sP, sm = self.second_source(A, B)
        a = self.apply_E(sa)
        if k1 is None or B_late is None or not self.coupled:
            return self.respond(a, sP, sm)
        V = self.coupling_shift(k1, B_late)
        a = [x + y for x, y in zip(a, self.flow_a(V.a, a[0].vars))]
        return self.respond(a, sP, sm, P0=V.P, m0=V.m)

    # ---- readout -------------------------------------------------------------------------
    def readout_first(self, c: int, X: Ext) -> ExpPoly:
        """DY[X] = (f' + f''[m*] + 1/2 f'''[P]).a + f'.m + 1/2 f''[P_X]."""
        f = self.loc.f[c]
        vars = X.a[0].vars
        fa = f[1] + f[2] @ self.loc.m + self.half * np.einsum("jkl,kl->j", f[3], self.loc.P)
        out = _combine(fa, X.a, vars)
        if X.m is not None and X.P is not None:
            out = out + _combine(f[1], X.m, vars)
            out = out + _combine(self.half * f[2].reshape(-1), [x for row in X.P for x in row], vars)
        return out

    def readout_second(self, c: int, A: Ext, B: Ext) -> ExpPoly:
        """D^2Y[A, B] = f''[a_A, a_B] + f'''[a_A, a_B, m*] + 1/2 f''''[a_A, a_B][P] + f''[a_A, m_B] + f''[a_B, m_A]
        + 1/2 f'''[a_A][P_B] + 1/2 f'''[a_B][P_A]."""
        f = self.loc.f[c]
        n, vars = self.n, A.a[0].vars
        T = f[2] + np.einsum("jkl,l->jk", f[3], self.loc.m) + self.half * np.einsum("jklq,lq->jk", f[4], self.loc.P)
        out = _combine(T.reshape(-1), [A.a[j] * B.a[k] for j in range(n) for k in range(n)], vars)
        if A.m is not None and B.m is not None and A.P is not None and B.P is not None:
            out = out + self._cross(f[2], f[3], A, B)
        return out

    def _cross(self, T2: np.ndarray, T3: np.ndarray, A: Ext, B: Ext) -> ExpPoly:
        """The cross terms of a second derivative shared by the m block and the readout, for one component with
        second and third derivative tensors T2 (n, n) and T3 (n, n, n):
        T2[a_A, m_B] + T2[a_B, m_A] + 1/2 T3[a_A][P_B] + 1/2 T3[a_B][P_A]."""
        n, vars = self.n, A.a[0].vars
        assert A.m is not None and B.m is not None and A.P is not None and B.P is not None
        out = _combine(T2.reshape(-1), [A.a[j] * B.m[k] for j in range(n) for k in range(n)], vars)
        out = out + _combine(T2.reshape(-1), [B.a[j] * A.m[k] for j in range(n) for k in range(n)], vars)
        half3 = self.half * T3.reshape(n, -1)
        flatBP = [B.P[k][q] for k in range(n) for q in range(n)]
        flatAP = [A.P[k][q] for k in range(n) for q in range(n)]
        for j in range(n):
            if len(A.a[j]):
                out = out + A.a[j] * _combine(half3[j], flatBP, vars)
            if len(B.a[j]):
                out = out + B.a[j] * _combine(half3[j], flatAP, vars)
        return out

    def mean(self, c: int, vars: tuple[sp.Symbol, ...]) -> ExpPoly:
        """K^(0) = f(h*) + f'.m* + 1/2 f''[P]."""
        f = self.loc.f[c]
        total = f[0] + f[1] @ self.loc.m + np.sum(f[2] * self.loc.P) / 2
        if isinstance(total, sp.Basic):
            return ExpPoly.constant(vars, sp.factor(sp.cancel(total)) if total.free_symbols else total)
        return ExpPoly.constant(vars, mpmath.mpf(complex(total).real))


def map_ext(X: Ext, fn: Any) -> Ext:
    """Apply ``fn`` (ExpPoly -> ExpPoly) to every entry of X."""
    return Ext(
        [fn(x) for x in X.a],
        None if X.P is None else [[fn(x) for x in row] for row in X.P],
        None if X.m is None else [fn(x) for x in X.m],
    )

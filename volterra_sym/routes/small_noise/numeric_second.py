"""K^(2) of the numeric small-noise engine (SRNN networks, n > 6; ``numeric.py`` has K^(0) and K^(1)).

The formulas are those of ``terms.py`` (the closed-form engine), evaluated numerically.  With X = (a, P, m)
the extended state, X' = F(X) + eps G u, y = Y(X), Phi(t) = e^{DF(X*) t} and X_k(t) = Phi(t) G_k
(G_k = (C_k, 0, 0); ``numeric.Trajectory``), the triangular kernel (tau1 the most recent lag, MATH.md
section 4) is

    K^(2)_k1k2(tau1, tau2) = DY[Z(tau1; tau2)] + D^2Y[A(tau1), B(tau1)],
    Z(tau1; tau2) = int_0^tau1 Phi(tau1 - r) D^2F[A(r), B(r)] dr,   A(r) = X_k1(r), B(r) = X_k2(r + tau2)

(second-order response of X' = F(X) + eps G u: X2 = 1/2 int Phi(t - r) D^2F[X1, X1] dr, restricted to
s2 < s1 with tau1 = t - s1, tau2 = s1 - s2, r -> r - s1).  For the SRNN, with z* = W h* + b, a_k = a^(k)(z*)
and (x)_W = W x, every derivative tensor is diagonal in z: phi^(k)[x1..xk] = a_k * (x1)_W * ... * (xk)_W and
phi''[x] = diag(a_2 * (x)_W) W as a matrix.  Z solves Z' = DF Z + S(r), Z(0) = 0, block by block:

    Z_a' = J Z_a + s_a,          s_a = a_2 (aA)_W (aB)_W
    Z_P' = J Z_P + Z_P J^T + T + T^T,
        T = diag(a_2 (Z_a)_W + a_3 (aA)_W (aB)_W) W P + diag(a_2 (aA)_W) W P_B + diag(a_2 (aB)_W) W P_A
    Z_m' = J Z_m + l (Z_a)_W + 1/2 a_2 q(Z_P) + s_m,   q(M) = diag(W M W^T),  l = a_2 (m*)_W + 1/2 a_3 q(P),
        s_m = a_2 (aA)_W (m_B)_W + a_2 (aB)_W (m_A)_W + a_3 (aA)_W (aB)_W (m*)_W + 1/2 a_4 (aA)_W (aB)_W q(P)
              + 1/2 a_3 (aA)_W q(P_B) + 1/2 a_3 (aB)_W q(P_A)

(P, m* the stationary point; (a, P, m)_A the blocks of A).

A state-dependent coupling (the channels of ``SRNN(..., input="inside")``, MATH.md section 11; numeric.
ChannelCoupling: D gamma_k = diag(g1) W, gamma_k''[x, y] = g2 (x)_W (y)_W, gamma_k''' likewise with g3) makes the
input operator G_k(X) = (gamma_k(h), Dgamma_k P + P Dgamma_k^T, Dgamma_k m + 1/2 gamma_k''[P]) depend on the
state: X_k(t) = Phi(t) G_k(X*) (started at the (P, m) blocks of G_k(X*), ``ChannelCoupling.start``), and the
second-order response X2' = DF X2 + 1/2 D^2F[X1, X1] + DG_k[X1] u_k adds DY[Phi(tau1) DG_k1[X_k2(tau2)]] to
K^(2) (the input at s1 acting through the state moved by the input at s2).  It is Z's initial value:
Z(0; tau2) = DG_k1[B(0)] with, for Y = (a, P, m) = B(0) = X_k2(tau2),

    DG_a = g1 (a)_W,
    DG_P = diag(g1) W P_Y + diag(g2 (a)_W) W P + (.)^T,
    DG_m = g1 (m_Y)_W + g2 (a)_W (m*)_W + 1/2 g2 q(P_Y) + 1/2 g3 (a)_W q(P)

(each trajectory also stores W dP(t_j) for it).  For a readout of degree <= 3
(f = f0 + f1.x + 1/2 x^T F2 x + 1/6 f'''[x, x, x] around h*; f'''' = 0, so Y = f(h) + f'(h).m + 1/2 f''(h)[P] has)

    DY[Z]      = (f1 + F2 m* + 1/2 f'''[.][P]).Z_a + f1.Z_m + 1/2 tr(F2 Z_P),
    D^2Y[A, B] = aA^T (F2 + f'''[m*]) aB + aA^T F2 m_B + aB^T F2 m_A + 1/2 f'''[aA][P_B] + 1/2 f'''[aB][P_A]

(f'''[x] = sum_c f'''_abc x_c; the cubic terms by ``numeric.CubicReadout`` from the readout's monomials, O(terms)
each, P_A and P_B from the entries of dP that each trajectory records at the monomials' index pairs).
``noise_order=0`` keeps Z_a and aA^T F2 aB (P = m = 0).  Numerics (the scheme of ``numeric.correction_grid``):
uniform grid t_j = j dt; Z_a and Z_m in J's eigenbasis by exact exponential integration of degree-5 local
interpolants of their sources at the nodes (``etd_solve``); Z_P by Z_P(t_{j+1}) = E Z_P(t_j) E^T + dt sum_g
w_g E_g S_P(t_j + u_g) E_g^T (three-point Gauss-Legendre, E_g = e^{J dt (1 - u_g)}), where the Gauss-node
values of Z_a, W P_A E_g^T and W P_B E_g^T are degree-5 interpolants of grid values (each trajectory stores
W dP(t_j) E_g^T once, so a step is six n x n products: stacked [E_1 E_2 E_3] times the three blocks T E_g^T,
E Z_P E^T, and W Z_P).  Work: (tau1 steps) x 6 n^3 per distinct tau2; memory 3 (steps) n^2 per input.  Error
estimate: the same at step 2 dt, |fine - coarse| at the lags.  Pairs with a lag beyond
``numeric.MAX_RELAXATION_TIMES`` slowest relaxation times are 0 (every term decays like e^{-rate tau} in
both lags).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...model.structure import NetworkStructure
from ...validate import refusal
from .local import ALTERNATIVES
from .numeric import (
    GL3_W,
    GL3_X,
    MAX_GRID_STEPS,
    MAX_RELAXATION_TIMES,
    STENCIL,
    ChannelCoupling,
    CubicReadout,
    NetworkPoint,
    Trajectory,
    correction_grid,
    etd_solve,
    etd_weights,
    expJ,
    interpolate,
    interpolate_rows,
    readout_gradient,
    readout_hessian,
    stencil,
)

#: most bytes of the stored trajectories (3 (steps) n^2 float64 per input and grid)
MAX_TRAJECTORY_BYTES = 6e9
#: bytes of the Z_P sources built at once (a chunk of steps)
CHUNK_BYTES = 64e6


@dataclass
class SecondOrderGrid:
    """The second-order machinery at one time step ``dt`` (module docstring): trajectories per input,
    cached with their horizon, and the Z integration."""

    S: NetworkStructure
    pt: NetworkPoint
    readouts: list[CubicReadout]
    couplings: list[ChannelCoupling]
    dt: float
    noise: bool
    _traj: dict[int, tuple[int, Trajectory]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pt, dt = self.pt, self.dt
        self.n = pt.lam.size
        self.WV = self.S.W @ pt.V
        self.E = expJ(pt, dt)
        Eg = [expJ(pt, dt * (1.0 - x)) for x in GL3_X]
        self.EgW = np.hstack([dt * w * e for w, e in zip(GL3_W, Eg)])  # (n, 3n)
        self.WPsE = np.stack([pt.WP @ e.T for e in Eg])  # W P E_g^T (3, n, n)
        self.Wm = self.S.W @ pt.m
        self.wts = etd_weights(pt.lam * dt)
        #: per readout component: the a-coefficient of DY and the (a, a) block of D^2Y (module docstring)
        self.fa = [readout_gradient(r, pt, self.noise) for r in self.readouts]
        self.Fa = [readout_hessian(r, pt, self.noise) for r in self.readouts]
        #: no curvature at h* (a linear network): Z = 0 and the trajectories' (P, m) parts vanish
        self.flat = not (np.any(pt.a2) or np.any(pt.a3) or np.any(pt.a4)) and all(g.constant for g in self.couplings)

    # ---- the first-order trajectories ---------------------------------------------------
    def trajectory(self, k: int, N: int) -> Trajectory:
        """X_k on nodes 0..N' (N' >= N), recomputed when a longer one is needed."""
        cached = self._traj.get(k)
        if cached is not None and cached[0] >= N:
            return cached[1]
        if N > MAX_GRID_STEPS:
            raise refusal(
                "lags",
                f"the numeric engine of method='small_noise' would need {N} time steps of size {self.dt:.3g} for "
                f"these lags (limit {MAX_GRID_STEPS}): ask for shorter lags or a larger step_tol; {ALTERNATIVES}",
            )
        need = 4.0 * (N + 1) * self.n**2 * 8 * (1 if self.noise and not self.flat else 0)
        if need > MAX_TRAJECTORY_BYTES:
            raise refusal(
                "lags",
                f"K^(2) of the numeric engine would store {need / 1e9:.3g} GB of trajectories for these lags "
                f"(limit {MAX_TRAJECTORY_BYTES / 1e9:g} GB): ask for shorter lags or a larger step_tol; {ALTERNATIVES}",
            )
        if self.noise and not self.flat:
            g = self.couplings[k]
            traj = correction_grid(self.S, self.pt, g, self.readouts, self.dt, N, record=True).trajectory
            assert traj is not None
        else:
            z, n = np.zeros((N + 1, self.n)), self.n
            c = self.pt.Vi @ self.couplings[k].g0
            traj = Trajectory(self.dt, c, z, z, z, np.zeros((0, n, n)), np.zeros((3, 0, n, n)))
        self._traj[k] = (N, traj)
        return traj

    def a(self, traj: Trajectory, t: np.ndarray) -> np.ndarray:
        """a(t) = e^{J t} C_k at times t (L,) -> (L, n)."""
        return ((np.exp(np.outer(t, self.pt.lam)) * traj.c) @ self.pt.V.T).real

    def Wa(self, traj: Trajectory, t: np.ndarray) -> np.ndarray:
        """W a(t) at times t (L,) -> (L, n)."""
        return ((np.exp(np.outer(t, self.pt.lam)) * traj.c) @ self.WV.T).real

    # ---- Z and the kernel ---------------------------------------------------------------
    def z_readout(self, A: Trajectory, B: Trajectory, tau2: float, N: int, gk: ChannelCoupling) -> np.ndarray:
        """DY[Z(t_j; tau2)] for j = 0..N per readout component: (p, N + 1); ``gk`` the coupling of input k1
        (a state-dependent one starts Z at DG_k1[X_k2(tau2)], module docstring)."""
        pt, dt, W, n = self.pt, self.dt, self.S.W, self.n
        t = dt * np.arange(N + 1)
        WaA, WaB = self.Wa(A, t), self.Wa(B, t + tau2)
        dg = not gk.constant
        at = np.array([tau2])
        WaB0 = WaB[0]
        ya = etd_solve((pt.a2 * WaA * WaB) @ pt.Vi.T, pt.lam, dt, self.wts, y0=pt.Vi @ (gk.g1 * WaB0) if dg else None)
        Za = (ya @ pt.V.T).real
        G = np.stack([Za @ fa for fa in self.fa])
        if not self.noise:
            return G
        WZa = Za @ W.T
        tg = (t[:-1, None] + dt * GL3_X[None, :]).ravel()
        WaAg = self.Wa(A, tg).reshape(N, 3, n)
        WaBg = self.Wa(B, tg + tau2).reshape(N, 3, n)
        WZag = interpolate_rows(WZa, dt, tg).reshape(N, 3, n)
        v = pt.a2 * WZag + pt.a3 * WaAg * WaBg
        vA, vB = pt.a2 * WaAg, pt.a2 * WaBg
        jA, wA = stencil(tg / dt, A.WPE.shape[1] - 1)
        jB, wB = stencil((tg + tau2) / dt, B.WPE.shape[1] - 1)
        jA, jB = jA.reshape(N, 3), jB.reshape(N, 3)
        wA, wB = wA.reshape(N, 3, STENCIL), wB.reshape(N, 3, STENCIL)
        F2 = [(c, r.F2) for c, r in enumerate(self.readouts) if np.any(r.F2)]
        ZP = np.zeros((n, n))
        qZ = np.zeros((N + 1, n))
        tr2 = np.zeros((len(self.readouts), N + 1))
        if dg:  # DG_P[B(0)] = diag(g1) W P_B + diag(g2 (aB)_W) W P + (.)^T
            T0 = gk.g1[:, None] * interpolate_rows(B.WdP, dt, at)[0] + (gk.g2 * WaB0)[:, None] * pt.WP
            ZP = T0 + T0.T
            qZ[0] = np.einsum("ij,ij->i", W @ ZP, W)
            for c, F in F2:
                tr2[c, 0] = np.sum(F * ZP)
        E, EgW, WPsE = self.E, self.EgW, self.WPsE
        chunk = max(1, int(CHUNK_BYTES // (24 * n * n)))
        for j0 in range(0, N, chunk):
            js = slice(j0, min(N, j0 + chunk))
            blocks = np.empty((js.stop - j0, 3, n, n))
            for g in range(3):
                PA = sum(wA[js, g, i, None, None] * A.WPE[g, jA[js, g] + i] for i in range(STENCIL))
                PB = sum(wB[js, g, i, None, None] * B.WPE[g, jB[js, g] + i] for i in range(STENCIL))
                blocks[:, g] = v[js, g, :, None] * WPsE[g] + vA[js, g, :, None] * PB + vB[js, g, :, None] * PA
            src = np.matmul(EgW, blocks.reshape(-1, 3 * n, n))  # sum_g dt w_g E_g T_g E_g^T per step
            for i, j in enumerate(range(j0, js.stop)):
                ZP = E @ ZP @ E.T + src[i] + src[i].T
                qZ[j + 1] = np.einsum("ij,ij->i", W @ ZP, W)
                for c, F in F2:
                    tr2[c, j + 1] = np.sum(F * ZP)
        WmB = interpolate_rows(B.Wm, dt, t + tau2)
        qB = interpolate_rows(B.q, dt, t + tau2)
        WmA, qA = A.Wm[: N + 1], A.q[: N + 1]
        AB = WaA * WaB
        sm = (
            pt.l * WZa
            + 0.5 * pt.a2 * qZ
            + pt.a2 * (WaA * WmB + WaB * WmA)
            + AB * (pt.a3 * self.Wm + 0.5 * pt.a4 * pt.qP)
            + 0.5 * pt.a3 * (WaA * qB + WaB * qA)
        )
        zm0 = None
        if dg:  # DG_m[B(0)] = g1 (m_B)_W + g2 (aB)_W (m*)_W + 1/2 g2 q(P_B) + 1/2 g3 (aB)_W q(P)
            zm0 = pt.Vi @ (gk.g1 * WmB[0] + gk.g2 * WaB0 * self.Wm + 0.5 * gk.g2 * qB[0] + 0.5 * gk.g3 * WaB0 * pt.qP)
        Zm = (etd_solve(sm @ pt.Vi.T, pt.lam, dt, self.wts, y0=zm0) @ pt.V.T).real
        return G + np.stack([Zm @ r.f1 for r in self.readouts]) + 0.5 * tr2

    def kernel(self, k1: int, k2: int, tau1: np.ndarray, tau2: np.ndarray) -> np.ndarray:
        """K^(2)_k1k2 at the lag pairs (tau1, tau2) (L,) each, every readout component: (p, L)."""
        out = np.zeros((len(self.readouts), tau1.size))
        if tau1.size == 0:
            return out
        dt = self.dt
        N1 = max(4 * STENCIL, int(np.ceil(float(np.max(tau1)) / dt)) + 1)
        Next = N1 + int(np.ceil(float(np.max(tau2)) / dt)) + STENCIL + 1
        A, B = self.trajectory(k1, Next), self.trajectory(k2, Next)
        for t2 in [] if self.flat else np.unique(tau2):
            sel = tau2 == t2
            t1 = tau1[sel]
            N = max(4 * STENCIL, int(np.ceil(float(np.max(t1)) / dt)) + 1)
            out[:, sel] = interpolate(self.z_readout(A, B, float(t2), N, self.couplings[k1]), dt, t1)

        aA, aB = self.a(A, tau1), self.a(B, tau1 + tau2)
        if self.noise:
            mA = interpolate_rows(A.m, dt, tau1)
            mB = interpolate_rows(B.m, dt, tau1 + tau2)
        for c, r in enumerate(self.readouts):
            if not (np.any(r.F2) or r.cubic):
                continue
            out[c] += np.einsum("li,li->l", aA @ self.Fa[c], aB)
            if self.noise:
                FaB = aB @ r.F2
                out[c] += np.einsum("li,li->l", aA @ r.F2, mB) + np.einsum("li,li->l", FaB, mA)
                PA = A.Psel[c] if len(A.Psel) else None
                PB = B.Psel[c] if len(B.Psel) else None
                if PA is not None and PB is not None:  # 1/2 f'''[aA][P_B] + 1/2 f'''[aB][P_A]
                    sA, sB = interpolate_rows(PA, dt, tau1), interpolate_rows(PB, dt, tau1 + tau2)
                    out[c] += 0.5 * (r.third_on(aA, sB) + r.third_on(aB, sA))
        return out


@dataclass
class SecondOrderKernels:
    """K^(2) at both noise orders with its step-doubling error estimate (grids at dt and 2 dt)."""

    S: NetworkStructure
    pt: NetworkPoint
    readouts: list[CubicReadout]
    couplings: list[ChannelCoupling]
    dt: float
    _grids: dict[tuple[bool, int], SecondOrderGrid] = field(default_factory=dict)
    _last: dict[tuple, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def grid(self, noise: bool, factor: int) -> SecondOrderGrid:
        key = (noise, factor)
        if key not in self._grids:
            self._grids[key] = SecondOrderGrid(self.S, self.pt, self.readouts, self.couplings, factor * self.dt, noise)
        return self._grids[key]

    def values(self, ks: tuple[int, ...], lags: np.ndarray, noise: bool) -> tuple[np.ndarray, np.ndarray]:
        """K^(2)_ks at lag pairs (L, 2): values (p, L) and the estimated max |error| of the time integration
        per component (p,) (|fine - coarse|).  The last call is cached (one call per readout component)."""
        key = (ks, noise, lags.shape, lags.tobytes())
        if key in self._last:
            return self._last[key]
        cut = MAX_RELAXATION_TIMES / float(-np.max(self.pt.lam.real))
        inside = (lags[:, 0] <= cut) & (lags[:, 1] <= cut)
        t1, t2 = lags[inside, 0], lags[inside, 1]
        p = len(self.readouts)
        fine, coarse = np.zeros((p, lags.shape[0])), np.zeros((p, lags.shape[0]))
        fine[:, inside] = self.grid(noise, 1).kernel(ks[0], ks[1], t1, t2)
        coarse[:, inside] = self.grid(noise, 2).kernel(ks[0], ks[1], t1, t2)
        err = np.max(np.abs(fine - coarse), axis=1) if lags.shape[0] else np.zeros(p)
        self._last.clear()
        self._last[key] = (fine, err)
        return fine, err

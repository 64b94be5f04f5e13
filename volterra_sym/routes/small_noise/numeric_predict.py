"""``predict`` of the numeric small-noise engine: the moment system's perturbation hierarchy driven by eps u(t).

With X = (a, P, m) the extended state of ``terms.py`` (X' = F(X) + eps sum_k G_k(X) u_k, y = Y(X)), started at
the stationary point X*, the orders in eps of the output are (X = X* + eps X1 + eps^2 X2 + ...)

    X1' = DF X1 + sum_k G_k(X*) u_k,                                     y1 = DY[X1],
    X2' = DF X2 + 1/2 D^2F[X1, X1] + sum_k DG_k[X1] u_k,                 y2 = DY[X2] + 1/2 D^2Y[X1, X1]

(the same sums as the kernels: y_n = sum over the triangular kernels of order n convolved with the input).  For
the SRNN (``numeric.py``, ``numeric_second.py``; (x)_W = W x, Gu = sum_k g_k u_k per coupling coefficient):

    a1' = J a1 + G0 u
    P1' = J P1 + P1 J^T + T1 + T1^T,   T1 = diag(a_2 (a1)_W + G1 u) W P
    m1' = J m1 + l (a1)_W + 1/2 a_2 q(P1) + (G1 u) (m*)_W + 1/2 (G2 u) q(P)
    a2' = J a2 + 1/2 a_2 (a1)_W^2 + (G1 u) (a1)_W
    P2' = J P2 + P2 J^T + T2 + T2^T,
          T2 = diag(a_2 (a2)_W + 1/2 a_3 (a1)_W^2 + (G2 u) (a1)_W) W P + diag(a_2 (a1)_W + G1 u) W P1
    m2' = J m2 + l (a2)_W + 1/2 a_2 q(P2) + a_2 (a1)_W (m1)_W + 1/2 a_3 (a1)_W^2 (m*)_W + 1/4 a_4 (a1)_W^2 q(P)
          + 1/2 a_3 (a1)_W q(P1) + (G1 u) (m1)_W + (G2 u) (a1)_W (m*)_W + 1/2 (G2 u) q(P1) + 1/2 (G3 u) (a1)_W q(P)
    y1 = (f1 + F2 m* + 1/2 g3).a1 + f1.m1 + 1/2 tr(F2 P1),   g3 = f'''[.][P],
    y2 = (f1 + F2 m* + 1/2 g3).a2 + f1.m2 + 1/2 tr(F2 P2) + 1/2 a1^T (F2 + f'''[m*]) a1 + a1^T F2 m1
         + 1/2 f'''[a1][P1]

(readouts of degree <= 3, ``numeric.CubicReadout``; ``noise_order=0``: P = m = 0, only the a-blocks and
f1.a + 1/2 a1^T F2 a1). The input is the piecewise-linear
interpolant of its samples (as every route reads it). Numerics: a uniform internal grid that subdivides each
interval of the (uniform) prediction grid into s substeps of at most the engine's time step (s = 1 when the grid
is finer); a1 exactly for the piecewise-linear input (exponential integrators phi_1, phi_2 in J's eigenbasis,
also at the Gauss nodes); P1, P2 by exact propagators and three-point Gauss-Legendre sources (the scheme of
``numeric.correction_grid``; a2 and W P1 at the Gauss nodes by degree-5 interpolation, W P1 E_g^T kept in a
short ring buffer, so no (steps) x n^2 array); m1, a2, m2 by exponential integration of degree-5 local
interpolants (``numeric.etd_solve``). Work per substep: about 6 n^3 (order 1) plus 15 n^3 (order 2). Error
estimate of the time integration: step halving, 2 |y(s) - y(2 s)| (the same input, read linearly; the factor:
across the input's kinks the degree-5 stencils are of order 2, where halving leaves 3/4 of the error).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ...model.structure import NetworkStructure
from ...validate import refusal
from .numeric import (
    GL3_W,
    GL3_X,
    STENCIL,
    ChannelCoupling,
    CubicReadout,
    NetworkPoint,
    etd_solve,
    etd_weights,
    expJ,
    readout_gradient,
    readout_hessian,
    stencil,
)

#: a prediction grid is uniform when its steps agree to this relative tolerance
UNIFORM_TOL = 1e-9
#: bytes of the P sources built at once (a chunk of steps)
CHUNK_BYTES = 64e6


def phi12(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """phi_1(z) = (e^z - 1)/z and phi_2(z) = (e^z - 1 - z)/z^2 (series near 0)."""
    z = np.asarray(z, dtype=complex)
    small = np.abs(z) < 1e-2
    zs = np.where(small, 1.0, z)
    p1 = np.where(small, 1 + z / 2 + z**2 / 6 + z**3 / 24 + z**4 / 120, np.expm1(zs) / zs)
    p2 = np.where(small, 0.5 + z / 6 + z**2 / 24 + z**3 / 120 + z**4 / 720, (np.expm1(zs) - zs) / zs**2)
    return p1, p2


def uniform_step(tt: np.ndarray) -> float:
    """The step of a uniform grid; ArgumentError naming ``t`` otherwise."""
    d = np.diff(tt)
    h = float(tt[-1] / (tt.size - 1))
    if np.max(np.abs(d - h)) > UNIFORM_TOL * h:
        raise refusal(
            "t",
            "the numeric engine of method='small_noise' predicts on uniform grids (steps differ by up to "
            f"{np.max(np.abs(d - h)):.3g}); resample the input on np.linspace(0, T, N), or use Monte Carlo "
            "(vs.simulate_response)",
        )
    return h


@dataclass
class Hierarchy:
    """The network at h* with its couplings and readouts (``numeric.NumericExpansion``'s data)."""

    S: NetworkStructure
    pt: NetworkPoint
    readouts: list[CubicReadout]
    couplings: list[ChannelCoupling]

    def orders(self, U: np.ndarray, H: float, s: int, order: int, noise: bool) -> np.ndarray:
        """y_1..y_order at the prediction nodes for samples U (L, m) on the uniform grid of step H, with s
        substeps per interval: (order, L, p) (the eps powers not applied)."""
        pt, W = self.pt, self.S.W
        n, L, p = pt.lam.size, U.shape[0], len(self.readouts)
        h = H / s
        N = s * (L - 1)
        x = np.arange(N + 1) / s  # internal nodes in units of H
        Uin = np.stack([np.interp(x, np.arange(L), U[:, k]) for k in range(U.shape[1])], axis=-1)  # (N+1, m)
        G = [np.stack([getattr(g, f"g{i}") for g in self.couplings], axis=1) for i in range(4)]  # (n, m) each
        Gu = [Uin @ Gi.T for Gi in G]  # (N + 1, n): sum_k g_k u_k at the nodes
        lam, V, Vi = pt.lam, pt.V, pt.Vi
        # a1 exactly (piecewise-linear input): nodes and Gauss nodes
        z = lam * h
        p1, p2 = phi12(z)
        decay = np.exp(z)
        b = Gu[0] @ Vi.T  # (N + 1, n) eigen-coordinates of G0 u
        y = np.zeros((N + 1, n), dtype=complex)
        for j in range(N):
            y[j + 1] = decay * y[j] + h * ((p1 - p2) * b[j] + p2 * b[j + 1])
        a1 = (y @ V.T).real
        Wa1 = a1 @ W.T
        out = np.zeros((order, L, p))
        idx = np.arange(0, N + 1, s)
        F2s = [r.F2 for r in self.readouts]
        fa = [readout_gradient(r, pt, noise) for r in self.readouts]
        for c in range(p):
            out[0, :, c] = a1[idx] @ fa[c]
        if order >= 2:
            sa = 0.5 * pt.a2 * Wa1**2 + Gu[1] * Wa1
            wts = etd_weights(lam * h)
            a2 = (etd_solve(sa @ Vi.T, lam, h, wts) @ V.T).real
            Wa2 = a2 @ W.T
            for c, r in enumerate(self.readouts):
                out[1, :, c] = a2[idx] @ fa[c]
                out[1, :, c] += 0.5 * np.einsum("li,li->l", a1[idx] @ readout_hessian(r, pt, noise), a1[idx])
        if not noise:
            return out
        wts = etd_weights(lam * h)
        # Gauss nodes of each substep: a1 exactly, u linearly
        Wa1g, G1g, G2g = [], [], []
        for u_ in GL3_X:
            zu = z * u_
            q1, q2 = phi12(zu)
            yg = np.exp(zu) * y[:-1] + u_ * h * ((q1 - u_ * q2) * b[:-1] + u_ * q2 * b[1:])
            Wa1g.append((yg @ (W @ V).T).real)
            G1g.append((1 - u_) * Gu[1][:-1] + u_ * Gu[1][1:])
            G2g.append((1 - u_) * Gu[2][:-1] + u_ * Gu[2][1:])
        E = expJ(pt, h)
        Eg = [expJ(pt, h * (1.0 - u_)) for u_ in GL3_X]
        EgW = np.hstack([h * w * e for w, e in zip(GL3_W, Eg)])
        WPsE = [pt.WP @ e.T for e in Eg]

        chunk = max(8, int(CHUNK_BYTES // (48 * n * n)))
        Wa1G, G1G, G2G = np.stack(Wa1g, axis=1), np.stack(G1g, axis=1), np.stack(G2g, axis=1)  # (N, 3, n)
        WPsE_arr = np.stack(WPsE)  # (3, n, n)

        def first_P() -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
            """P1 over the grid: yields (j, W P1(t_j), P1(t_j)) for j = 0..N (sources built a chunk at a time)."""
            P1 = np.zeros((n, n))
            yield 0, W @ P1, P1
            for j0 in range(0, N, chunk):
                j1 = min(N, j0 + chunk)
                coef = pt.a2 * Wa1G[j0:j1] + G1G[j0:j1]  # (K, 3, n)
                src = np.matmul(EgW, (coef[..., None] * WPsE_arr).reshape(j1 - j0, 3 * n, n))
                for i in range(j1 - j0):
                    P1 = E @ P1 @ E.T + src[i] + src[i].T
                    yield j0 + i + 1, W @ P1, P1

        q1 = np.zeros((N + 1, n))
        tr1 = np.zeros((p, N + 1))
        third1 = np.zeros((p, L))  # f'''[a1][P1] at the prediction nodes
        for j, WP1, P1 in first_P():
            q1[j] = np.einsum("ij,ij->i", WP1, W)
            for c, F in enumerate(F2s):
                if np.any(F):
                    tr1[c, j] = np.sum(F * P1)
            if order >= 2 and j % s == 0:
                for c, r in enumerate(self.readouts):
                    if r.cubic:
                        third1[c, j // s] = r.third_on(a1[j], r.select(P1))
        Wm_star = W @ pt.m
        sm1 = pt.l * Wa1 + 0.5 * pt.a2 * q1 + Gu[1] * Wm_star + 0.5 * Gu[2] * pt.qP
        m1 = (etd_solve(sm1 @ Vi.T, lam, h, wts) @ V.T).real
        for c, r in enumerate(self.readouts):
            out[0, :, c] += m1[idx] @ r.f1 + 0.5 * tr1[c, idx]
        if order < 2:
            return out
        # order 2: P2 needs W P1 E_g^T and W a2 at the Gauss nodes (degree-5 interpolation on the nodes)
        tg = (np.arange(N)[:, None] + GL3_X[None, :]).ravel()
        jg, wg = stencil(tg, N)
        jg, wg = jg.reshape(N, 3), wg.reshape(N, 3, STENCIL)
        Wa2g = np.einsum("jgs,jgsn->jgn", wg, Wa2[jg[..., None] + np.arange(STENCIL)])
        gen = first_P()
        buf: dict[int, np.ndarray] = {}  # node -> W P1: the nodes the current chunk's stencils need
        nxt = 0
        P2 = np.zeros((n, n))
        q2 = np.zeros((N + 1, n))
        tr2 = np.zeros((p, N + 1))
        for j0 in range(0, N, chunk):
            j1 = min(N, j0 + chunk)
            lo, hi = int(jg[j0:j1].min()), int(jg[j0:j1].max()) + STENCIL - 1
            while nxt <= hi:
                jj, WP1, _ = next(gen)
                buf[jj] = WP1
                nxt = jj + 1
            for old in [k for k in buf if k < lo]:
                del buf[old]
            stackW = np.stack([buf[k] for k in range(lo, hi + 1)])
            blocks = np.empty((j1 - j0, 3, n, n))
            for g in range(3):
                WE = stackW @ Eg[g].T
                at = (jg[j0:j1, g] - lo)[:, None] + np.arange(STENCIL)
                WP1g = np.einsum("ks,ksab->kab", wg[j0:j1, g], WE[at])
                c1 = pt.a2 * Wa2g[j0:j1, g] + 0.5 * pt.a3 * Wa1G[j0:j1, g] ** 2 + G2G[j0:j1, g] * Wa1G[j0:j1, g]
                c2 = pt.a2 * Wa1G[j0:j1, g] + G1G[j0:j1, g]
                blocks[:, g] = c1[..., None] * WPsE[g] + c2[..., None] * WP1g
            src = np.matmul(EgW, blocks.reshape(j1 - j0, 3 * n, n))
            for i, j in enumerate(range(j0, j1)):
                P2 = E @ P2 @ E.T + src[i] + src[i].T
                q2[j + 1] = np.einsum("ij,ij->i", W @ P2, W)
                for c, F in enumerate(F2s):
                    if np.any(F):
                        tr2[c, j + 1] = np.sum(F * P2)
        Wm1 = m1 @ W.T
        sm2 = (
            pt.l * Wa2
            + 0.5 * pt.a2 * q2
            + pt.a2 * Wa1 * Wm1
            + Wa1**2 * (0.5 * pt.a3 * Wm_star + 0.25 * pt.a4 * pt.qP)
            + 0.5 * pt.a3 * Wa1 * q1
            + Gu[1] * Wm1
            + Gu[2] * Wa1 * Wm_star
            + 0.5 * Gu[2] * q1
            + 0.5 * Gu[3] * Wa1 * pt.qP
        )
        m2 = (etd_solve(sm2 @ Vi.T, lam, h, wts) @ V.T).real
        for c, r in enumerate(self.readouts):
            out[1, :, c] += m2[idx] @ r.f1 + 0.5 * tr2[c, idx] + np.einsum("li,li->l", a1[idx] @ r.F2, m1[idx])
            out[1, :, c] += 0.5 * third1[c]
        return out

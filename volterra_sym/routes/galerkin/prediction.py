"""Forward hierarchy of the Galerkin route: E f(h_t) order by order on a time grid (MATH.md sections 3, 9).

Row vectors r_n(t) on the basis: r_0(t) = l e^{tM};  d/dt r_n = r_n M + sum_k u_k(t) r_{n-1}(t) Gamma_k,
r_n(0) = 0;  the order-n term is r_n(t) . c_f.  Exponential integrator (ETD2) on each step [t_i, t_i + h]:

    r_n(t_i + h) = r_n(t_i) e^{hM} + s_i (P1 - P2) + s_{i+1} P2,   P1 = h phi_1(hM),  P2 = h phi_2(hM),

with s_i = sum_k u_k(t_i) r_{n-1}(t_i) Gamma_k (the source taken linear on the step: exact for order 1 from a
stationary start with a piecewise-linear input, second order in h otherwise).  e^{hM}, P1, P2 come from one
expm of the 3N x 3N matrix [[M, I, 0], [0, 0, I], [0, 0, 0]] h per distinct step length (at most
_STEP_CLASSES); grids with more distinct steps use the eigenbasis of M (when it is well conditioned), where
the same scheme is a per-step scalar recursion.  Cost O(N^2 len(t)) per order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from ...errors import InputError
from ...validate import refusal
from .analytic import require_scipy

_STEP_CLASSES = 16  # distinct step lengths of a grid handled by augmented exponentials


class HierarchySystem(Protocol):
    """What the forward hierarchy reads of a :class:`~.system.GalerkinSystem` (which imports this module)."""

    M: np.ndarray
    Gammas: np.ndarray
    c_f: np.ndarray
    l: np.ndarray | None

    @property
    def N(self) -> int: ...

    @property
    def stationary(self) -> bool: ...

    @property
    def functional(self) -> np.ndarray: ...

    def eigendecomposition(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None: ...


def forward_hierarchy(S: HierarchySystem, u: np.ndarray, tt: np.ndarray, order: int) -> np.ndarray:
    """Orders 0..order of E f(h_t) on the grid tt (validated: t[0] = 0, increasing), u (L, m): (order+1, L, p_out).

    S is a GalerkinSystem, read through :class:`HierarchySystem`.
    """
    L, N = tt.size, S.N
    steps = np.diff(tt)
    classes = np.round(steps / tt[-1], 12) if L > 1 else np.zeros(0)
    keys, cls = np.unique(classes, return_inverse=True)
    if keys.size > _STEP_CLASSES:
        if S.eigendecomposition() is not None:
            return _hierarchy_eig(S, u, steps, order)
        raise refusal(
            "t",
            f"the grid has {keys.size} distinct step lengths; with N = {N} basis functions each needs "
            f"a {3 * N} x {3 * N} matrix exponential: use a grid with at most {_STEP_CLASSES} "
            "distinct steps (e.g. uniform, np.linspace)",
            cls=InputError,
        )
    mats = [_phi_mats(S.M, float(steps[np.nonzero(cls == i)[0][0]])) for i in range(keys.size)]
    R = np.empty((order + 1, L, N))
    R[0, 0] = S.functional
    if S.stationary:
        R[0] = S.l
    else:
        _scan(R[0], np.zeros((L - 1, N)), cls, mats)
    # the source enters as s_i (P1 - P2) + s_{i+1} P2 = sum_k u_k r_{n-1} [Gamma_k (P1 - P2)] + ...: fold Gamma in
    folded = [[(G @ (P1 - P2), G @ P2) for G in S.Gammas] for _, P1, P2 in mats]
    groups: list[tuple[Any, Any]] = (
        [(slice(0, L - 1), slice(1, L))]
        if len(mats) == 1
        else [(idx, idx + 1) for idx in (np.nonzero(cls == i)[0] for i in range(len(mats)))]
    )
    for j in range(1, order + 1):
        F = np.zeros((L - 1, N))
        for i, (idx, nxt) in enumerate(groups):
            r0, r1 = R[j - 1][idx], R[j - 1][nxt]
            for k, (A1, A2) in enumerate(folded[i]):
                F[idx] += u[idx, k : k + 1] * (r0 @ A1) + u[nxt, k : k + 1] * (r1 @ A2)
        R[j, 0] = 0.0
        _scan(R[j], F, cls, mats)
    return R @ S.c_f.T


def _hierarchy_eig(S: HierarchySystem, u: np.ndarray, steps: np.ndarray, order: int) -> np.ndarray:
    """The same ETD2 scheme in the eigenbasis (y = r V): per-step scalars, any number of distinct steps."""
    eig = S.eigendecomposition()
    assert eig is not None  # the caller checked
    lam, V, Vi = eig
    L = steps.size + 1
    z = steps[:, None] * lam[None, :]
    small = np.abs(z) < 1e-3
    zs = np.where(small, 1.0, z)
    E = np.exp(z)
    p1 = np.where(small, 1 + z / 2 + z**2 / 6 + z**3 / 24, (E - 1) / zs)
    p2 = np.where(small, 0.5 + z / 6 + z**2 / 24 + z**3 / 120, (E - 1 - z) / zs**2)
    P1, P2 = steps[:, None] * p1, steps[:, None] * p2
    Gt = [Vi @ G @ V for G in S.Gammas]
    cf = Vi @ S.c_f.T  # (N, p_out)
    Y = np.empty((order + 1, L, S.N), dtype=complex)
    Y[0, 0] = S.functional @ V
    for i in range(L - 1):
        Y[0, i + 1] = Y[0, 0] if S.stationary else Y[0, i] * E[i]
    for j in range(1, order + 1):
        src = sum(u[:, k : k + 1] * (Y[j - 1] @ Gt[k]) for k in range(len(Gt)))
        F = src[:-1] * (P1 - P2) + src[1:] * P2
        Y[j, 0] = 0.0
        for i in range(L - 1):
            Y[j, i + 1] = Y[j, i] * E[i] + F[i]
    return (Y @ cf).real


def _phi_mats(M: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(e^{hM}, h phi_1(hM), h phi_2(hM)) from one expm of [[M, I, 0], [0, 0, I], [0, 0, 0]] h."""
    N = M.shape[0]
    Z = np.zeros((3 * N, 3 * N))
    Z[:N, :N] = M * h
    Z[:N, N : 2 * N] = np.eye(N) * h
    Z[N : 2 * N, 2 * N :] = np.eye(N) * h
    E = require_scipy().linalg.expm(Z)
    return E[:N, :N], E[:N, N : 2 * N], E[:N, 2 * N :] / h


def _scan(R: np.ndarray, F: np.ndarray, cls: np.ndarray, mats: Sequence[tuple[np.ndarray, ...]]) -> None:
    """r_{i+1} = r_i E_i + F_i in place (row vectors).

    (A blocked variant with 3 sqrt(len) matrix-matrix products was measured slower on the shared 2-core machine:
    multithreaded BLAS on mid-sized products loses to one vector-matrix product per step.)
    """
    Es = [mt[0] for mt in mats]
    for i in range(F.shape[0]):
        R[i + 1] = R[i] @ Es[cls[i]] + F[i]

"""The model near its stable fixed point h*: the numbers the small-noise expansion needs (MATH.md section 10).

For dh = [phi(h) + eps gamma(h) u] dt + sigma dW with constant sigma, around h* (phi(h*) = 0):

    J = D phi(h*),   J P + P J^T + D = 0 (D = sigma sigma^T),   m* = -J^{-1} phi''[P] / 2,

and the derivative tensors phi^(k)(h*) (k = 2..4, shape (n,) + (n,) * k), f^(k)(h*) (k = 0..4, shape
(n,) * k per readout component) and, for a state-dependent input coupling (e.g. the input channels of
an input inside the activation, MATH.md section 11), gamma_k^(j)(h*) (j = 0..4, shape (n,) + (n,) * j
per input column k).  ``phi''[x, y]_i = sum_jk phi''_ijk x_j y_k``.

Refusals (before any work): a state-dependent noise (multiplicative), a non-analytic drift, coupling or
readout (Abs, Max, Piecewise, sign, ...), a state dimension beyond ``MAX_STATES``, symbolic parameters
without values, and (numeric engine only) a state-dependent input coupling.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp

from ...errors import ModelError, NotAnalyticError, UnstableError
from ...model.diffusion import Diffusion
from ...model.structure import NetworkStructure, network_structure
from ...validate import refusal

#: largest state dimension of this route (its kernels are exact exponential polynomials, whose number
#: of terms grows like n^4 at order 2)
MAX_STATES = 6

#: working precision of the numerical derivative tensors (ModelFunctions.tensors)
DIFF_DPS = 30

#: the alternatives named by every refusal of this route
ALTERNATIVES = "use method='galerkin' (n <= 4) or Monte Carlo kernels (vs.estimate_kernels)"

_NON_ANALYTIC = (sp.Abs, sp.Max, sp.Min, sp.Piecewise, sp.sign, sp.Heaviside, sp.floor, sp.ceiling)


def check_model_form(model: Diffusion, numeric: bool = False, structure: NetworkStructure | None = None) -> None:
    """Refuse what the expansion does not cover (module docstring), naming the argument and the alternative
    (``numeric``: the numeric engine, no limit on n here; its own refusals are in ``numeric.check_network``;
    ``structure``: the model's network structure, whose drift is analytic by construction: not scanned)."""
    state = set(model.state)
    if model.n > MAX_STATES and not numeric:
        raise ModelError(
            f"model: method='small_noise' builds exact exponential-polynomial kernels for n <= {MAX_STATES} state "
            f"variables, received n = {model.n} (the order-2 kernels have ~n^4 terms); {ALTERNATIVES}"
        )
    if structure is not None:  # constant sigma and C by construction: nothing to scan (and nothing to build)
        pass
    elif model.diffusion.free_symbols & state:
        raise ModelError(
            "diffusion: the noise sigma(h) depends on the state (multiplicative noise); the small-noise expansion "
            f"of method='small_noise' covers additive (constant) noise only; {ALTERNATIVES}"
        )
    if numeric and structure is None and model.coupling.free_symbols & state:
        raise ModelError(
            "coupling: the input coupling gamma(h) depends on the state; the numeric engine of method='small_noise' "
            f"covers a constant coupling gamma = C; use engine='closed_form' (n <= {MAX_STATES}) or {ALTERNATIVES[4:]}"
        )
    scanned = [("readout", model.readout)]
    if structure is None:
        scanned += [("coupling", model.coupling), ("drift", model.drift)]
    for what, mat in scanned[::-1]:
        bad = [e for e in mat if any(e.has(cls) for cls in _NON_ANALYTIC)]
        if bad:
            raise NotAnalyticError(
                f"{what}: {bad[0]} is not analytic (Abs, Max, Piecewise, sign, ...); the small-noise expansion needs "
                "derivatives of order 4 at the fixed point; use an analytic activation (tanh, sigmoid) or "
                + ALTERNATIVES
            )
    missing = sorted(str(s) for s in model.parameters if s not in model.params)
    if missing:
        raise ModelError(
            f"params: method='small_noise' needs numeric values for {missing} (the fixed point is found numerically); "
            "give them as params={'name': value}"
        )


class ModelFunctions:
    """Vectorised NumPy callables of one model: drift phi (..., n), its Jacobian, the derivative tensors.

    SRNNs use their :class:`~volterra_sym.model.structure.NetworkStructure` (phi^(k)_{i j_1..j_k} =
    a^(k)(z_i) W_{i j_1}..W_{i j_k}, no symbolic work); other models (and every readout and state-dependent
    coupling) are differentiated numerically at 30 digits (``mpmath.diff``), once per sorted index tuple.
    """

    def __init__(self, model: Diffusion, structure: NetworkStructure | None = None) -> None:
        """``structure``: the model's :class:`NetworkStructure` when the caller has read it already."""
        vals = model.params
        self.model = model
        self.state = model.state
        self.n = model.n
        self.structure = structure if structure is not None else network_structure(model)
        self.f = model.readout.xreplace(vals)
        #: the input coupling (n x m) at the parameter values; state_coupling: it depends on the state
        self.state_coupling = self.structure is None and bool(model.coupling.free_symbols & set(self.state))
        self.gamma = model.coupling.xreplace(vals) if self.structure is None else None
        self._tensor_cache: dict[tuple, list[np.ndarray]] = {}
        if self.structure is None:  # a network keeps its matrices: its sympy drift is never built here
            self.phi = model.drift.xreplace(vals)
            self._drift = sp.lambdify(self.state, list(self.phi), "numpy")
            self._jac = sp.lambdify(self.state, self.phi.jacobian(self.state).tolist(), "numpy")

    def drift(self, H: np.ndarray) -> np.ndarray:
        """phi(H) for H of shape (..., n)."""
        if self.structure is not None:
            return self.structure.drift(H)
        cols = self._drift(*np.moveaxis(H, -1, 0))
        return np.stack([np.broadcast_to(np.asarray(c, dtype=float), H.shape[:-1]) for c in cols], axis=-1)

    def jacobian(self, h: np.ndarray) -> np.ndarray:
        """D phi(h), shape (n, n)."""
        if self.structure is not None:
            return self.structure.jacobian(h)
        return np.array(self._jac(*h), dtype=float)

    def drift_tensors(self, h: np.ndarray, top: int = 4) -> list[np.ndarray]:
        """[phi(h), D phi(h), ..., D^top phi(h)], D^k phi of shape (n,) + (n,) * k."""
        S = self.structure
        if S is None:
            return self.tensors(self.phi, h, top)
        z = S.W @ h + S.b
        out = [S.drift(h), S.jacobian(h)]
        for k in range(2, top + 1):
            T = S.a(z, k)
            for _ in range(k):
                T = T[..., None] * S.W.reshape((self.n,) + (1,) * (T.ndim - 1) + (self.n,))
            out.append(T)
        return out

    def tensors(self, expr: sp.Matrix, h: np.ndarray, top: int) -> list[np.ndarray]:
        """[T_0, ..., T_top] with T_k[c, i_1..i_k] = d^k expr_c / dh_{i_1}..dh_{i_k} at h (cached: both noise
        orders read the same tensors)."""
        key = (tuple(expr), np.asarray(h, dtype=float).tobytes(), top)
        if key not in self._tensor_cache:
            self._tensor_cache[key] = self._tensors(expr, h, top)
        return self._tensor_cache[key]

    def _tensors(self, expr: sp.Matrix, h: np.ndarray, top: int) -> list[np.ndarray]:
        """Each partial derivative once per sorted index tuple, by mpmath's numerical differentiation at
        ``DIFF_DPS`` digits (``mpmath.diff``: finite differences at raised precision, accurate to float64 for
        an analytic expression) of the expression compiled once: symbolic derivatives of activations swell
        (seconds per tensor at n = 3), these cost milliseconds."""
        n, rows = self.n, expr.rows
        fns = [sp.lambdify(self.state, e, "mpmath") for e in expr]
        with mpmath.workdps(DIFF_DPS):
            x = [mpmath.mpf(float(v)) for v in h]
            out = [np.array([float(mpmath.re(f(*x))) for f in fns])]
            for k in range(1, top + 1):
                T = np.zeros((rows,) + (n,) * k)
                for idx in itertools.combinations_with_replacement(range(n), k):
                    orders = tuple(idx.count(i) for i in range(n))
                    vals = [float(mpmath.re(mpmath.diff(lambda *a, f=f: f(*a), x, orders))) for f in fns]
                    for perm in set(itertools.permutations(idx)):
                        where: tuple[Any, ...] = (slice(None), *perm)
                        T[where] = vals
                out.append(T)
        return out


@dataclass
class LocalData:
    """The expansion's data at h* (module docstring).  Shapes: h, m (n,); J, P, D (n, n); g (n, m) (the
    coupling gamma(h*)); phi[k] (n,) + (n,) * k for k = 2..4 (phi[0], phi[1] are phi(h*) and J); f[c][k]
    (n,) * k; gam[k][j] = D^j gamma_k(h*), shape (n,) + (n,) * j, j = 0..4 (None: a constant coupling)."""

    h: np.ndarray
    J: np.ndarray
    D: np.ndarray
    g: np.ndarray
    P: np.ndarray
    m: np.ndarray
    phi: list[np.ndarray]
    f: list[list[np.ndarray]]
    eigenvalues: np.ndarray
    gam: list[list[np.ndarray]] | None = None


def lyapunov(J: np.ndarray, D: np.ndarray) -> np.ndarray:
    """P with J P + P J^T + D = 0 (Kronecker solve; n <= MAX_STATES)."""
    n = J.shape[0]
    eye = np.eye(n)
    K = np.kron(J, eye) + np.kron(eye, J)
    P = np.linalg.solve(K, -D.reshape(-1)).reshape(n, n)
    return 0.5 * (P + P.T)


def local_data(model: Diffusion, funcs: ModelFunctions, h: np.ndarray, noise_order: int) -> LocalData:
    """Everything of the module docstring at the fixed point ``h`` (``noise_order=0``: P = m* = 0)."""
    vals = model.params
    D = np.array(model.D.xreplace(vals).evalf(), dtype=float)
    if funcs.state_coupling:
        assert funcs.gamma is not None
        gam = [funcs.tensors(funcs.gamma[:, k], h, 4) for k in range(model.m)]
        g = np.stack([gk[0] for gk in gam], axis=1)
    else:
        gam = None
        g = np.array(model.coupling.xreplace(vals).evalf(), dtype=float)
    phi = funcs.drift_tensors(h, 4)
    J = phi[1]
    eig = np.linalg.eigvals(J)
    if not np.all(np.isfinite(eig)) or np.max(eig.real) >= 0:
        raise UnstableError(
            f"model: the Jacobian at the fixed point h* = {np.round(h, 6).tolist()} has an eigenvalue with Re >= 0 "
            f"({eig[np.argmax(eig.real)]:.4g}); the small-noise expansion needs a stable fixed point; {ALTERNATIVES}"
        )
    fcomp = []
    for c in range(model.p):
        fc = funcs.tensors(funcs.f[c : c + 1, :], h, 4)
        fcomp.append([t[0] for t in fc])
    if noise_order == 0:
        P = np.zeros_like(J)
        m = np.zeros(model.n)
    else:
        P = lyapunov(J, D)
        m = -np.linalg.solve(J, 0.5 * np.einsum("ijk,jk->i", phi[2], P))
    if not (np.all(np.isfinite(P)) and np.all(np.isfinite(m))):
        raise refusal("model", "the Lyapunov covariance at h* is not finite; " + ALTERNATIVES)
    return LocalData(h=h, J=J, D=D, g=g, P=P, m=m, phi=phi, f=fcomp, eigenvalues=eig, gam=gam)


#: the eigenbasis of J is used when its condition number is below this (otherwise e^{J t} is built from
#: the exact spectral decomposition of the linearised model, Jordan blocks included)
MAX_MODAL_CONDITION = 1e6


def to_modal(loc: LocalData) -> LocalData | None:
    """The same data in J's eigenbasis h = h* + V y (J = V diag(lambda) V^{-1}); None when V is singular or
    ill-conditioned (a defective or nearly defective J).  Every tensor transforms covariantly
    (T[i, j..] -> V^{-1}[i, a] T[a, b..] V[b, j]..), so the kernels are unchanged; e^{J t} is diagonal."""
    lam, V = np.linalg.eig(loc.J)
    if not np.all(np.isfinite(V)) or np.linalg.cond(V) > MAX_MODAL_CONDITION:
        return None
    Vi = np.linalg.inv(V)

    def down(T: np.ndarray, first_up: bool) -> np.ndarray:
        out = T.astype(complex)
        axes = range(1 if first_up else 0, T.ndim)
        if first_up:
            out = np.tensordot(Vi, out, axes=(1, 0))
        for ax in axes:
            out = np.moveaxis(np.tensordot(out, V, axes=(ax, 0)), -1, ax)
        return out

    return LocalData(
        h=loc.h,
        J=np.diag(lam),
        D=Vi @ loc.D @ Vi.T,
        g=Vi @ loc.g,
        P=Vi @ loc.P @ Vi.T,
        m=Vi @ loc.m,
        phi=[Vi @ loc.phi[0], np.diag(lam)] + [down(T, True) for T in loc.phi[2:]],
        f=[[fc[0]] + [down(T, False) for T in fc[1:]] for fc in loc.f],
        eigenvalues=lam,
        gam=None if loc.gam is None else [[Vi @ gk[0]] + [down(T, True) for T in gk[1:]] for gk in loc.gam],
    )

"""Monte Carlo ensembles of the perturbed SDE (MATH.md sections 1 and 8).

    dh = [ phi(h) + eps * gamma(h) u_t ] dt + sigma(h) dW,   h_0 ~ mu_0,   y = f(h)

:func:`simulate` estimates E f(h_t) on a time grid with its standard error;
:func:`simulate_response` estimates E f(h^eps_t) - E f(h^0_t) with common random
numbers (same initial draws and Brownian increments for both), whose variance is
O(eps^2) instead of O(1).

Schemes
-------
``"euler"``  Euler-Maruyama on ``substeps`` equal sub-steps of every grid interval; any
             Diffusion. Weak order 1 (bias of E f is O(dt)). The input is the
             piecewise-**linear** interpolant of its grid samples (a callable is sampled
             at the grid times, as for the exact scheme and the oracle); each sub-step
             uses the exact average of that interpolant over the sub-step (the value at
             its midpoint), so the input adds no O(dt) error of its own: the bias comes
             from discretising the drift and the noise alone.
``"exact"``  exact Gaussian transition of a linear SRNN (affine drift -A h + c, constant
             sigma and coupling C): h_{k+1} = Phi h_k + G0 g_k + G1 (g_{k+1} - g_k)/dt + xi,
             xi ~ N(0, Q), g = c + eps C u (see :class:`volterra_sym.checks.oracle.Transition`).
             The input is taken piecewise **linear** between grid samples and integrated
             exactly, so there is no discretisation bias at any dt (same convention as
             :func:`volterra_sym.checks.oracle.gaussian_oracle`).

Reproducibility
---------------
Paths are grouped in blocks of ``BLOCK`` = 64 consecutive paths; block b draws all its
normals (initial law, burn-in, then the increments, step by step) from its own stream
``SFC64(SeedSequence(seed, spawn_key=(b,)))``.  Chunks are whole numbers of blocks,
every path-wise operation is element-wise (no BLAS), per-block statistics are computed
on contiguous copies and merged in block order (Chan's formula).  So the same seed gives
bit-identical results whatever ``chunk`` or ``max_memory`` is, and with ``client=`` (a
dask.distributed Client) the chunks run as dask tasks with the same numbers
(:mod:`volterra_sym.checks.distributed`, docs/distributed.md).  Long runs show a tqdm progress bar on
a terminal (``progress=``; no bar when tqdm is not installed).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from .. import limits
from ..checks.oracle import (
    InputLike,
    LinearParts,
    check_times,
    initial_arrays,
    input_on_grid,
    linear_arrays,
    numeric_model,
    transition,
)
from ..errors import NotLinearError, SimulationError, describe
from ..model.diffusion import Diffusion, Gaussian, PointMass, Stationary
from ..model.structure import NetworkStructure, network_structure
from ..validate import check_eps, check_flag, check_positive, refusal
from .blocks import BLOCK, ProgressBar, block_normals, block_stream
from .burn_in import AUTO, check_burn_in, relaxation_burn_in
from .distributed import check_client
from .settings import DEFAULT_PATHS, SCHEMES, MonteCarlo, resolve

__all__ = ["BLOCK", "SCHEMES", "SimulationResult", "simulate", "simulate_response"]

_SLAB_ELEMENTS = 2**17  # aim: one slab array (steps x state x paths) of ~1 MB stays in cache


@dataclass(frozen=True)
class SimulationResult:
    """Monte Carlo estimate on the grid ``t``.

    mean, stderr: shape (len(t),) for a scalar readout, (len(t), p) for a vector readout.
    For :func:`simulate` they estimate E f(h_t); for :func:`simulate_response` they estimate
    E f(h^eps_t) - E f(h^0_t).  stderr = sample std / sqrt(paths) (inf when paths = 1).
    samples: per-path values, shape (paths, len(t)) or (paths, len(t), p), when requested.
    """

    t: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    paths: int
    seed: int
    scheme: str
    eps: float
    substeps: int = 1
    kind: str = "expectation"
    samples: np.ndarray | None = None
    burn_in: float = 0.0  #: the burn-in time run before t = 0 (checks/burn_in.py), 0 for an exact start

    def __repr__(self) -> str:
        return (
            f"SimulationResult(kind={self.kind!r}, scheme={self.scheme!r}, paths={self.paths}, seed={self.seed}, "
            f"eps={self.eps}, burn_in={self.burn_in:g}, len(t)={self.t.size}, "
            f"max stderr={float(np.max(self.stderr)):.3g})"
        )


# --------------------------------------------------------------------------- compiled model


def _vector_function(
    exprs: Sequence[sp.Expr], state: tuple[sp.Symbol, ...], inputs: tuple[sp.Symbol, ...] = ()
) -> Callable[..., np.ndarray]:
    """Lambdify expressions of the state into H (..., n, P) -> (..., len(exprs), P).

    With ``inputs`` the callable takes the input values too: call(H, v), v of shape (len(inputs),).
    """
    # terms printed in the order they are stored (no sorting: large network drifts print in linear time)
    printer = NumPyPrinter(
        {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True, "user_functions": {},
         "order": "none"}
    )  # fmt: skip
    fn = sp.lambdify((*state, *inputs), list(exprs), modules="numpy", printer=printer)
    n, k = len(state), len(exprs)

    def call(H: np.ndarray, v: Sequence[float] = ()) -> np.ndarray:
        vals = fn(*[H[..., i, :] for i in range(n)], *v)
        out = np.empty(H.shape[:-2] + (k, H.shape[-1]))
        for j, v in enumerate(vals):
            out[..., j, :] = v
        return out

    return call


class _NetworkDrift:
    """phi(H) = -Gamma H + a(W H + b) for H (..., n, P) by matrix products (picklable for dask).

    Each product runs per block of ``BLOCK`` paths (an (n, n) x (n, 64) product: the same BLAS call
    whatever the chunking), so the numbers do not depend on ``chunk`` / ``max_memory``.
    """

    def __init__(self, net: NetworkStructure):
        self.net = net
        G = net.Gamma
        self.gamma_diag = np.diag(G).copy() if np.array_equal(G, np.diag(np.diag(G))) else None

    def __call__(self, H: np.ndarray) -> np.ndarray:
        return per_block(lambda X: _block_drift(self.net, self.gamma_diag, X), H)


def per_block(fn: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> np.ndarray:
    """fn applied to the paths of X (..., k, P) in blocks of ``BLOCK`` columns: fn gets (..., blocks, k, 64)
    (and the last partial block alone), so a matrix product inside fn has the same shape whatever the
    chunking (bit-identical numbers for any ``chunk``)."""
    P = X.shape[-1]
    full = P - P % BLOCK
    if not full:
        return fn(X)
    Xb = np.moveaxis(X[..., :full].reshape(X.shape[:-1] + (full // BLOCK, BLOCK)), -2, -3)
    out = fn(Xb)
    out = np.moveaxis(out, -3, -2)
    out = out.reshape(out.shape[:-2] + (full,))
    if full == P:
        return out
    return np.concatenate([out, fn(X[..., full:])], axis=-1)


def noise_product(Lq: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """Lq @ Z over the state axis for Lq (L, n, w) and Z (L, w, P): element-wise for a diagonal Lq,
    block-wise matrix products for a large dense one, element-wise sums (:func:`_lmul`) otherwise."""
    L, n, w = Lq.shape
    if n == w and not np.any(Lq * (1.0 - np.eye(n))):
        return np.diagonal(Lq, axis1=1, axis2=2)[:, :, None] * Z
    if n * w > 256:
        return per_block(lambda X: np.matmul(Lq[:, None] if X.ndim == 4 else Lq, X), Z)
    return _lmul(Lq, Z)


def _block_drift(net: NetworkStructure, gamma_diag: np.ndarray | None, H: np.ndarray) -> np.ndarray:
    """-Gamma H + a(W H + b) for stacked (..., n, k) blocks."""
    out = net.a(np.matmul(net.W, H) + net.b[:, None])
    if gamma_diag is not None:
        out -= gamma_diag[:, None] * H
    else:
        out -= np.matmul(net.Gamma, H)
    return out


def _constant(mat: sp.Matrix, state: tuple[sp.Symbol, ...]) -> np.ndarray | None:
    if any(e.free_symbols & set(state) for e in mat):
        return None
    return np.array(mat.tolist(), dtype=float).reshape(mat.shape)


@dataclass
class _Compiled:
    """Numeric form of a model: what the stepping loops need."""

    n: int
    r: int
    m: int
    p: int
    vector: bool
    parts: LinearParts | None  # set for linear SRNNs
    drift: Callable[[np.ndarray], np.ndarray]
    sigma: np.ndarray | None  # constant sigma (n x r) or None
    sigma_fn: Callable[[np.ndarray], np.ndarray] | None  # (..., n) -> (..., n*r), row-major
    gamma: np.ndarray | None
    gamma_fn: Callable[[np.ndarray], np.ndarray] | None
    readout: Callable[[np.ndarray], np.ndarray]
    model: Diffusion
    drift_u: Callable[..., np.ndarray] | None = None  # (H, v) -> F(H, v): the whole drift at input v = eps u


def _compile(model: Diffusion) -> _Compiled:
    num = numeric_model(model)
    st = num.state
    net = network_structure(num)
    if net is not None and net.input == "outside":  # networks as matrices: drift by matrix products
        parts_net = linear_arrays(num) if net.linear else None
        return _Compiled(
            n=num.n, r=net.r, m=net.m, p=num.p, vector=num.vector_readout, parts=parts_net,
            drift=_NetworkDrift(net), sigma=net.sigma, sigma_fn=None, gamma=net.C, gamma_fn=None,
            readout=_vector_function(list(num.readout), st), model=num,
        )  # fmt: skip
    try:
        parts: LinearParts | None = linear_arrays(num)
    except NotLinearError:
        parts = None
    sigma, gamma = _constant(num.diffusion, st), _constant(num.coupling, st)
    drift_u = None
    if num.general_input:
        # the TRUE drift F(h, eps u) = phi(h, eps u) + gamma(h, eps u) eps u, simulated as it is (not expanded)
        whole = num.drift + num.coupling * sp.Matrix(num.inputs)
        drift_u = _vector_function(list(whole), st, num.inputs)
        gamma = np.zeros((num.n, num.m))
    return _Compiled(
        n=num.n,
        r=num.r,
        m=num.m,
        p=num.p,
        vector=num.vector_readout,
        parts=parts,
        drift=_vector_function(list(num.drift), st),
        sigma=sigma,
        sigma_fn=None if sigma is not None else _vector_function(list(num.diffusion), st),
        gamma=gamma,
        gamma_fn=None if gamma is not None else _vector_function(list(num.coupling), st),
        readout=_vector_function(list(num.readout), st),
        model=num,
        drift_u=drift_u,
    )


# --------------------------------------------------------------------------- element-wise algebra


def _lmul(M: np.ndarray, X: np.ndarray, out: np.ndarray | None = None, tmp: np.ndarray | None = None) -> np.ndarray:
    """M @ X over the state axis, element-wise (bit-identical whatever the number of paths).

    X (..., k, P) with paths last; M (q, k), or (L, 1, ..., q, k) per leading step.
    Each output row is a sum of k scaled contiguous rows: no BLAS, no reordering.
    """
    k = X.shape[-2]
    out = np.multiply(M[..., :, 0, None], X[..., 0:1, :], out=out)
    for j in range(1, k):
        tmp = np.multiply(M[..., :, j, None], X[..., j : j + 1, :], out=tmp)
        out += tmp
    return out


def sqrtm_psd(S: np.ndarray) -> np.ndarray:
    """L with L L^T = S for a symmetric positive semi-definite S (eigen-decomposition)."""
    w, V = np.linalg.eigh(0.5 * (S + S.T))
    scale = max(float(np.max(np.abs(w))), 1e-300)
    if np.min(w) < -1e-10 * scale:
        raise SimulationError(f"initial: the covariance has a negative eigenvalue {np.min(w):.3g}; give a PSD matrix")
    return V * np.sqrt(np.clip(w, 0.0, None))


# --------------------------------------------------------------------------- stepping plans


@dataclass
class _Plan:
    """Per fine step: size, grid interval, recording flag, and the affine/forcing data."""

    scheme: str  # "exact", "affine" (linear Euler) or "general" (any Euler)
    dts: np.ndarray  # (Nf,)
    interval: np.ndarray  # (Nf,) grid interval k of each fine step
    times: np.ndarray  # (Nf,) time reached after each fine step
    record: np.ndarray  # (Nf,) grid index reached after the step, or -1
    w: int  # normals per step and path
    kinds: np.ndarray  # (Nf,) index into M / Lq
    M: np.ndarray | None  # (K, n, n) one-step matrix of the affine schemes: h' = M h + a + Lq z
    Lq: np.ndarray | None  # (K, n, w) noise factor, None if sigma depends on h
    a: np.ndarray  # (Nf, E, n) deterministic increment (affine) or eps*C u (general)
    U: np.ndarray  # (Nf, m) input per fine step (average of the piecewise-linear input over it)
    eps: np.ndarray  # (E,)


def _fine_grid(t: np.ndarray, substeps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    s = substeps
    dt = np.diff(t)
    interval = np.repeat(np.arange(dt.size), s)
    dts = dt[interval] / s
    j = np.tile(np.arange(1, s + 1), dt.size)
    times = t[interval] + j * dts
    times[j == s] = t[interval[j == s] + 1]
    record = np.where(j == s, interval + 1, -1)
    return dts, interval, times, record


def _kinds(dts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group equal steps (up to 1e-13 relative): (kinds (Nf,), representative steps (K,))."""
    if dts.size == 0:
        return np.zeros(0, dtype=int), dts
    scale = 10.0 ** (12 - np.floor(np.log10(dts)))
    keys = np.round(dts * scale) / scale
    _, first, kinds = np.unique(keys, return_index=True, return_inverse=True)
    return kinds.reshape(-1), dts[first]


def _plan(cm: _Compiled, scheme: str, t: np.ndarray, U: np.ndarray, eps: np.ndarray, substeps: int) -> _Plan:
    dts, interval, times, record = _fine_grid(t, substeps)
    kinds, reps = _kinds(dts)
    # input per fine step: the exact average of the piecewise-linear input over the step
    frac = (np.tile(np.arange(substeps), t.size - 1) + 0.5) / substeps
    Uf = U[interval] + frac[:, None] * (U[interval + 1] - U[interval])
    n = cm.n
    if scheme == "exact":
        parts = cm.parts
        assert parts is not None
        trs = [transition(parts.A, parts.D, float(d)) for d in reps]
        M = np.array([tr.Phi for tr in trs])
        Lq: np.ndarray | None = np.array([sqrtm_psd(tr.Q) for tr in trs])
        g = parts.c[None, None, :] + eps[None, :, None] * (U @ parts.C.T)[:, None, :]  # (nt, E, n)
        G0 = np.array([tr.G0 for tr in trs])[kinds]
        G1 = np.array([tr.G1 for tr in trs])[kinds]
        a = np.einsum("kij,kej->kei", G0, g[:-1]) + np.einsum("kij,kej->kei", G1, g[1:] - g[:-1]) / dts[:, None, None]
        return _Plan("exact", dts, interval, times, record, n, kinds, M, Lq, a, Uf, eps)
    Lq = None if cm.sigma is None else np.sqrt(reps)[:, None, None] * cm.sigma[None]
    forcing = np.zeros((dts.size, eps.size, n))
    if cm.gamma is not None:
        forcing = eps[None, :, None] * (Uf @ cm.gamma.T)[:, None, :]
    # the affine Euler plan sums n columns element-wise: beyond ~16 units a network's matrix products are faster
    matrices = isinstance(cm.drift, _NetworkDrift) and n > 16
    if cm.parts is not None and cm.sigma is not None and cm.gamma is not None and not matrices:
        A, c = cm.parts.A, cm.parts.c
        M = np.array([np.eye(n) - A * d for d in reps])
        a = (c[None, None, :] + forcing) * dts[:, None, None]
        return _Plan("affine", dts, interval, times, record, cm.r, kinds, M, Lq, a, Uf, eps)
    return _Plan("general", dts, interval, times, record, cm.r, kinds, None, Lq, forcing, Uf, eps)


# --------------------------------------------------------------------------- the stepping loop


def _advance(
    cm: _Compiled,
    plan: _Plan,
    H: np.ndarray,
    streams: list[tuple[np.random.Generator, int]],
    slab: int,
    on_record: Callable[[np.ndarray, np.ndarray], None] | None,
    progress: ProgressBar,
) -> np.ndarray:
    """Step the ensemble H (E, n, P) through the plan; call on_record(grid_idx, states (R, E, n, P))."""
    Nf = plan.dts.size
    E, n, P = H.shape
    tmp = np.empty((E, n, P))
    cols = [] if plan.M is None else [[m[:, i, None] for i in range(n)] for m in plan.M]  # column views
    for j0 in range(0, Nf, slab):
        j1 = min(Nf, j0 + slab)
        L = j1 - j0
        Z = block_normals(streams, (L, plan.w))  # (L, w, P)
        kinds = plan.kinds[j0:j1]
        noise = None if plan.Lq is None else noise_product(plan.Lq[kinds], Z)  # (L, n, P)
        Hs = np.empty((L + 1, E, n, P))
        Hs[0] = H
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            if plan.M is not None:
                assert noise is not None
                if E == 1:  # add in place: saves an (L, n, P) temporary in the common case
                    noise += plan.a[j0:j1, 0, :, None]
                    incr = noise[:, None]
                else:
                    incr = noise[:, None] + plan.a[j0:j1, :, :, None]  # (L, E, n, P)
                for j in range(L):  # inlined _lmul: out = sum_i M[:, i] h_i + incr (element-wise)
                    Mc, Hj, out = cols[kinds[j]], Hs[j], Hs[j + 1]
                    np.multiply(Mc[0], Hj[:, 0:1], out=out)
                    out += incr[j]
                    for i in range(1, n):
                        np.multiply(Mc[i], Hj[:, i : i + 1], out=tmp)
                        out += tmp
            else:
                for j in range(L):
                    _general_step(cm, plan, j0 + j, Hs[j], Hs[j + 1], Z[j], None if noise is None else noise[j])
        finite = np.ones(L, dtype=bool)
        if not np.isfinite(np.sum(Hs[1:])):  # one cheap pass; locate the first bad step only on failure
            finite = np.asarray(np.isfinite(Hs[1:]).reshape(L, -1).all(axis=1))
        if not finite.all():
            bad = int(np.argmin(finite))
            raise SimulationError(
                f"simulation produced non-finite states at t = {plan.times[j0 + bad]:.6g} (step {j0 + bad + 1}); "
                "the model probably blows up (unstable drift, or a step too large for Euler: try more substeps=, "
                "a smaller input amplitude eps, or check the parameters)"
            )
        rec = plan.record[j0:j1]
        if on_record is not None and np.any(rec >= 0):
            sel = rec >= 0
            on_record(rec[sel], Hs[1:][sel])
        H = Hs[L].copy()
        progress.update(L * P)
    return H


def _general_step(
    cm: _Compiled, plan: _Plan, j: int, H: np.ndarray, out: np.ndarray, Z: np.ndarray, noise: np.ndarray | None
) -> None:
    """One Euler-Maruyama step for any model: out = H + (phi + eps gamma u) dt + sigma dW. H (E, n, P)."""
    dt = plan.dts[j]
    if cm.drift_u is not None:
        drift = np.stack([cm.drift_u(H[e], plan.eps[e] * plan.U[j]) for e in range(H.shape[0])])
    else:
        drift = cm.drift(H)  # (E, n, P)
    if cm.gamma_fn is None:
        drift += plan.a[j][:, :, None]
    else:
        G = cm.gamma_fn(H).reshape(H.shape[:-2] + (cm.n, cm.m, H.shape[-1]))  # (E, n, m, P)
        for k in range(cm.m):
            drift += (plan.eps * plan.U[j, k])[:, None, None] * G[..., k, :]
    np.multiply(drift, dt, out=out)
    out += H
    if noise is not None:
        out += noise[None]
    else:
        assert cm.sigma_fn is not None
        S = cm.sigma_fn(H).reshape(H.shape[:-2] + (cm.n, cm.r, H.shape[-1]))  # (E, n, r, P)
        dW = math.sqrt(dt) * Z  # (r, P)
        for k in range(cm.r):
            out += S[..., k, :] * dW[None, k : k + 1, :]


# --------------------------------------------------------------------------- statistics


class BlockStats:
    """Running mean and M2 per grid time, merged block by block in path order (Chan et al. 1979).

    Per-block means and M2 are sums over contiguous rows of ``BLOCK`` values (identical for
    any chunking); they are kept for the whole chunk and merged in path order at its end.
    """

    def __init__(self, nt: int, p: int, samples: np.ndarray | None):
        self.mean = np.zeros((nt, p))
        self.M2 = np.zeros((nt, p))
        self.samples = samples
        self.count = 0

    def start_chunk(self, sizes: list[int]) -> None:
        nt, p = self.mean.shape
        self.sizes = sizes
        self.bmean = np.zeros((nt, p, len(sizes)))
        self.bM2 = np.zeros((nt, p, len(sizes)))

    def add(self, rows: np.ndarray, X: np.ndarray) -> None:
        """X (R, p, P): readout values of the current chunk at the given grid rows."""
        R, p, P = X.shape
        full = sum(1 for b in self.sizes if b == BLOCK)
        Xf = np.ascontiguousarray(X[:, :, : full * BLOCK]).reshape(R, p, full, BLOCK)
        mf = Xf.sum(axis=-1) / BLOCK
        self.bmean[rows, :, :full] = mf
        self.bM2[rows, :, :full] = ((Xf - mf[..., None]) ** 2).sum(axis=-1)
        if full < len(self.sizes):  # the last, partial block of the run
            Xl = np.ascontiguousarray(X[:, :, full * BLOCK :])
            ml = Xl.sum(axis=-1) / Xl.shape[-1]
            self.bmean[rows, :, full] = ml
            self.bM2[rows, :, full] = ((Xl - ml[..., None]) ** 2).sum(axis=-1)
        if self.samples is not None:
            self.samples[self.count : self.count + P, rows, :] = X.transpose(2, 0, 1)

    def end_chunk(self) -> None:
        """Merge the chunk's blocks into the totals, in path order."""
        for i, b in enumerate(self.sizes):
            mb, M2b = self.bmean[..., i], self.bM2[..., i]
            na = self.count
            if na == 0:
                self.mean, self.M2 = mb.copy(), M2b.copy()
            else:
                tot = na + b
                delta = mb - self.mean
                self.mean += delta * (b / tot)
                self.M2 += M2b + delta * delta * (na * b / tot)
            self.count += b


# --------------------------------------------------------------------------- validation


def _check_scheme(scheme: str, cm: _Compiled) -> str:
    """The scheme (already one of SCHEMES: MonteCarlo checks it) fits the model."""
    if scheme == "exact" and (cm.parts is None or cm.sigma is None or cm.gamma is None):
        raise SimulationError(
            "scheme: 'exact' needs a linear SRNN (affine drift, constant sigma and coupling), but the model "
            f"{cm.model.name!r} has drift {_drift_text(cm)}; use scheme='euler' (with substeps= for accuracy)"
        )
    return scheme


def _drift_text(cm: _Compiled) -> str:
    """The drift for a message: a network's activation, or the (short) expressions."""
    if isinstance(cm.drift, _NetworkDrift):
        return f"-Gamma h + {cm.drift.net.activation}(W h + b) ({cm.n} units)"
    return str(list(cm.model.drift))


# --------------------------------------------------------------------------- driver


def _initial_sampler(
    cm: _Compiled, plan: _Plan, burn_in: float | str, burn_in_dt: float | None
) -> tuple[np.ndarray, np.ndarray, _Plan | None, float]:
    """(mean, sqrt-covariance) of the initial draw, an optional burn-in plan and the burn-in time
    (checks/burn_in.py: "auto" is 20 relaxation times for a stationary start without a closed form)."""
    model, n = cm.model, cm.n
    init = model.initial
    dt = burn_in_dt if burn_in_dt is not None else float(np.min(plan.dts))
    if burn_in == AUTO:
        if isinstance(init, Stationary) and cm.parts is None:
            burn_in = relaxation_burn_in(model, dt)[0]
    elif not isinstance(init, Stationary):
        raise refusal("burn_in", f"only used with a Stationary() start, but the model starts at {init!r}")
    if not isinstance(burn_in, str):
        burn = float(burn_in)
        check_burn_in(burn, dt, "burn_in_dt")
        if burn == 0.0:
            return np.zeros(n), np.zeros((n, n)), None, 0.0
        steps = max(1, math.ceil(burn / dt - 1e-9))
        limits.check_grid_points(  # before allocating them
            steps + 1, "burn_in", f"use a shorter burn_in or a larger burn_in_dt (now {dt:.3g})"
        )
        tb = np.linspace(0.0, burn, steps + 1)
        scheme = "exact" if plan.scheme == "exact" else "euler"
        bplan = _plan(cm, scheme, tb, np.zeros((tb.size, cm.m)), np.zeros(1), 1)
        return np.zeros(n), np.zeros((n, n)), bplan, burn
    if isinstance(init, (PointMass, Gaussian, Stationary)):
        m0, S0 = initial_arrays(model, cm.parts)
        return m0, sqrtm_psd(S0), None, 0.0
    raise SimulationError(f"initial: unsupported initial law {describe(init)}")


def _bytes_per_path(L: int, w: int, n: int, p: int, E: int, r: int, m: int) -> int:
    """Working memory per path for a slab of L steps (states, normals, increments, readouts)."""
    return 8 * (L * (w + n + 3 * E * n + E * p + 3 * p) + E * (4 * n + n * r + n * m + p))


@dataclass
class _ChunkJob:
    """What one chunk of seed blocks needs (picklable: shipped to dask workers as is)."""

    cm: _Compiled
    plan: _Plan
    bplan: _Plan | None
    m0: np.ndarray
    L0: np.ndarray
    seed: int
    paths: int
    slab: int
    kind: str
    t: np.ndarray
    return_samples: bool


def _simulate_chunk(
    job: _ChunkJob, blocks: Sequence[int], progress: ProgressBar | None = None
) -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray | None]:
    """Run the paths of ``blocks``: (block sizes, per-block means, per-block M2, samples or None)."""
    cm, plan, bplan, tt = job.cm, job.plan, job.bplan, job.t
    prog = progress if progress is not None else ProgressBar(False, 1)
    sizes = [min(BLOCK, job.paths - b * BLOCK) for b in blocks]
    P = sum(sizes)
    E, n, p = plan.eps.size, cm.n, cm.p
    samples = np.empty((P, tt.size, p)) if job.return_samples else None
    stats = BlockStats(tt.size, p, samples)
    streams = [(block_stream(job.seed, b), size) for b, size in zip(blocks, sizes)]

    def on_record(rows: np.ndarray, states: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            F = cm.readout(states)  # (R, E, p, P)
        X = F[:, 0] if job.kind == "expectation" else F[:, 1] - F[:, 0]
        if not np.all(np.isfinite(X)):
            bad = int(np.argmin(np.isfinite(X).reshape(X.shape[0], -1).all(axis=1)))
            raise SimulationError(
                f"readout: f(h) is not finite at t = {tt[rows[bad]]:.6g} for some path; the model probably "
                "blows up, or the readout is undefined on part of the state space"
            )
        with np.errstate(over="ignore", invalid="ignore"):  # overflowing statistics are refused at the end
            stats.add(rows, X)

    H0 = job.m0[:, None] + _lmul(job.L0, block_normals(streams, (n,)))  # (n, P)
    if bplan is not None:
        H0 = _advance(cm, bplan, H0[None], streams, job.slab, None, prog)[0]
    H = np.ascontiguousarray(np.broadcast_to(H0, (E,) + H0.shape))
    stats.start_chunk(sizes)
    on_record(np.array([0]), H[None])
    _advance(cm, plan, H, streams, job.slab, on_record, prog)
    return sizes, stats.bmean, stats.bM2, samples


def _merge_chunk(stats: BlockStats, result: tuple) -> None:
    """Merge one chunk's per-block statistics (and samples) into the totals, in block order."""
    sizes, bmean, bM2, samples = result
    if stats.samples is not None and samples is not None:
        stats.samples[stats.count : stats.count + samples.shape[0]] = samples
    stats.sizes, stats.bmean, stats.bM2 = sizes, bmean, bM2
    with np.errstate(over="ignore", invalid="ignore"):  # overflowing statistics are refused at the end
        stats.end_chunk()


def _run(
    model: Diffusion, u: InputLike, t: Any, mc: MonteCarlo, eps_values: Sequence[float], kind: str, return_samples: Any
) -> SimulationResult:
    """One Monte Carlo run with the settings ``mc`` (resolved: its fields set) for the amplitudes ``eps_values``
    (one: E f(h); two, 0 and eps: the common-random-number response)."""
    assert mc.paths is not None and mc.seed is not None and mc.scheme is not None and mc.substeps is not None
    paths, seed, substeps, chunk = mc.paths, mc.seed, mc.substeps, mc.chunk
    mem = limits.MC_MEMORY if mc.max_memory is None else mc.max_memory
    check_positive(mem, "max_memory")  # vs.limits.MC_MEMORY may have been configured to anything
    burn = check_burn_in(mc.burn_in)
    check_flag(return_samples, "return_samples")
    check_client(mc.client)  # a bad or unreachable scheduler fails here, once, before any work
    cm = _compile(model)
    scheme = _check_scheme(mc.scheme, cm)
    if scheme == "exact" and substeps != 1:
        raise refusal("substeps", f"the exact scheme has no discretisation error, received substeps={substeps}")
    tt = check_times(t)
    limits.check_grid_points(  # before the step plan
        (tt.size - 1) * substeps + 1, "t refined by substeps", f"use fewer points or substeps (now {substeps})"
    )
    U = input_on_grid(u, tt, cm.m)
    eps_arr = np.array(eps_values, dtype=float)
    plan = _plan(cm, scheme, tt, U, eps_arr, substeps)
    m0, L0, bplan, burn_time = _initial_sampler(cm, plan, burn, mc.burn_in_dt)
    limits.check_mc_work(paths, plan.dts.size + (0 if bplan is None else bplan.dts.size), cm.n * eps_arr.size)
    slab, per_chunk = _layout(cm, plan, tt.size, paths, chunk, mem)
    nt, p = tt.size, cm.p
    samples = None
    if return_samples:
        need = paths * nt * p * 8
        if need > mem:
            raise SimulationError(
                f"return_samples: storing {paths} x {nt} x {p} samples needs {need} bytes > max_memory={int(mem)}; "
                "raise max_memory or use fewer paths / a coarser grid"
            )
        samples = np.empty((paths, nt, p))
    stats = BlockStats(nt, p, samples)
    job = _ChunkJob(cm, plan, bplan, m0, L0, seed, paths, slab, kind, tt, bool(return_samples))
    _run_chunks(job, stats, per_chunk, mc)
    mean = stats.mean
    stderr = np.sqrt(stats.M2 / ((paths - 1) * paths)) if paths > 1 else np.full_like(mean, np.inf)
    if not (np.all(np.isfinite(mean)) and (paths == 1 or np.all(np.isfinite(stderr)))):
        raise SimulationError(
            "readout: the Monte Carlo mean or its standard error overflows the floating-point range (values of "
            "f(h) near 1e154 or beyond; a huge eps or input?); use a smaller eps or rescale the model"
        )
    if not cm.vector:
        mean, stderr = mean[:, 0], stderr[:, 0]
        if samples is not None:
            samples = samples[:, :, 0]
    eps_report = float(eps_arr[-1])
    return SimulationResult(tt, mean, stderr, paths, seed, scheme, eps_report, substeps, kind, samples, burn_time)


def _layout(cm: _Compiled, plan: _Plan, nt: int, paths: int, chunk: int | None, mem: float) -> tuple[int, int]:
    """(slab, blocks per chunk): steps drawn at once and seed blocks run together within ``mem`` bytes."""
    E, n, p = plan.eps.size, cm.n, cm.p
    dims = (plan.w, n, p, E, cm.r, cm.m)
    width = max(n, plan.w) * E * min(paths, BLOCK * (-(-(chunk or paths) // BLOCK)))
    slab = min(max(plan.dts.size, 1), int(np.clip(_SLAB_ELEMENTS // width, 16, 256)))
    stats_per_block = 16 * nt * p  # per-block mean and M2 on the whole grid (_Stats), kept per chunk
    blocks_fit = int(mem // (_bytes_per_path(slab, *dims) * BLOCK + stats_per_block))
    while blocks_fit < 1 and slab > 1:
        slab = max(1, slab // 8)
        blocks_fit = int(mem // (_bytes_per_path(slab, *dims) * BLOCK + stats_per_block))
    if blocks_fit < 1:
        need = _bytes_per_path(1, *dims) * BLOCK + stats_per_block
        raise SimulationError(
            f"max_memory: {int(mem)} bytes is too small (a block of {BLOCK} paths on {nt} grid times needs ~{need} "
            f"bytes); give max_memory >= {need}, or use a coarser grid"
        )
    nblocks = -(-paths // BLOCK)
    per_chunk = min(nblocks, blocks_fit) if chunk is None else min(nblocks, -(-chunk // BLOCK))
    return slab, per_chunk


def _run_chunks(job: _ChunkJob, stats: BlockStats, per_chunk: int, mc: MonteCarlo) -> None:
    """Run every seed block (locally, or as dask tasks with ``mc.client``) and merge them into ``stats`` in order."""
    paths, nblocks = job.paths, -(-job.paths // BLOCK)
    steps = job.plan.dts.size + (0 if job.bplan is None else job.bplan.dts.size)
    desc = "volterra_sym.checks.simulate"
    if mc.client is not None:  # the same seed blocks as dask tasks (volterra_sym/checks/distributed.py)
        from .distributed import run_blocks

        chunked = mc.chunk is not None
        results = run_blocks(mc.client, _simulate_chunk, job, nblocks, per_chunk, chunked, mc.progress, paths, desc)
        for res in results:
            _merge_chunk(stats, res)
        return
    prog = ProgressBar(mc.progress, paths * steps, steps, desc)
    try:
        for b0 in range(0, nblocks, per_chunk):
            _merge_chunk(stats, _simulate_chunk(job, range(b0, min(nblocks, b0 + per_chunk)), prog))
    finally:
        prog.close()


#: simulate's and simulate_response's defaults of the MonteCarlo fields they use
_DEFAULTS: dict[str, Any] = dict(
    paths=DEFAULT_PATHS, seed=0, scheme="euler", substeps=1, burn_in="auto", burn_in_dt=None, chunk=None,
    max_memory=None, progress=None, client=None,
)  # fmt: skip


def simulate(
    model: Diffusion,
    u: InputLike,
    t: Any,
    paths: int | None = None,
    *,
    seed: int = 0,
    eps: float = 1.0,
    scheme: str = "euler",
    chunk: int | None = None,
    max_memory: int | None = None,
    progress: bool | None = None,
    return_samples: bool = False,
    substeps: int = 1,
    burn_in: float | str = "auto",
    burn_in_dt: float | None = None,
    client: Any = None,
    mc: MonteCarlo | None = None,
) -> SimulationResult:
    """Monte Carlo estimate of E f(h_t) on the grid ``t`` for dh = [phi + eps gamma u] dt + sigma dW.

    Parameters
    ----------
    model : any :class:`~volterra_sym.Diffusion` (parameters substituted from ``model.params``).
    u : callable u(t) -> (m,), samples of shape (len(t), m) ((len(t),) when m = 1), or None.
        Both schemes read u as the piecewise-linear interpolant of its samples on ``t``
        (callables are sampled there); Euler uses its exact average over each sub-step.
    t : 1-D strictly increasing grid starting at 0 (steps need not be uniform).
    paths : number of independent paths (>= 1); default ``DEFAULT_PATHS`` = 10000 (checks/settings.py).
    seed : non-negative integer; the result is a deterministic function of the seed, independent
        of ``chunk`` / ``max_memory`` (see the module docstring).
    scheme : ``"euler"`` (any model; ``substeps`` Euler steps per grid interval) or ``"exact"``
        (linear SRNNs; exact Gaussian transitions, no discretisation bias).
    eps : input amplitude.
    chunk : paths per chunk (rounded up to a multiple of 64), default: as many as ``max_memory`` allows.
    max_memory : bound in bytes on the working arrays, per-grid statistics included (and on ``samples``
        when requested); None: ``vs.limits.MC_MEMORY`` (256 MiB).
    progress : True / False, or None (auto): a progress bar (tqdm, if installed) on stderr only on a
        terminal and only for runs > 2 s.
    return_samples : also return per-path readouts, shape (paths, len(t)[, p]).
    burn_in : ``"auto"`` (default) or a time: for a Stationary() start whose law has no closed form,
        simulate the unperturbed dynamics from h = 0 first for this time (step ``burn_in_dt``, default
        the smallest simulation step); "auto" is 20 relaxation times of the rest point's slowest mode
        (checks/burn_in.py). The time used is ``result.burn_in``.
    client : a dask.distributed Client (or a scheduler address 'tcp://host:8786'): the seed blocks
        run as dask tasks; the result is bit-identical to the local run (docs/distributed.md).
    mc : a :class:`~volterra_sym.MonteCarlo` holding these settings (``paths`` to ``client``) at once; a
        keyword left at its default yields to it, one given with another value than a field it sets is an
        ArgumentError.

    Returns
    -------
    SimulationResult with ``mean`` and ``stderr`` of shape (len(t),) or (len(t), p).
    """
    given = dict(
        paths=paths, seed=seed, scheme=scheme, substeps=substeps, burn_in=burn_in, burn_in_dt=burn_in_dt, chunk=chunk,
        max_memory=max_memory, progress=progress, client=client,
    )  # fmt: skip
    settings = resolve(mc, "simulate", _DEFAULTS, given)
    return _run(model, u, t, settings, [check_eps(eps)], "expectation", return_samples)


def simulate_response(
    model: Diffusion,
    u: InputLike,
    t: Any,
    paths: int | None = None,
    *,
    seed: int = 0,
    eps: float = 1.0,
    scheme: str = "euler",
    chunk: int | None = None,
    max_memory: int | None = None,
    progress: bool | None = None,
    return_samples: bool = False,
    substeps: int = 1,
    burn_in: float | str = "auto",
    burn_in_dt: float | None = None,
    client: Any = None,
    mc: MonteCarlo | None = None,
) -> SimulationResult:
    """Common-random-number estimate of the response E f(h^eps_t) - E f(h^0_t).

    Both ensembles share the initial draws and every Brownian increment; only the input term
    differs, so the variance of the difference is O(eps^2).  Arguments (``client`` and ``mc`` too) as in
    :func:`simulate`; ``mean``/``stderr``/``samples`` refer to the per-path difference f(h^eps_t) - f(h^0_t).
    """
    given = dict(
        paths=paths, seed=seed, scheme=scheme, substeps=substeps, burn_in=burn_in, burn_in_dt=burn_in_dt, chunk=chunk,
        max_memory=max_memory, progress=progress, client=client,
    )  # fmt: skip
    settings = resolve(mc, "simulate_response", _DEFAULTS, given)
    return _run(model, u, t, settings, [0.0, check_eps(eps)], "response", return_samples)

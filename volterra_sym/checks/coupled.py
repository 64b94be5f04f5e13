"""Coupled Euler-Maruyama runs at steps dt and dt/2: the time-step bias of a Monte Carlo mean with its own SE.

Euler-Maruyama has weak order 1: E f(h^dt_t) = E f(h_t) + c(t) dt + O(dt^2).  Two runs at steps dt
and dt/2 estimate the bias of the finer one by Richardson, b_{dt/2} = c dt/2 ~ m_dt - m_{dt/2}.  With two
*independent* runs that difference carries the noise of both (sqrt 2 SE), which swamps the bias it
is meant to measure.  Here every path is simulated twice, on the fine grid (steps dt/2, increments
dW_1, dW_2) and on the coarse grid (step dt, increment dW_1 + dW_2), from the same initial draw, so
f(h^dt_t) - f(h^{dt/2}_t) is small path by path (strong order 1/2) and its mean has a small SE of its
own (MATH.md section 8).  Per grid time and readout component :func:`coupled_euler` returns

    mean, stderr            of f(h^{dt/2}_t)                    (the Monte Carlo estimate)
    bias, bias_stderr       of f(h^dt_t) - f(h^{dt/2}_t)        (the estimated bias of ``mean``)
    corrected, corrected_stderr  of 2 f(h^{dt/2}_t) - f(h^dt_t) (Richardson: bias O(dt^2))

A stationary start of a model whose stationary law is not known in closed form burns both paths in
together (same increments) from h = 0 for ``burn_in``, so the bias estimate includes the bias of the
scheme's own stationary law.

Random numbers: blocks of ``BLOCK`` paths, each with its own stream (:mod:`.blocks`); the result is a
deterministic function of the seed whatever the chunking, and ``client=`` runs the chunks as dask tasks.
The drift is evaluated from the model's expressions (lambdified), independently of :mod:`.simulate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import sympy as sp

from .. import limits
from ..errors import NotLinearError, SimulationError
from ..model.diffusion import Diffusion, Stationary
from ..validate import refusal
from .blocks import BLOCK, ProgressBar, block_normals, block_stream
from .burn_in import AUTO, check_burn_in, relaxation_burn_in
from .oracle import check_times, initial_arrays, input_on_grid, linear_arrays, numeric_model
from .simulate import BlockStats

__all__ = ["CoupledResult", "coupled_euler"]

_CHUNK_BLOCKS = 64  # paths per chunk: 64 blocks of 64 (arrays of a few hundred kB per state component)
_SLAB = 64  # steps whose normals are drawn at once


@dataclass(frozen=True)
class CoupledResult:
    """Coupled estimates on the grid ``t``; every array has shape (len(t), p).

    mean/stderr: f at step dt/2 (the Monte Carlo estimate).  bias/bias_stderr: f(step dt) - f(step dt/2),
    the Richardson estimate of the bias of ``mean``.  corrected/corrected_stderr: 2 f(dt/2) - f(dt).
    substeps: Euler steps of the coarse run per grid interval (the fine run takes twice as many).
    """

    t: np.ndarray
    mean: np.ndarray
    stderr: np.ndarray
    bias: np.ndarray
    bias_stderr: np.ndarray
    corrected: np.ndarray
    corrected_stderr: np.ndarray
    paths: int
    seed: int
    substeps: int
    burn_in: float | None


def _lambdify(
    exprs: Sequence[sp.Expr], state: tuple[sp.Symbol, ...], inputs: tuple[sp.Symbol, ...] = ()
) -> Callable[..., np.ndarray]:
    """Expressions of the state (and the inputs) -> call(H, v=()) with H (n, P), v (len(inputs),) ->
    (len(exprs), P)."""
    fn = sp.lambdify((*state, *inputs), list(exprs), modules="numpy")

    def call(H: np.ndarray, v: Sequence[float] = ()) -> np.ndarray:
        out = np.empty((len(exprs), H.shape[-1]))
        for j, val in enumerate(fn(*H, *v)):
            out[j] = val
        return out

    return call


def _constant(mat: sp.Matrix, state: tuple[sp.Symbol, ...]) -> np.ndarray | None:
    if any(e.free_symbols & set(state) for e in mat):
        return None
    return np.array(mat.tolist(), dtype=float).reshape(mat.shape)


@dataclass
class _Job:
    """Everything one chunk of seed blocks needs (picklable for dask: lambdified functions travel by cloudpickle)."""

    n: int
    r: int
    m: int
    p: int
    drift: Callable[[np.ndarray], np.ndarray]
    sigma: Callable[[np.ndarray], np.ndarray]  # H (n, P) -> (n*r, P)
    coupling: Callable[[np.ndarray], np.ndarray]  # H (n, P) -> (n*m, P)
    readout: Callable[[np.ndarray], np.ndarray]  # H (n, P) -> (p, P)
    m0: np.ndarray
    L0: np.ndarray
    dts: np.ndarray  # (Nf,) fine steps (the coarse step j covers fine steps 2j, 2j + 1)
    Uf: np.ndarray  # (Nf, m) eps * input averaged over each fine step
    Uc: np.ndarray  # (Nf // 2, m) eps * input averaged over each coarse step
    record: np.ndarray  # (Nf // 2,) grid index reached after coarse step j, or -1
    burn_steps: int
    burn_dt: float
    seed: int
    paths: int
    nt: int
    sigma_const: np.ndarray | None = None  # (n, r) when sigma does not depend on the state
    gamma_const: np.ndarray | None = None  # (n, m) when the coupling does not depend on the state
    drift_u: Callable[..., np.ndarray] | None = None  # (H, v) -> F(H, v), the whole drift at v = eps u (general input)


def _step(job: _Job, H: np.ndarray, dt: float, U: np.ndarray | None, dW: np.ndarray) -> np.ndarray:
    """One Euler step of (n, P) states: H + (phi + gamma U) dt + sigma dW."""
    n, r, m = job.n, job.r, job.m
    with np.errstate(over="ignore", invalid="ignore"):
        if job.drift_u is not None:  # the input inside the drift: the TRUE drift F(h, eps u), not expanded
            out = H + job.drift_u(H, np.zeros(m) if U is None else U) * dt
        else:
            out = H + job.drift(H) * dt
        if job.drift_u is None and U is not None and np.any(U != 0.0):
            if job.gamma_const is not None:
                out += (dt * (job.gamma_const @ U))[:, None]
            else:
                out += dt * np.einsum("nmp,m->np", job.coupling(H).reshape(n, m, -1), U)
        if job.sigma_const is not None:
            out += job.sigma_const @ dW
        else:
            out += np.einsum("nrp,rp->np", job.sigma(H).reshape(n, r, -1), dW)
    return out


def _check_finite(H: np.ndarray, where: str) -> None:
    if not np.isfinite(np.sum(H)):
        raise SimulationError(
            f"simulation produced non-finite states {where}; the model probably blows up (unstable drift, or a "
            "step too large for Euler: try more substeps=, a smaller input amplitude eps, or check the parameters)"
        )


def _chunk(job: _Job, blocks: Sequence[int], progress: ProgressBar | None = None) -> tuple[Any, ...]:
    """Run the coupled paths of ``blocks``: (block sizes, per-block means and M2 of f_fine, f_coarse - f_fine,
    2 f_fine - f_coarse)."""
    sizes = [min(BLOCK, job.paths - b * BLOCK) for b in blocks]
    streams = [(block_stream(job.seed, b), size) for b, size in zip(blocks, sizes)]
    stats = [BlockStats(job.nt, job.p, None) for _ in range(3)]
    for s in stats:
        s.start_chunk(sizes)

    def record(row: int, Hf: np.ndarray, Hc: np.ndarray) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            Ff, Fc = job.readout(Hf), job.readout(Hc)
            X = (Ff, Fc - Ff, 2.0 * Ff - Fc)
        if not all(np.all(np.isfinite(x)) for x in X):
            raise SimulationError("readout: f(h) is not finite for some path; the model probably blows up")
        rows = np.array([row])
        for s, x in zip(stats, X):
            s.add(rows, x[None])

    n = job.n
    H0 = job.m0[:, None] + job.L0 @ block_normals(streams, (n,))
    Hf, Hc = H0.copy(), H0.copy()
    if job.burn_steps:  # the unperturbed dynamics, both paths driven by the same increments
        for k0 in range(0, job.burn_steps, _SLAB):
            L = min(_SLAB, job.burn_steps - k0)
            Z = block_normals(streams, (2 * L, job.r)) * math.sqrt(job.burn_dt / 2)
            for k in range(L):
                dW1, dW2 = Z[2 * k], Z[2 * k + 1]
                Hf = _step(job, _step(job, Hf, job.burn_dt / 2, None, dW1), job.burn_dt / 2, None, dW2)
                Hc = _step(job, Hc, job.burn_dt, None, dW1 + dW2)
            _check_finite(Hf + Hc, "during the burn-in")
    record(0, Hf, Hc)
    Nc = job.record.size
    for j0 in range(0, Nc, _SLAB):
        L = min(_SLAB, Nc - j0)
        Z = block_normals(streams, (2 * L, job.r))
        for k in range(L):
            j = j0 + k
            a, b = job.dts[2 * j], job.dts[2 * j + 1]
            dW1, dW2 = Z[2 * k] * math.sqrt(a), Z[2 * k + 1] * math.sqrt(b)
            Hf = _step(job, _step(job, Hf, a, job.Uf[2 * j], dW1), b, job.Uf[2 * j + 1], dW2)
            Hc = _step(job, Hc, a + b, job.Uc[j], dW1 + dW2)
            if job.record[j] >= 0:
                record(int(job.record[j]), Hf, Hc)
        _check_finite(Hf + Hc, f"before grid step {int(np.max(job.record[: j0 + L]))}")
        if progress is not None:
            progress.update(L * sum(sizes))
    return sizes, [(s.bmean, s.bM2) for s in stats]


def _merge(stats: list[BlockStats], result: tuple[Any, ...]) -> None:
    sizes, parts = result
    for s, (bmean, bM2) in zip(stats, parts):
        s.sizes, s.bmean, s.bM2 = sizes, bmean, bM2
        s.end_chunk()


def coupled_euler(
    model: Diffusion,
    u: Any,
    t: Any,
    paths: int,
    *,
    seed: int = 0,
    eps: float = 1.0,
    substeps: int = 1,
    burn_in: float | str | None = "auto",
    progress: bool | None = None,
    client: Any = None,
) -> CoupledResult:
    """Coupled Euler-Maruyama ensembles at ``substeps`` and ``2 * substeps`` steps per grid interval.

    model : any Diffusion (parameters substituted).  u : callable or samples on ``t`` (read as the
    piecewise-linear interpolant; every Euler step uses its exact average over the step).  t : the grid.
    paths >= 2, seed >= 0 integers (validated by the caller, :func:`volterra_sym.verify`).
    burn_in : "auto" (default: 20 relaxation times, checks/burn_in.py) or, for a Stationary() start of a model
        without a closed-form stationary law, the time
    both runs spend from h = 0 under the unperturbed dynamics first (steps of the smallest grid step
    / substeps and half that).  Returns a :class:`CoupledResult`.
    """
    num = numeric_model(model)
    st = num.state
    tt = check_times(t)
    U = input_on_grid(u, tt, num.m) * float(eps)
    s = int(substeps)
    # fine grid: 2 s equal steps per interval; coarse step j = fine steps 2j, 2j + 1
    dt = np.diff(tt)
    fs = 2 * s
    interval = np.repeat(np.arange(dt.size), fs)
    dts = dt[interval] / fs
    pos = np.tile(np.arange(fs), dt.size)
    Uf = U[interval] + ((pos + 0.5) / fs)[:, None] * (U[interval + 1] - U[interval])
    Uc = 0.5 * (Uf[0::2] + Uf[1::2])  # the average over a coarse step: the mean of its two halves' averages
    cpos = pos[0::2] // 2
    record = np.where(cpos == s - 1, interval[0::2] + 1, -1)
    parts = None
    try:
        parts = linear_arrays(num)
    except NotLinearError:
        parts = None
    burn_steps, burn_dt = 0, 0.0
    burn_in = check_burn_in(burn_in)  # "auto" (also None) or a time: the one rule (checks/burn_in.py)
    if isinstance(num.initial, Stationary) and parts is None:
        burn_dt = float(np.min(dt)) / s if dt.size else 0.01
        if burn_in == AUTO:
            burn_in = relaxation_burn_in(num, burn_dt)[0]
        burn_steps = max(1, math.ceil(float(burn_in) / burn_dt))
        burn_dt = float(burn_in) / burn_steps
        limits.check_grid_points(burn_steps * 2 + 1, "burn_in", "use a shorter burn_in or fewer substeps")
        m0, L0 = np.zeros(num.n), np.zeros((num.n, num.n))
    else:
        if burn_in != AUTO and not isinstance(num.initial, Stationary):
            why = f"only used with a Stationary() start, but the model starts at {num.initial!r}"
            raise refusal("burn_in", why)
        mean0, cov0 = initial_arrays(num, parts)
        w, V = np.linalg.eigh(0.5 * (cov0 + cov0.T))
        m0, L0 = np.asarray(mean0, dtype=float), V * np.sqrt(np.clip(w, 0.0, None))
    job = _Job(
        n=num.n, r=num.r, m=num.m, p=num.p,
        drift=_lambdify(list(num.drift), st),
        sigma=_lambdify([num.diffusion[i, k] for i in range(num.n) for k in range(num.r)], st),
        coupling=_lambdify([num.coupling[i, k] for i in range(num.n) for k in range(num.m)], st),
        readout=_lambdify(list(num.readout), st),
        m0=m0, L0=L0, dts=dts, Uf=Uf, Uc=Uc, record=record,
        burn_steps=burn_steps, burn_dt=burn_dt, seed=int(seed), paths=int(paths), nt=tt.size,
        sigma_const=_constant(num.diffusion, st), gamma_const=_constant(num.coupling, st),
        drift_u=(
            _lambdify(list(num.drift + num.coupling * sp.Matrix(num.inputs)), st, num.inputs)
            if num.general_input else None
        ),
    )  # fmt: skip
    stats = [BlockStats(tt.size, num.p, None) for _ in range(3)]
    nblocks = -(-int(paths) // BLOCK)
    if client is not None:
        from .distributed import run_blocks

        for res in run_blocks(client, _chunk, job, nblocks, _CHUNK_BLOCKS, False, progress, int(paths), __name__):
            _merge(stats, res)
    else:
        prog = ProgressBar(progress, int(paths) * max(record.size, 1), max(record.size, 1), __name__)
        try:
            for b0 in range(0, nblocks, _CHUNK_BLOCKS):
                _merge(stats, _chunk(job, range(b0, min(nblocks, b0 + _CHUNK_BLOCKS)), prog))
        finally:
            prog.close()
    P = int(paths)
    se = [np.sqrt(x.M2 / ((P - 1) * P)) for x in stats]
    return CoupledResult(
        tt, stats[0].mean, se[0], stats[1].mean, se[1], stats[2].mean, se[2], P, int(seed), s,
        float(burn_steps * burn_dt) if burn_steps else None,  # the burn-in run (None: none needed)
    )  # fmt: skip

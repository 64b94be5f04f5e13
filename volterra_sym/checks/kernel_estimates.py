"""Pathwise (tangent) Monte Carlo estimates of the response kernels (MATH.md section 9).

    est = estimate_kernels(model, order=2, lags={1: taus, 2: pairs}, paths=20000, seed=0)
    est.mean(1), est.stderr(1), est.bias(1)          # arrays aligned with lags[1]
    est.mean(2, (0, 1))                              # several inputs: k = (k_1, k_2), 0-based

The kernels are correlation functions of the *unperturbed* dynamics.  Along each simulated
path (noise held fixed) the tangent flow J_{t,s} = dh_t/dh_s and the second variation of the
flow are integrated with the state, and

    K^(1)_k(tau ; s)              = E[ grad f(h_t) . w_t ],                 t = s + tau
    K^(2)_{k1 k2}(tau1, tau2 ; s2) = E[ Hess f(h_t)[w1_t, w2_t] + grad f(h_t) . k_t ]

with w2 the tangent started at s2 with gamma_{k2}(h_{s2}), w1 the tangent started at
s1 = s2 + tau2 with gamma_{k1}(h_{s1}), and k the second variation started at s1 with
Dgamma_{k1}(h_{s1}) w2_{s1} and driven by D^2 phi[w1, w2] (docs/MATH.md section 9).

Discretisation: Euler-Maruyama with step ``dt`` for the state; the tangents are the exact
derivatives of the Euler map (so the estimate is the kernel of the Euler chain, weak order 1).
Multiplicative noise is allowed: the Itô tangent equations then carry the terms
sum_r D sigma_r w dW_r (and D^2 sigma_r[w1, w2] dW_r for the second variation).
Lags must lie on the ``dt`` grid.  With ``bias_check=True`` (default) a companion run at dt/2
shares every Brownian increment (the two half-step increments are built from the full-step
one and an independent Brownian-bridge normal), giving the time-step bias of the estimate,
bias ~ 2 (m_dt - m_{dt/2}), with its own (small, paired) standard error; a
:class:`~volterra_sym.errors.TimeStepBiasWarning` is issued when the bias is significant and
larger than the standard error.  The estimate at ``dt`` is the same with or without the check.

Starts: a point mass or a Gaussian start is drawn exactly; the lags are then
(tau_1..tau_n, s_n) as for the lowered kernels.  For a stationary start of a linear SRNN the
exact stationary Gaussian is drawn; for a nonlinear model the paths start at h = 0 and run
the unperturbed dynamics for ``burn_in`` first.  Default burn-in rule: 20 relaxation times
20 / lambda, lambda = min_i -Re eig(D phi(h*)), at the point h* the deterministic flow reaches
from h = 0 (from an unstable rest point: the slower of the two attractors reached by nudging it
along its unstable direction).  That is the local relaxation only: for a multistable law
(hopping between wells is slower) pass a longer ``burn_in=`` yourself.

Reproducibility: the seeding of :mod:`volterra_sym.checks.simulate` (blocks of 64 paths, each with
its stream SeedSequence(seed, spawn_key=(block,)); the bridge normals of the dt/2 companion
from spawn_key=(block, 1)); element-wise arithmetic only, statistics merged block by block in
order: the same seed gives bit-identical numbers for any ``chunk`` / ``max_memory``.

This module is an independent check: it imports nothing from the kernel derivation.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from .. import limits
from ..errors import (
    InputError,
    ModelError,
    NotAnalyticError,
    SimulationError,
    TimeStepBiasWarning,
    describe,
)
from ..model import Diffusion, Stationary
from ..model.structure import NetworkStructure, network_structure
from ..validate import (
    check_flag,
    check_index_tuple,
    check_int,
    check_lag_array,
    check_model,
    check_positive,
    check_real_in_range,
    refusal,
)
from .blocks import BLOCK, ProgressBar, block_normals, block_stream
from .burn_in import AUTO, check_burn_in, relaxation_burn_in
from .distributed import check_client
from .kernel_network import ControlVariate, NetEnsemble
from .oracle import LinearParts, initial_arrays, linear_arrays, numeric_model
from .settings import DEFAULT_DT, DEFAULT_PATHS, MonteCarlo, resolve
from .simulate import BlockStats, sqrtm_psd

__all__ = ["KernelEstimate", "estimate_kernels", "MAX_ESTIMATE_ORDER"]

MAX_ESTIMATE_ORDER = 2  #: highest kernel order the pathwise estimator gives (order 3 is refused; not limits.MAX_ORDER)
_SLAB = 64  # coarse steps of normals drawn at once
_NOT_SMOOTH = (
    sp.Abs,
    sp.sign,
    sp.Heaviside,
    sp.Piecewise,
    sp.Max,
    sp.Min,
    sp.floor,
    sp.ceiling,
    sp.DiracDelta,
    sp.frac,
    sp.Mod,
)


# --------------------------------------------------------------------------- result


@dataclass
class KernelEstimate:
    """Pathwise Monte Carlo estimates of the kernels K^(n)_k at the requested lags.

    ``mean(n, k)``, ``stderr(n, k)``, ``bias(n, k)``, ``bias_stderr(n, k)`` return arrays aligned
    with ``lags[n]`` (shape (len(lags[n]),), plus (p,) for a vector readout).  ``bias`` is the
    estimated time-step bias of ``mean`` (2 (m_dt - m_{dt/2}); only with ``bias_check=True``);
    ``corrected(n, k)`` = mean - bias = 2 m_{dt/2} - m_dt (Richardson: bias O(dt^2)) with
    ``corrected_stderr(n, k)``, its standard error from the per-path values 2 V_{dt/2} - V_dt.
    """

    lags: dict[int, np.ndarray]
    order: int
    m: int
    paths: int
    seed: int
    dt: float
    burn_in: float
    start: str
    vector: bool
    bias_checked: bool = True
    _mean: dict = field(repr=False, default_factory=dict)
    _stderr: dict = field(repr=False, default_factory=dict)
    _bias: dict = field(repr=False, default_factory=dict)
    _bias_se: dict = field(repr=False, default_factory=dict)
    _corr: dict = field(repr=False, default_factory=dict)
    _corr_se: dict = field(repr=False, default_factory=dict)
    summary: dict = field(repr=False, default_factory=dict)

    def _key(self, n: Any, k: Any) -> tuple[int, tuple[int, ...]]:
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or int(n) not in self.lags:
            raise refusal("n", f"expected one of the estimated orders {sorted(self.lags)}, received {describe(n)}")
        return int(n), check_index_tuple(k, int(n), self.m)

    def _get(self, table: dict, n: Any, k: Any) -> np.ndarray:
        key = self._key(n, k)
        val = table[key]
        return val if self.vector else val[:, 0]

    def mean(self, n: int, k: Any = None) -> np.ndarray:
        """Estimate of K^(n)_k at ``lags[n]`` (the Euler chain at step dt)."""
        return self._get(self._mean, n, k)

    def stderr(self, n: int, k: Any = None) -> np.ndarray:
        """Standard error of :meth:`mean` (independent paths: sample std / sqrt(paths))."""
        return self._get(self._stderr, n, k)

    def bias(self, n: int, k: Any = None) -> np.ndarray:
        """Estimated time-step bias of :meth:`mean`: 2 (m_dt - m_{dt/2}) (needs bias_check=True)."""
        self._need_bias("bias")
        return self._get(self._bias, n, k)

    def _need_bias(self, what: str) -> None:
        if not self.bias_checked:
            raise refusal(what, "this estimate was run with bias_check=False", "rerun with bias_check=True")

    def bias_stderr(self, n: int, k: Any = None) -> np.ndarray:
        """Standard error of :meth:`bias` (paired: the dt/2 run shares the Brownian increments)."""
        self._need_bias("bias_stderr")
        return self._get(self._bias_se, n, k)

    def corrected(self, n: int, k: Any = None) -> np.ndarray:
        """The bias-corrected estimate mean - bias = 2 m_{dt/2} - m_dt (Richardson, from the coupled dt/2 run)."""
        self._need_bias("corrected")
        return self._get(self._corr, n, k)

    def corrected_stderr(self, n: int, k: Any = None) -> np.ndarray:
        """Standard error of :meth:`corrected` (per path 2 V_{dt/2} - V_dt: the coupling keeps it near ``stderr``)."""
        self._need_bias("corrected_stderr")
        return self._get(self._corr_se, n, k)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict: run settings and, per order and input tuple, lags, mean, stderr, bias.

        Every number is finite (strict JSON): the bias without ``bias_check`` is null with a note."""
        kernels = []
        for (n, ks), mean in sorted(self._mean.items()):
            kernels.append(
                {
                    "order": n,
                    "k": list(ks),
                    "lags": self.lags[n].tolist(),
                    "mean": mean.tolist() if self.vector else mean[:, 0].tolist(),
                    "stderr": self._get(self._stderr, n, ks).tolist(),
                    "bias": self._get(self._bias, n, ks).tolist() if self.bias_checked else None,
                    "bias_stderr": self._get(self._bias_se, n, ks).tolist() if self.bias_checked else None,
                    **(
                        {
                            "corrected": self._get(self._corr, n, ks).tolist(),
                            "corrected_stderr": self._get(self._corr_se, n, ks).tolist(),
                        }
                        if self.bias_checked
                        else {}
                    ),
                }
            )
            if not self.bias_checked:
                kernels[-1]["bias_note"] = "null: not computed (bias_check=False)"
        settings = dict(paths=self.paths, seed=self.seed, dt=self.dt, burn_in=self.burn_in, start=self.start)
        return {"method": "pathwise tangent Monte Carlo", **settings, "summary": dict(self.summary), "kernels": kernels}

    def __repr__(self) -> str:
        sizes = {n: len(v) for n, v in self.lags.items()}
        return (
            f"KernelEstimate(order={self.order}, lags={sizes}, paths={self.paths}, seed={self.seed}, dt={self.dt}, "
            f"start={self.start}, burn_in={self.burn_in:g})"
        )


# --------------------------------------------------------------------------- compiled derivatives


class _Table:
    """Expressions of the state keyed by name: constants kept as floats, the rest lambdified together."""

    def __init__(self, entries: dict, state: tuple[sp.Symbol, ...]):
        st = set(state)
        self.const = {}
        self.keys = []
        exprs = []
        for key, e in entries.items():
            if e.free_symbols & st:
                self.keys.append(key)
                exprs.append(e)
            elif e != 0:
                self.const[key] = float(e)
        self.fn = sp.lambdify(state, exprs, modules="numpy", cse=True) if exprs else None

    def __call__(self, H: np.ndarray) -> dict:
        out = dict(self.const)
        if self.fn is not None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                out.update(zip(self.keys, self.fn(*H)))
        return out


def _not_smooth(expr: sp.Expr) -> list[str]:
    bad = sorted({type(a).__name__ for a in expr.atoms(sp.Function, sp.Piecewise) if isinstance(a, _NOT_SMOOTH)})
    if expr.has(sp.Piecewise):
        bad = sorted(set(bad) | {"Piecewise"})
    return bad


@dataclass
class _Derivs:
    n: int
    m: int
    r: int
    p: int
    vector: bool
    step: _Table  # ("phi", i), ("sig", i, r), ("J", i, j), ("H", i, j, k), ("S", i, r, j), ("S2", i, r, j, l)
    state_step: _Table  # ("phi", i), ("sig", i, r) only: the burn-in
    start: _Table  # ("g", i, k), ("dg", i, k, j)
    record: _Table  # ("f1", c, i) gradient, ("f2", c, i, j) Hessian of readout component c
    sigma: np.ndarray  # constant entries of sigma (NaN where it depends on the state)
    parts: LinearParts | None
    model: Diffusion
    hess_keys: list  # (i, j, k): d^2 phi_i / dh_j dh_k not identically zero, j <= k
    noise_keys: list  # (i, r, j): d sigma_ir / dh_j not identically zero (multiplicative noise)
    noise_hess: list  # (i, r, j, l): d^2 sigma_ir / dh_j dh_l not identically zero, j <= l
    net: NetworkStructure | None = None  # network models: the ensemble uses matrix products (kernel_network.py)


def _derivatives(model: Diffusion, order: int) -> _Derivs:
    num = numeric_model(model)
    net = network_structure(num)
    if net is not None and net.input == "outside":
        return _network_derivatives(num, net, order)
    st = num.state
    n, m, r, p = num.n, num.m, num.r, num.p
    for what, mat in (("drift", num.drift), ("coupling", num.coupling), ("readout", num.readout)):
        for e in mat:
            bad = _not_smooth(e)
            if bad:
                raise NotAnalyticError(
                    f"model: the {what} entry {e} contains {', '.join(bad)}, which is not differentiable; the "
                    "pathwise estimator differentiates the flow (D phi, D^2 phi, grad f, Hess f). Replace it by a "
                    "smooth function (e.g. tanh(k x) for sign(x), sqrt(x**2 + d**2) for Abs(x)), or estimate "
                    "responses with vs.simulate_response"
                )
    for e in num.diffusion:
        bad = _not_smooth(e)
        if bad:
            raise NotAnalyticError(
                f"model: the noise entry {e} contains {', '.join(bad)}, which is not differentiable; the pathwise "
                "estimator differentiates the flow (D sigma, D^2 sigma). Use a smooth noise, or vs.simulate_response"
            )
    sigma = np.array(
        [[float(e) if not e.free_symbols & set(st) else np.nan for e in row] for row in num.diffusion.tolist()]
    )
    step: dict = {}
    for i in range(n):
        step[("phi", i)] = num.drift[i]
        for k in range(r):
            step[("sig", i, k)] = num.diffusion[i, k]
    for i in range(n):
        for j in range(n):
            step[("J", i, j)] = sp.diff(num.drift[i], st[j])
    noise_keys = []  # (i, k, j): d sigma_ik / d h_j, not identically zero
    noise_hess = []  # (i, k, j, l), j <= l
    for i in range(n):
        for k in range(r):
            for j in range(n):
                e = sp.diff(num.diffusion[i, k], st[j])
                step[("S", i, k, j)] = e
                if e != 0:
                    noise_keys.append((i, k, j))
                if order >= 2:
                    for l in range(j, n):
                        e2 = sp.diff(num.diffusion[i, k], st[j], st[l])
                        step[("S2", i, k, j, l)] = e2
                        if e2 != 0:
                            noise_hess.append((i, k, j, l))
    hess_keys = []
    if order >= 2:
        for i in range(n):
            for j in range(n):
                for k in range(j, n):
                    e = sp.diff(num.drift[i], st[j], st[k])
                    step[("H", i, j, k)] = e
                    if e != 0:
                        hess_keys.append((i, j, k))
    start: dict = {}
    for i in range(n):
        for k in range(m):
            start[("g", i, k)] = num.coupling[i, k]
            if order >= 2:
                for j in range(n):
                    start[("dg", i, k, j)] = sp.diff(num.coupling[i, k], st[j])
    record = _readout_table(num, order)
    for table in (step, start, record):
        for key, e in table.items():
            if e.has(sp.Derivative, sp.Subs):
                raise NotAnalyticError(
                    f"model: could not differentiate the model symbolically ({key[0]} entry {e}); "
                    "use functions SymPy can differentiate"
                )
    try:
        parts: LinearParts | None = linear_arrays(num)
    except Exception:
        parts = None
    return _Derivs(
        n, m, r, p, num.vector_readout, _Table(step, st),
        _Table({k: e for k, e in step.items() if k[0] in ("phi", "sig")}, st), _Table(start, st), _Table(record, st),
        sigma, parts, num, hess_keys, noise_keys, noise_hess, None,
    )  # fmt: skip


def _readout_table(num: Diffusion, order: int) -> dict:
    """("f1", c, i) and ("f2", c, i, j) derivatives of the readout (only in the variables it contains)."""
    st = num.state
    record: dict = {}
    for c in range(num.p):
        used = [i for i in range(num.n) if st[i] in num.readout[c].free_symbols]
        for i in used:
            record[("f1", c, i)] = sp.diff(num.readout[c], st[i])
            if order >= 2:
                for j in used:
                    record[("f2", c, i, j)] = sp.diff(num.readout[c], st[i], st[j])
    return record


def _network_derivatives(num: Diffusion, net: NetworkStructure, order: int) -> _Derivs:
    """The _Derivs of a network model: no drift tables (the ensemble uses the matrices), readout table only."""
    bad = [b for e in num.readout for b in _not_smooth(e)]
    if bad:
        raise NotAnalyticError(
            f"model: the readout contains {', '.join(sorted(set(bad)))}, which is not differentiable; the pathwise "
            "estimator needs grad f and Hess f. Use a smooth readout, or estimate responses with vs.simulate_response"
        )
    record = _readout_table(num, order)
    for e in record.values():
        if e.has(sp.Derivative, sp.Subs):
            raise NotAnalyticError(f"model: could not differentiate the readout symbolically ({e})")
    st = num.state
    start = {("g", i, k): sp.Float(net.C[i, k]) for i in range(num.n) for k in range(net.m) if net.C[i, k] != 0}
    parts = linear_arrays(num) if net.linear else None
    empty = _Table({}, st)
    return _Derivs(
        num.n, net.m, net.r, num.p, num.vector_readout, empty, empty, _Table(start, st), _Table(record, st),
        net.sigma.copy(), parts, num, [], [], [], net,
    )  # fmt: skip


# --------------------------------------------------------------------------- lags and schedule


def _check_lags(lags: Any, order: int, stationary: bool, dt: float, max_steps: int) -> dict[int, np.ndarray]:
    if not isinstance(lags, Mapping) or not lags:
        why = f"expected a dict {{order: array}}, e.g. {{1: taus, 2: pairs}}, received {describe(lags)}"
        raise refusal("lags", why, cls=InputError)
    out: dict[int, np.ndarray] = {}
    for n, raw in lags.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= order:
            why = f"keys are kernel orders 1..order={order}, received key {describe(n)}"
            raise refusal("lags", why, "raise order= or drop the key", InputError)
        n = int(n)
        width = n if stationary else n + 1
        L = check_lag_array(raw, width, stationary=stationary, name=f"lags[{n}]").reshape(-1, width)
        if L.shape[0] == 0:
            raise refusal(f"lags[{n}]", "received no lags", f"give at least one row of shape ({width},)", InputError)
        steps = np.rint(L / dt)
        off = np.abs(steps * dt - L) > 1e-9 * np.maximum(1.0, np.abs(L))
        if np.any(off):
            bad = tuple(int(x) for x in np.argwhere(off)[0])
            raise refusal(
                f"lags[{n}]{list(bad)}",
                f"{float(L[bad]):g} is not a multiple of dt = {float(dt):g}",
                "give lags on the dt grid or a dt that divides every lag",
                InputError,
            )
        total = int(steps.sum(axis=1).max())
        if total > max_steps:
            raise refusal(
                f"lags[{n}]",
                f"the largest total time {total * dt:g} (sum of the lags and s_n) needs {total} steps of dt = {dt:g}, "
                f"more than max_steps = {max_steps}",
                "use shorter lags, a larger dt, or raise max_steps=",
                InputError,
            )
        out[n] = L
    return out


@dataclass
class _Schedule:
    """Integer step plan: tangents, second variations, and what to record when."""

    N: int  # coarse steps after the start
    t_start: np.ndarray  # (T,) start step of each tangent (sorted)
    t_input: np.ndarray  # (T,) input index of each tangent
    q_start: np.ndarray  # (Q2,) start step s1 of each second variation (sorted)
    q_k1: np.ndarray  # (Q2,) input index k1
    q_w2: np.ndarray  # (Q2,) tangent index of (s2, k2)
    q_w1: np.ndarray  # (Q2,) tangent index of (s1, k1)
    rec1: dict  # step -> (entry idx, tangent idx)
    rec2: dict  # step -> (entry idx, w1 idx, w2 idx, K idx)
    index: dict  # (n, ks) -> entry indices aligned with lags[n]
    entries: int
    t_end: np.ndarray  # (T,) last step a tangent is used (then it is no longer propagated)
    q_end: np.ndarray  # (Q2,) last step a second variation is used


def _schedule(lags: dict[int, np.ndarray], m: int, dt: float) -> _Schedule:
    tangents: set[tuple[int, int]] = set()
    seconds: set[tuple[int, int, int, int]] = set()
    rows1, rows2 = [], []
    index: dict = {}
    q = 0
    for n in sorted(lags):
        S = np.rint(lags[n] / dt).astype(np.int64)
        for ks in itertools.product(range(m), repeat=n):
            idx = np.arange(q, q + S.shape[0])
            index[(n, ks)] = idx
            q += S.shape[0]
            for row, e in zip(S, idx):
                s = int(row[n]) if S.shape[1] > n else 0
                if n == 1:
                    tangents.add((s, ks[0]))
                    rows1.append((s + int(row[0]), int(e), (s, ks[0])))
                else:
                    s2, s1 = s, s + int(row[1])
                    tangents.add((s2, ks[1]))
                    tangents.add((s1, ks[0]))
                    seconds.add((s2, s1, ks[0], ks[1]))
                    rows2.append((s1 + int(row[0]), int(e), (s1, ks[0]), (s2, ks[1]), (s2, s1, ks[0], ks[1])))
    tl = sorted(tangents)
    tpos = {key: i for i, key in enumerate(tl)}
    ql = sorted(seconds, key=lambda x: (x[1], x[0], x[2], x[3]))
    qpos = {key: i for i, key in enumerate(ql)}
    rec1: dict = {}
    for step, e, tk in rows1:
        rec1.setdefault(step, []).append((e, tpos[tk]))
    rec2: dict = {}
    for step, e, t1, t2, kk in rows2:
        rec2.setdefault(step, []).append((e, tpos[t1], tpos[t2], qpos[kk]))
    t_end = np.zeros(len(tl), dtype=np.int64)  # last step at which a tangent / second variation is used
    q_end = np.zeros(len(ql), dtype=np.int64)
    for step, _, tk in rows1:
        t_end[tpos[tk]] = max(t_end[tpos[tk]], step)
    for step, _, t1, t2, kk in rows2:
        for key in (t1, t2):
            t_end[tpos[key]] = max(t_end[tpos[key]], step)
        q_end[qpos[kk]] = max(q_end[qpos[kk]], step)
    rec1 = {s: tuple(np.array(c) for c in zip(*v)) for s, v in rec1.items()}
    rec2 = {s: tuple(np.array(c) for c in zip(*v)) for s, v in rec2.items()}
    N = max(list(rec1) + list(rec2))
    return _Schedule(
        N=N,
        t_start=np.array([s for s, _ in tl], dtype=np.int64),
        t_input=np.array([k for _, k in tl], dtype=np.int64),
        q_start=np.array([x[1] for x in ql], dtype=np.int64),
        q_k1=np.array([x[2] for x in ql], dtype=np.int64),
        q_w2=np.array([tpos[(x[0], x[3])] for x in ql], dtype=np.int64),
        q_w1=np.array([tpos[(x[1], x[2])] for x in ql], dtype=np.int64),
        rec1=rec1,
        rec2=rec2,
        index=index,
        entries=q,
        t_end=t_end,
        q_end=q_end,
    )


# --------------------------------------------------------------------------- one ensemble


class _Ensemble:
    """States h (n, P), tangents W (n, T, P) and second variations K (n, Q2, P) of one chain."""

    def __init__(self, d: _Derivs, sc: _Schedule, H0: np.ndarray, dt: float):
        n, P = H0.shape
        self.d, self.sc, self.dt = d, sc, dt
        self.h = H0.copy()
        self.W = np.zeros((n, sc.t_start.size, P))
        self.K = np.zeros((n, sc.q_start.size, P))
        self.aW = 0  # tangents started so far (sorted by start step)
        self.aK = 0
        self.loW = self.loK = 0  # tangents / second variations before these are retired

    def burn(self, dW: np.ndarray) -> None:
        """One unperturbed Euler step of the state only (dW (r, P) already scaled by sqrt(dt))."""
        vals = self.d.state_step(self.h)
        self._move_h(vals, dW)

    def _move_h(self, vals: dict, dW: np.ndarray) -> None:
        d, h, dt = self.d, self.h, self.dt
        for i in range(d.n):
            phi = vals.get(("phi", i))
            if phi is not None:
                h[i] += dt * phi
            for k in range(d.r):
                s = vals.get(("sig", i, k))
                if s is not None:
                    h[i] += s * dW[k]

    def step(self, dW: np.ndarray) -> None:
        """One Euler step of (h, W, K), the exact derivatives of the Euler map (Itô):

        W' = W + dt Dphi W + sum_r Dsigma_r W dW_r,
        K' = K + dt (Dphi K + D^2 phi[W1, W2]) + sum_r (Dsigma_r K + D^2 sigma_r[W1, W2]) dW_r.
        """
        d, dt, n = self.d, self.dt, self.d.n
        vals = d.step(self.h)
        J = [[vals.get(("J", i, j)) for j in range(n)] for i in range(n)]
        if self.aK > self.loK:
            K = self.K[:, self.loK : self.aK]
            A = self.W[:, self.sc.q_w1[self.loK : self.aK]]
            B = self.W[:, self.sc.q_w2[self.loK : self.aK]]
            inc = np.zeros_like(K)
            for i in range(n):
                for j in range(n):
                    if J[i][j] is not None:
                        inc[i] += J[i][j] * K[j]
            for i, j, k in d.hess_keys:
                Hv = vals.get(("H", i, j, k))
                if Hv is None:
                    continue
                if j == k:
                    inc[i] += Hv * (A[j] * B[j])
                else:
                    inc[i] += Hv * (A[j] * B[k] + A[k] * B[j])
            inc *= dt
            for i, r, j in d.noise_keys:
                inc[i] += (vals[("S", i, r, j)] * dW[r]) * K[j]
            for i, r, j, l in d.noise_hess:
                Sv = vals[("S2", i, r, j, l)] * dW[r]
                if j == l:
                    inc[i] += Sv * (A[j] * B[j])
                else:
                    inc[i] += Sv * (A[j] * B[l] + A[l] * B[j])
            K += inc
        if self.aW > self.loW:
            W = self.W[:, self.loW : self.aW]
            inc = np.zeros_like(W)
            for i in range(n):
                for j in range(n):
                    if J[i][j] is not None:
                        inc[i] += J[i][j] * W[j]
            inc *= dt
            for i, r, j in d.noise_keys:
                inc[i] += (vals[("S", i, r, j)] * dW[r]) * W[j]
            W += inc
        self._move_h(vals, dW)

    def events(self, j: int, V: np.ndarray, Y: np.ndarray | None = None) -> None:
        """At coarse step j: start tangents / second variations, record into V (entries, p, P), retire."""
        self._events(j, V)
        while self.loW < self.aW and self.sc.t_end[self.loW] <= j:
            self.loW += 1
        while self.loK < self.aK and self.sc.q_end[self.loK] <= j:
            self.loK += 1

    def _events(self, j: int, V: np.ndarray) -> None:
        d, sc = self.d, self.sc
        b = int(np.searchsorted(sc.t_start, j, side="right"))
        bK = int(np.searchsorted(sc.q_start, j, side="right"))
        if b > self.aW or bK > self.aK:
            g = d.start(self.h)
            for t in range(self.aW, b):
                k = sc.t_input[t]
                for i in range(d.n):
                    self.W[i, t] = g.get(("g", i, k), 0.0)
            for q in range(self.aK, bK):
                k1, w2 = sc.q_k1[q], sc.q_w2[q]
                for i in range(d.n):
                    acc: Any = 0.0
                    for jj in range(d.n):
                        dg = g.get(("dg", i, k1, jj))
                        if dg is not None:
                            acc = acc + dg * self.W[jj, w2]
                    self.K[i, q] = acc
            self.aW, self.aK = b, bK
        r1, r2 = sc.rec1.get(j), sc.rec2.get(j)
        if r1 is None and r2 is None:
            return
        f = d.record(self.h)
        n = d.n
        if r1 is not None:
            e, t = r1
            Wt = self.W[:, t]  # (n, R, P)
            for c in range(d.p):
                acc = np.zeros(Wt.shape[1:])
                for i in range(n):
                    gi = f.get(("f1", c, i))
                    if gi is not None:
                        acc += gi * Wt[i]
                V[e, c] = acc
        if r2 is not None:
            e, t1, t2, q = r2
            A, B, Kq = self.W[:, t1], self.W[:, t2], self.K[:, q]
            for c in range(d.p):
                acc = np.zeros(A.shape[1:])
                for i in range(n):
                    gi = f.get(("f1", c, i))
                    if gi is not None:
                        acc += gi * Kq[i]
                    for jj in range(n):
                        hij = f.get(("f2", c, i, jj))
                        if hij is not None:
                            acc += hij * (A[i] * B[jj])
                V[e, c] = acc


# --------------------------------------------------------------------------- driver


def _bridge_stream(seed: int, block: int) -> np.random.Generator:
    """Bridge normals of the dt/2 companion run: SFC64(SeedSequence(seed, spawn_key=(block, 1)))."""
    return np.random.Generator(np.random.SFC64(np.random.SeedSequence(seed, spawn_key=(block, 1))))


def _check_order(order: Any) -> int:
    order = check_int(order, "order", minimum=1, hint=" (a kernel order 1 or 2)")
    if order > MAX_ESTIMATE_ORDER:
        raise refusal(
            "order",
            f"the pathwise estimator supports orders 1..{MAX_ESTIMATE_ORDER}, received {order}; order 3 needs the "
            "third variation of the flow, which is not implemented",
            "estimate K^(3) with a derivation route (vs.derive(model, 3)) or the response of vs.simulate_response",
        )
    return order


def _bytes_per_path(n: int, T: int, Q2: int, entries: int, p: int, r: int, companions: int) -> int:
    per_chain = n * (1 + 2 * T + 5 * Q2) + entries * p
    return 8 * (companions * per_chain + _SLAB * r * companions + 2 * entries * p)


def estimate_kernels(
    model: Diffusion,
    order: int | None = None,
    lags: Mapping[int, Any] | None = None,
    paths: int = DEFAULT_PATHS,
    seed: int = 0,
    *,
    dt: float = DEFAULT_DT,
    burn_in: float | str = "auto",
    windows: int = 1,
    window_spacing: float | None = None,
    control_variate: bool = False,
    bias_check: bool = True,
    chunk: int | None = None,
    max_memory: int | None = None,
    max_steps: int = 2_000_000,
    progress: bool | None = None,
    client: Any = None,
    mc: MonteCarlo | None = None,
) -> KernelEstimate:
    """Monte Carlo estimates of K^(1) and K^(2) with the pathwise (tangent) estimator.

    Parameters
    ----------
    model : any Diffusion whose drift, noise, coupling and readout are twice differentiable.
    order : highest order estimated (1 or 2; 3 is refused); default: the largest key of ``lags``.
    lags : {n: array}: for a stationary start ``lags[1]`` is a 1-D array of tau and ``lags[2]`` an
        (m, 2) array of (tau_1, tau_2) (tau_1 = t - s_1 the most recent lag, MATH.md section 4);
        for point / Gaussian starts append s_n: (m, 2) rows (tau, s) and (m, 3) rows (tau_1, tau_2, s_2).
        Every lag must be a multiple of ``dt``.
    paths, seed : independent paths (each one origin; default ``DEFAULT_PATHS`` = 10000, checks/settings.py)
        and the seed (see the module docstring).
    dt : Euler step (default ``DEFAULT_DT`` = 0.01).
    burn_in : ``"auto"`` (default) or a time: stationary start only, the time run from h = 0 before the
        origin; "auto" is 0 for a linear SRNN (its stationary Gaussian is drawn exactly) and 20 relaxation
        times of the rest point's slowest mode otherwise (checks/burn_in.py).
    windows : start windows per path (stationary start): after one burn-in, each path gives samples at the
        origins s_j = j * window_spacing (j < windows), averaged into one sample per path (time-shift
        averaging; the standard error is that of the per-path averages, so correlated windows are counted
        honestly).
    window_spacing : time between window origins (a multiple of dt; default: the longest lag sum).
    control_variate : subtract the first-order expansion Y of the tangent sample in the fluctuation around
        the rest point and add back its exact mean (order 1, network models; kernel_network.py).  The
        result's ``summary`` then reports the variance reduction: effective samples per CPU second against
        the plain estimator (a timed pilot of min(paths, 256) paths), as ``variance_reduction``.
    bias_check : also run the dt/2 companion (same increments) and report the time-step bias.
    chunk, max_memory : paths per chunk (rounded up to multiples of 64) and the working-memory bound
        in bytes; the result does not depend on them.
    max_steps : refuse lags (or burn-in) needing more Euler steps than this.
    progress : True / False / None (auto: a terminal and a long run).
    client : a dask.distributed Client: the seed blocks run as tasks (same numbers as locally).
    mc : a :class:`~volterra_sym.MonteCarlo` holding ``paths``, ``seed``, ``dt``, ``burn_in``, ``chunk``,
        ``max_memory``, ``progress`` and ``client`` at once (its ``scheme``, ``substeps`` and ``burn_in_dt``
        stay None); a keyword left at its default yields to it, one given with another value than a field
        it sets is an ArgumentError.
    """
    given = dict(
        paths=paths, seed=seed, dt=dt, burn_in=burn_in, chunk=chunk, max_memory=max_memory, progress=progress,
        client=client,
    )  # fmt: skip
    order, settings, max_steps, mem = _check_request(model, order, lags, mc, given, max_steps, bias_check)
    assert lags is not None and settings.paths is not None and settings.seed is not None and settings.dt is not None
    paths, seed, dt_ = settings.paths, settings.seed, settings.dt
    stationary = isinstance(model.initial, Stationary)
    L = _check_lags(lags, order, stationary, dt_, max_steps)
    if order not in L:
        raise refusal(
            "order",
            f"{order} was asked for but lags has no entry {order}: (given: {sorted(map(str, lags))})",
            f"add lags={{..., {order}: ...}} or lower order",
        )
    d = _derivatives(model, order)
    start = _start(d, settings, control_variate, max_steps)
    M, spacing = _check_windows(windows, window_spacing, stationary, L, dt_)
    cv = _control_variate(control_variate, d, start.hstar, dt_)
    outer = _schedule(L, d.m, dt_)
    L_run = _windowed_lags(L, M, spacing) if M > 1 else L
    sc = _schedule(L_run, d.m, dt_)
    fold = _fold(outer, sc, M)
    per_chunk = _chunks(d, sc, start.nburn, paths, settings.chunk, mem, bias_check)
    EY = _control_means(d, sc, dt_, start.nburn, start.m0, cv, bias_check)
    job = _Job(d, sc, dt_, start.nburn, start.m0, start.L0, seed, paths, bias_check, order, fold, cv, EY)
    cpu0 = time.process_time()
    results = _run_jobs(job, per_chunk, settings)
    cpu = time.process_time() - cpu0 if settings.client is None else None
    est = _collect(results, job, outer, L, start.label)
    est.summary = dict(
        burn_in=start.nburn * dt_, windows=M, window_spacing=spacing if M > 1 else None,
        control_variate=cv is not None, cpu_seconds=cpu,
    )  # fmt: skip
    if (M > 1 or cv is not None) and cpu is not None and 1 in L and paths > 1:
        est.summary.update(_variance_reduction(est, model, L, dt_, seed, start.burn_arg, cpu, mem))
    if bias_check:
        _warn_bias(est, outer)
    return est


#: estimate_kernels' defaults of the MonteCarlo fields it uses
_DEFAULTS: dict[str, Any] = dict(
    paths=DEFAULT_PATHS, seed=0, dt=DEFAULT_DT, burn_in="auto", chunk=None, max_memory=None, progress=None,
    client=None,
)  # fmt: skip


def _check_request(
    model: Any, order: Any, lags: Any, mc: Any, given: dict[str, Any], max_steps: Any, bias_check: Any
) -> tuple[int, MonteCarlo, int, float]:
    """Every argument check of estimate_kernels before any work: (order, the settings, max_steps, memory bound)."""
    if isinstance(model, Diffusion) and model.general_input:
        raise ModelError(
            "model: the input enters the drift nonlinearly (u1..um inside phi), and pathwise kernels kick the "
            "state along gamma(h); estimate the kernels of its input channels instead: "
            "volterra_sym.model.input_channels.channel_model(model, order)[0] (MATH.md section 11)"
        )
    if lags is None:
        raise refusal("lags", "required, e.g. lags={1: np.linspace(0, 3, 31)} (multiples of dt)", cls=InputError)
    if order is None and isinstance(lags, Mapping) and lags:
        keys = [k for k in lags if isinstance(k, (int, np.integer)) and not isinstance(k, bool)]
        order = max(keys) if keys else 1
    order = _check_order(order)
    settings = resolve(mc, "estimate_kernels", _DEFAULTS, given)
    assert settings.paths is not None and settings.dt is not None
    paths, dt_ = settings.paths, settings.dt
    max_steps = check_int(max_steps, "max_steps", minimum=1, remedy="give the largest number of Euler steps allowed")
    mem = check_positive(limits.MC_MEMORY if settings.max_memory is None else settings.max_memory, "max_memory")
    check_flag(bias_check, "bias_check")
    check_model(model)
    if paths < limits.MIN_ESTIMATE_PATHS:
        raise refusal(
            "paths",
            f"{paths} path(s) give no standard error (sample std / sqrt(paths) needs at least MIN_ESTIMATE_PATHS = "
            f"{limits.MIN_ESTIMATE_PATHS})",
            f"use paths >= {limits.MIN_ESTIMATE_PATHS} (the error shrinks like 1/sqrt(paths)), or change the limit "
            "with vs.limits.configure(min_estimate_paths=...)",
        )
    burn_in = settings.burn_in
    if check_burn_in(burn_in) != AUTO:  # a time in [0, dt * the step limit]
        steps_limit = min(max_steps, limits.MAX_BURN_IN_STEPS)
        which = "max_steps" if max_steps < limits.MAX_BURN_IN_STEPS else "the limit MAX_BURN_IN_STEPS"
        check_real_in_range(
            burn_in, "burn_in", low=0, high=steps_limit * dt_, what="time",
            remedy=f"{which} = {steps_limit} steps of dt = {dt_:g}; shorten burn_in=, use a larger dt=, or raise "
            "max_steps= / vs.limits.configure(max_burn_in_steps=...)",
        )  # fmt: skip
    check_client(settings.client)
    return order, settings, max_steps, mem


@dataclass
class _Start:
    """How the paths start: the burn-in (``burn_arg`` as asked, ``nburn`` steps of dt), the initial draw
    h_0 = m0 + L0 z, its description, and the rest point the burn-in rule found (or None)."""

    burn_arg: float | str
    nburn: int
    m0: np.ndarray
    L0: np.ndarray
    label: str
    hstar: np.ndarray | None


def _start(d: _Derivs, settings: MonteCarlo, control_variate: Any, max_steps: int) -> _Start:
    """The start of the paths (one burn-in rule: checks/burn_in.py)."""
    assert settings.dt is not None
    dt_, init = settings.dt, d.model.initial
    stationary = isinstance(init, Stationary)
    burn_arg = check_burn_in(settings.burn_in, dt_)
    _check_control_variate(control_variate, d)
    hstar: np.ndarray | None = None
    if burn_arg != AUTO and not stationary:
        raise refusal("burn_in", f"only used with a Stationary() start, but the model starts at {init!r}")
    if burn_arg == AUTO and stationary and d.parts is None:
        burn, _, hstar = relaxation_burn_in(d.model, dt_)
    elif burn_arg == AUTO:
        burn = 0.0
    else:
        burn = float(burn_arg)
    if stationary and (burn_arg != AUTO or d.parts is None):
        m0, L0 = np.zeros(d.n), np.zeros((d.n, d.n))
        label = "stationary (burn-in from h = 0)"
    else:
        m0, S0 = initial_arrays(d.model, d.parts)
        L0 = sqrtm_psd(S0)
        label = "stationary (exact Gaussian)" if stationary else repr(init)
    nburn = int(math.ceil(burn / dt_ - 1e-9)) if burn > 0 else 0
    if nburn > max_steps:
        raise refusal(
            "burn_in",
            f"{burn:g} needs {nburn} steps of dt = {dt_:g}, more than max_steps = {max_steps}",
            "shorten burn_in= or raise max_steps=",
        )
    return _Start(burn_arg, nburn, m0, L0, label, hstar)


def _chunks(d: _Derivs, sc: _Schedule, nburn: int, paths: int, chunk: int | None, mem: float, bias_check: bool) -> int:
    """Seed blocks per chunk within ``mem`` bytes; the whole Monte Carlo work is checked against vs.limits first."""
    comp = 2 if bias_check else 1
    per_path = _bytes_per_path(d.n, sc.t_start.size, sc.q_start.size, sc.entries, d.p, d.r, comp)
    need_block = per_path * BLOCK
    if need_block > mem:
        raise SimulationError(
            f"max_memory: one block of {BLOCK} paths needs ~{need_block} bytes ({sc.t_start.size} tangents, "
            f"{sc.q_start.size} second variations, {sc.entries} estimates per path) > max_memory={int(mem)}; raise "
            "max_memory=, request fewer lags (for point starts: fewer distinct s values), or bias_check=False"
        )
    # the whole Monte Carlo work (state, tangents and second variations per path and step), before running
    width = d.n * (1 + sc.t_start.size + sc.q_start.size)
    limits.check_mc_work(paths, (sc.N + nburn) * (3 if bias_check else 1), width)
    nblocks = -(-paths // BLOCK)
    blocks_fit = max(1, int(mem // need_block))
    return min(nblocks, blocks_fit) if chunk is None else min(nblocks, -(-chunk // BLOCK))


def _run_jobs(job: _Job, per_chunk: int, settings: MonteCarlo) -> list[tuple[list[int], np.ndarray, np.ndarray]]:
    """Every seed block's statistics, in block order (locally, or as dask tasks with ``settings.client``)."""
    paths, nblocks = job.paths, -(-job.paths // BLOCK)
    steps = (job.sc.N + job.nburn) * (2 if job.bias_check else 1)
    desc = "volterra_sym.estimate_kernels"
    try:
        if settings.client is not None:  # the same seed blocks as dask tasks (volterra_sym/checks/distributed.py)
            from .distributed import run_blocks

            client, chunked, progress = settings.client, settings.chunk is not None, settings.progress
            return list(run_blocks(client, _run_chunk, job, nblocks, per_chunk, chunked, progress, paths, desc))
        results = []
        prog = ProgressBar(settings.progress, paths * steps, steps, desc)
        try:
            for b0 in range(0, nblocks, per_chunk):
                results.append(_run_chunk(job, range(b0, min(nblocks, b0 + per_chunk)), prog))
        finally:
            prog.close()
        return results
    except SimulationError as exc:
        singular = _singular_readout(job.d.model)
        if singular and "non-finite kernel samples" in str(exc):  # finite states, so the readout is to blame
            raise SimulationError(
                f"readout: {singular} is singular on states the paths reached (its gradient or Hessian is not "
                "finite there; the states themselves stayed finite, so the time step is not the cause); use a "
                "readout smooth on every state the model reaches, e.g. a polynomial or tanh"
            ) from None
        raise


def _collect(results: list, job: _Job, outer: _Schedule, L: dict, label: str) -> KernelEstimate:
    """The per-block statistics merged in block order into a KernelEstimate (mean, SE, bias, corrected)."""
    d, paths, bias_check = job.d, job.paths, job.bias_check
    nq = outer.entries * (3 if bias_check else 1)  # the estimate, its bias (coarse - fine), the corrected one
    stats = BlockStats(nq, d.p, None)
    for sizes, bmean, bM2 in results:
        stats.sizes = sizes
        stats.bmean, stats.bM2 = bmean, bM2
        stats.end_chunk()
    mean = stats.mean
    se = np.sqrt(stats.M2 / ((paths - 1) * paths)) if paths > 1 else np.full_like(mean, np.inf)
    est = KernelEstimate(L, job.order, d.m, paths, job.seed, job.dt, job.nburn * job.dt, label, d.vector, bias_check)
    E = outer.entries
    for key, idx in outer.index.items():
        est._mean[key] = mean[idx]
        est._stderr[key] = se[idx]
        if bias_check:
            est._bias[key] = 2.0 * mean[E + idx]
            est._bias_se[key] = 2.0 * se[E + idx]
            est._corr[key] = mean[2 * E + idx]
            est._corr_se[key] = se[2 * E + idx]
        else:
            est._bias[key] = np.full_like(mean[idx], np.nan)
            est._bias_se[key] = np.full_like(mean[idx], np.nan)
    return est


def _singular_readout(model: Diffusion) -> str:
    """The first readout sub-expression that can be singular for a real state (sqrt, log, 1/h, ...), or ''."""
    real = {x: sp.Dummy(x.name, real=True) for x in model.state}
    for e in model.readout:
        for a in sp.preorder_traversal(e):
            if not isinstance(a, sp.Expr) or not a.has(*model.state):
                continue
            if isinstance(a, sp.log) and a.args[0].xreplace(real).is_positive is not True:
                return str(a)
            if isinstance(a, sp.Pow) and a.base.has(*model.state) and not (a.exp.is_integer and a.exp.is_nonnegative):
                if a.base.xreplace(real).is_positive is not True:
                    return str(a)
    return ""


def _lag_text(row: Any) -> str:
    """A lag row as text: '0.5' for one lag, '(0.2, 0.3)' for several."""
    vals = np.atleast_1d(np.asarray(row, dtype=float)).ravel()
    return f"{vals[0]:g}" if vals.size == 1 else "(" + ", ".join(f"{v:g}" for v in vals) + ")"


def _variance_reduction(
    est: KernelEstimate, model: Diffusion, L: dict, dt: float, seed: int, burn_arg: Any, cpu: float, mem: float
) -> dict[str, Any]:
    """Effective samples per CPU second against the plain estimator (one path, one window, no control
    variate), measured by a timed pilot of the plain estimator on min(paths, 256) paths:

        gain(tau) = v_plain(tau) c_plain / (SE_new(tau)^2 C_new),

    v_plain the plain per-path variance and c_plain its CPU seconds per path (pilot), SE_new and C_new the
    standard error and CPU seconds of this run: how many times more CPU the plain estimator needs for
    the same standard error.  Reported: the median over the order-1 lags (and input channels) where both
    variances are positive, and the plain-to-new variance ratio per path."""
    npilot = min(est.paths, 4 * BLOCK)
    pilot = estimate_kernels(
        model, 1, {1: L[1]}, paths=npilot, seed=seed + 7919, dt=dt, burn_in=burn_arg, bias_check=False,
        progress=False, max_memory=int(mem),
    )  # fmt: skip
    c_plain = float(pilot.summary["cpu_seconds"]) / npilot  # the pilot's simulation loop, as C_new below
    gains, ratios = [], []
    for key in est._mean:
        if key[0] != 1:
            continue
        v_plain = (pilot._stderr[key] ** 2) * npilot
        se_new = est._stderr[key]
        ok = (v_plain > 1e-300) & (se_new > 1e-150)
        gains += list((v_plain[ok] * c_plain) / (se_new[ok] ** 2 * cpu))
        ratios += list(v_plain[ok] / (se_new[ok] ** 2 * est.paths))
    if not gains:
        return {}
    return {
        "variance_reduction": float(np.median(gains)),
        "variance_reduction_min": float(np.min(gains)),
        "variance_ratio_per_path": float(np.median(ratios)),
        "plain_cpu_seconds_per_path": c_plain,
        "pilot_paths": npilot,
    }


def _check_windows(windows: Any, spacing: Any, stationary: bool, L: dict, dt: float) -> tuple[int, float]:
    """(number of start windows per path, spacing between their origins in time)."""
    M = check_int(windows, "windows", minimum=1, remedy="give the number of start windows per path, e.g. windows=8")
    if M > 1 and not stationary:
        raise refusal(
            "windows",
            f"{M} start windows per path need a stationary start (time-shift averaging); the model starts at a "
            "point or a Gaussian law",
            "use windows=1",
        )
    longest = max(float(np.max(np.sum(v, axis=1))) for v in L.values())
    if spacing is None:
        step = max(1, int(round(longest / dt)))
    else:
        sp_ = check_positive(spacing, "window_spacing")
        step = int(round(sp_ / dt))
        if step < 1 or abs(step * dt - sp_) > 1e-9 * max(1.0, sp_):
            why = f"{spacing!r} is not a positive multiple of dt = {dt!r}"
            raise refusal("window_spacing", why, "give a multiple of dt")
    return M, step * dt


def _windowed_lags(L: dict, M: int, spacing: float) -> dict[int, np.ndarray]:
    """Stationary lags (rows (tau_1..tau_n)) repeated at the window origins s_j = j * spacing: rows (..., s_j),
    window-major (the point-start form of _schedule)."""
    out = {}
    for n, rows in L.items():
        blocks = [np.hstack([rows, np.full((rows.shape[0], 1), j * spacing)]) for j in range(M)]
        out[n] = np.vstack(blocks)
    return out


def _fold(outer: _Schedule, inner: _Schedule, M: int) -> np.ndarray:
    """(E_outer, M) internal entry indices averaged into each reported entry."""
    fold = np.zeros((outer.entries, M), dtype=np.int64)
    for key, idx in outer.index.items():
        fold[idx] = inner.index[key].reshape(M, idx.size).T
    return fold


def _check_control_variate(flag: Any, d: _Derivs) -> None:
    """control_variate must be a bool, and True only for a network model."""
    if check_flag(flag, "control_variate") and d.net is None:
        raise refusal(
            "control_variate",
            "needs a network model (drift -Gamma h + a(W h + b), constant coupling and noise: vs.SRNN, vs.OU or a "
            "Diffusion of that form)",
            "use control_variate=False for this model",
        )


def _control_variate(flag: bool, d: _Derivs, hstar: np.ndarray | None, dt: float) -> ControlVariate | None:
    """The control variate's data (kernel_network.py), or None when not asked for."""
    if not flag or d.net is None:
        return None
    if hstar is None:
        hstar = relaxation_burn_in(d.model, dt)[2]
    f = d.record(hstar.reshape(-1, 1))
    return ControlVariate(d.net, hstar, f)


def _control_means(
    d: _Derivs, sc: _Schedule, dt: float, nburn: int, m0: np.ndarray, cv: ControlVariate | None, bias_check: bool
) -> tuple[np.ndarray, np.ndarray | None] | None:
    """Exact means E Y of the control variate for the dt chain (and the dt/2 chain): Y is linear in the Gaussian
    linearised chain, so E Y is Y along its mean path, the same recursion with dW = 0 from E h_0 = m0."""
    if cv is None:
        return None
    out = []
    for h, sub in ((dt, 1), (dt / 2, 2)) if bias_check else ((dt, 1),):
        ens = NetEnsemble(d, sc, m0.reshape(-1, 1), h, cv)
        zero = np.zeros((d.r, 1))
        V = np.zeros((sc.entries, d.p, 1))
        Y = np.zeros((sc.entries, d.p, 1))
        for _ in range(nburn * sub):
            ens.burn(zero)
        for j in range(sc.N):
            ens.events(j, V, Y)
            for _ in range(sub):
                ens.step(zero)
        ens.events(sc.N, V, Y)
        out.append(Y)
    return out[0], (out[1] if bias_check else None)


def _warn_bias(est: KernelEstimate, sc: _Schedule) -> None:
    """One TimeStepBiasWarning listing every kernel and lag whose bias is significant and above its SE."""
    concerned = []
    worst = 0.0
    for key in sc.index:
        b, bse, se = est._bias[key], est._bias_se[key], est._stderr[key]
        rounding = 1e-12 * np.maximum(1.0, np.abs(est._mean[key]))
        bad = (np.abs(b) > 3.0 * bse) & (np.abs(b) > se) & (np.abs(b) > rounding)
        if bad.ndim > 1:
            bad = np.any(bad, axis=tuple(range(1, bad.ndim)))
        rows = np.flatnonzero(bad)
        if rows.size:
            n, ks = key
            lags = [_lag_text(est.lags[n][r]) for r in rows]
            shown = ", ".join(lags[:12]) + (f", ... ({len(lags)} in all)" if len(lags) > 12 else "")
            concerned.append(f"K^({n})_{ks} at lags {shown}")
            with np.errstate(divide="ignore"):
                worst = max(worst, float(np.max(np.abs(b[rows]) / se[rows])))
    if concerned:
        size = "the standard error is 0 there" if not np.isfinite(worst) else f"up to {worst:.2g} standard errors"
        warnings.warn(
            f"estimate_kernels: the time-step bias (dt = {est.dt:g}; {size}) is significant "
            f"and larger than the standard error for {'; '.join(concerned)}; use est.corrected(n, k) with "
            "est.corrected_stderr(n, k) (Richardson from the coupled dt/2 run, bias O(dt^2)), halve dt, or add "
            "est.bias(n, k) to your tolerance",
            TimeStepBiasWarning,
            stacklevel=3,
        )


@dataclass
class _Job:
    """Everything a chunk needs (picklable: shipped to dask workers)."""

    d: _Derivs
    sc: _Schedule
    dt: float
    nburn: int
    m0: np.ndarray
    L0: np.ndarray
    seed: int
    paths: int
    bias_check: bool

    order: int
    fold: np.ndarray  # (E_outer, windows) internal entries averaged into each reported entry
    cv: ControlVariate | None = None
    EY: tuple | None = None  # exact means of the control variate (dt chain, dt/2 chain)

    def __getstate__(self) -> dict:  # lambdified functions do not pickle: rebuilt on the worker
        state = dict(self.__dict__)
        state["d"] = self.d.model
        return state

    def __setstate__(self, state: dict) -> None:
        model = state.pop("d")
        self.__dict__.update(state)
        key = (repr(model), self.order)
        if key not in _WORKER_CACHE:
            _WORKER_CACHE.clear()
            _WORKER_CACHE[key] = _derivatives(model, self.order)
        self.d = _WORKER_CACHE[key]


_WORKER_CACHE: dict = {}


def _run_chunk(job: _Job, blocks: Any, progress: ProgressBar | None = None) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Simulate the paths of ``blocks``; return (block sizes, per-block means, per-block M2)."""
    d, sc, dt = job.d, job.sc, job.dt
    prog = progress if progress is not None else ProgressBar(False, 1)
    sizes = [min(BLOCK, job.paths - b * BLOCK) for b in blocks]
    streams = [(block_stream(job.seed, b), s) for b, s in zip(blocks, sizes)]
    bridges = [(_bridge_stream(job.seed, b), s) for b, s in zip(blocks, sizes)] if job.bias_check else []
    P = sum(sizes)
    Z0 = block_normals(streams, (d.n,))  # (n, P)
    H0 = job.m0[:, None] + (sum(job.L0[:, j, None] * Z0[j] for j in range(d.n)) if np.any(job.L0) else 0.0)
    H0 = np.ascontiguousarray(np.broadcast_to(H0, (d.n, P)))
    ens = NetEnsemble if d.net is not None else _Ensemble
    cv = job.cv
    coarse: Any = NetEnsemble(d, sc, H0, dt, cv) if d.net is not None else _Ensemble(d, sc, H0, dt)
    fine: Any = None
    if job.bias_check:
        fine = NetEnsemble(d, sc, H0, dt / 2, cv) if ens is NetEnsemble else _Ensemble(d, sc, H0, dt / 2)
    sq, sqh = math.sqrt(dt), 0.5 * math.sqrt(dt)
    E = sc.entries
    Vc = np.zeros((E, d.p, P))
    Vf = np.zeros((E, d.p, P)) if fine is not None else None
    Yc = np.zeros((E, d.p, P)) if cv is not None else None
    Yf = np.zeros((E, d.p, P)) if cv is not None and fine is not None else None

    def run(nsteps: int, main: bool) -> None:
        """Burn-in (state only) or the main run (events at every coarse step 0..nsteps)."""
        for j0 in range(0, nsteps, _SLAB):
            j1 = min(nsteps, j0 + _SLAB)
            Z = block_normals(streams, (j1 - j0, d.r))
            Y = block_normals(bridges, (j1 - j0, d.r)) if fine is not None else None
            with np.errstate(over="ignore", invalid="ignore"):
                for jj in range(j1 - j0):
                    dW = sq * Z[jj]
                    if main:
                        coarse.events(j0 + jj, Vc, Yc)
                        coarse.step(dW)
                    else:
                        coarse.burn(dW)
                    if fine is not None:
                        assert Y is not None and Vf is not None
                        a, b = sqh * (Z[jj] + Y[jj]), sqh * (Z[jj] - Y[jj])
                        if main:
                            fine.events(j0 + jj, Vf, Yf)
                            fine.step(a)
                            fine.step(b)
                        else:
                            fine.burn(a)
                            fine.burn(b)
            prog.update((j1 - j0) * P * (2 if fine is not None else 1))
            for ens, what in ((coarse, "dt"), (fine, "dt/2")):
                if ens is not None and not np.isfinite(np.sum(ens.h)):
                    raise SimulationError(
                        f"estimate_kernels: non-finite states during {'the run' if main else 'burn-in'} (by step "
                        f"{j1} of the {what} chain); the model probably blows up (unstable drift, or dt too large "
                        "for Euler: reduce dt=)"
                    )
        if main:
            with np.errstate(over="ignore", invalid="ignore"):
                coarse.events(nsteps, Vc, Yc)
                if fine is not None:
                    assert Vf is not None
                    fine.events(nsteps, Vf, Yf)

    if job.nburn:
        run(job.nburn, False)
    run(sc.N, True)
    if cv is not None and job.EY is not None:  # X - Y + E Y (kernel_network.py)
        assert Yc is not None
        Vc = Vc - Yc + job.EY[0]
        if Vf is not None and Yf is not None:
            Vf = Vf - Yf + job.EY[1]
    Vc = Vc[job.fold].mean(axis=1)  # the windows of a path averaged: one sample per path
    Vf = None if Vf is None else Vf[job.fold].mean(axis=1)
    X = Vc if Vf is None else np.concatenate([Vc, Vc - Vf, 2.0 * Vf - Vc], axis=0)
    if not np.all(np.isfinite(X)):
        raise SimulationError(
            "estimate_kernels: non-finite kernel samples (tangent flow overflow); the flow is expanding over the "
            "requested lags, or dt is too large; use shorter lags or a smaller dt"
        )
    stats = BlockStats(X.shape[0], d.p, None)
    stats.start_chunk(sizes)
    stats.add(np.arange(X.shape[0]), X)
    return sizes, stats.bmean, stats.bM2

"""Reference weights of the Galerkin inner product, chosen from the model (MATH.md section 9).

:func:`choose_weight` picks, when the user gives none: the stationary density for 1-D models
(:func:`stationary_weight_1d`), the Gaussian of the linearisation at the stable fixed point
(:func:`linearisation_weight`) or the moments of a short pilot simulation (:func:`pilot_weight`);
``('gaussian', mean, cov)`` is checked by :func:`gaussian_weight`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

from ...errors import (
    GridError,
    ModelError,
    NotNormalisableError,
    UnstableError,
    describe,
)
from ...model import Diffusion, Gaussian, PointMass
from ...model.structure import network_structure
from ...validate import refusal
from .analytic import is_constant, lambdify_matrix, polynomial_degree


@dataclass(frozen=True, eq=False)
class Weight:
    """A reference weight w of the Galerkin inner product.

    kind : ``"gaussian"`` (N(mean, cov)) or ``"density-1d"`` (discrete 1-D measure ``nodes``, ``probs``).
    mean : (n,), cov : (n, n) -- for ``density-1d`` the moments of the measure (used for whitening).
    source : how it was chosen (``"user"``, ``"linearisation"``, ``"pilot"``, ``"stationary-1d"``).
    """

    kind: str
    mean: np.ndarray
    cov: np.ndarray
    source: str
    nodes: np.ndarray | None = None
    probs: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def describe(self) -> str:
        """One line for reports: kind, source, mean and standard deviations."""
        sd = np.sqrt(np.diag(self.cov))
        what = "Gaussian" if self.kind == "gaussian" else "stationary density (1-D)"
        return f"{what} from {self.source}: mean {np.round(self.mean, 4).tolist()}, sd {np.round(sd, 4).tolist()}"


def gaussian_weight(mean: Any, cov: Any, n: int, source: str = "user") -> Weight:
    """A Gaussian weight N(mean, cov), checked: shapes (n,), (n, n); cov symmetric positive definite."""
    m = np.asarray(mean, dtype=float).reshape(-1)
    S = np.asarray(cov, dtype=float)
    if S.ndim == 0 or S.size == 1:
        S = np.eye(n) * float(S.reshape(-1)[0]) if n > 1 else S.reshape(1, 1)
    if m.shape != (n,) or S.shape != (n, n):
        raise refusal(
            "weight", f"a Gaussian weight needs mean of shape ({n},) and cov ({n}, {n}), received {m.shape}, {S.shape}"
        )
    if not (np.all(np.isfinite(m)) and np.all(np.isfinite(S))):
        raise refusal("weight", f"mean and cov must be finite, received mean {m.tolist()}, cov {S.tolist()}")
    S = 0.5 * (S + S.T)
    ev = np.linalg.eigvalsh(S)
    if ev.min() <= 1e-12 * max(1.0, ev.max()):
        raise refusal(
            "weight",
            f"the Gaussian weight covariance must be positive definite, received eigenvalues {ev.tolist()}",
            "give a covariance of full rank (e.g. the stationary covariance of a pilot simulation)",
        )
    return Weight("gaussian", m, S, source)


def choose_weight(model: Diffusion, weight: Any = None, *, seed: int = 0) -> Weight:
    """Resolve ``weight=`` into a :class:`Weight` (``model`` numeric).

    weight :
        None -- default: ``"stationary-1d"`` in 1-D; ``"linearisation"`` for an affine drift with constant
        noise (exact stationary Gaussian); ``"pilot"`` otherwise.
        ``"stationary-1d"`` -- the 1-D stationary density rho ∝ D^-1 exp(int 2 phi / D) itself.
        ``"linearisation"`` -- N(x*, S) with x* a stable fixed point (Newton from 0) and S solving the
        Lyapunov equation J S + S J^T + D(x*) = 0, J = D phi(x*).
        ``"pilot"`` -- mean and covariance of a short seeded Euler simulation of the unperturbed dynamics.
        ``("gaussian", mean, cov)`` -- given explicitly.  A :class:`Weight` is returned unchanged.
    """
    n = model.n
    if isinstance(weight, Weight):
        if weight.mean.shape != (n,):
            raise refusal("weight", f"a Weight of dimension {weight.mean.shape[0]} for a model of dimension {n}")
        return weight
    if weight is None:
        if n == 1:
            weight = "stationary-1d"
        elif polynomial_degree(model.drift, model.state) in (0, 1) and is_constant(model.D, model.state):
            weight = "linearisation"
        else:
            weight = "pilot"
    if isinstance(weight, tuple) and len(weight) == 3 and weight[0] == "gaussian":
        return gaussian_weight(weight[1], weight[2], n)
    if weight == "stationary-1d":
        if n != 1:
            raise refusal("weight", f"'stationary-1d' needs a 1-D model, this one has dimension {n}", "use 'pilot'")
        return stationary_weight_1d(model)
    if weight == "linearisation":
        return linearisation_weight(model)
    if weight == "pilot":
        return pilot_weight(model, seed=seed)
    raise refusal(  # strings, a tuple or an object: not one check_choice
        "weight",
        "expected None, 'stationary-1d', 'linearisation', 'pilot', ('gaussian', mean, cov) or a Weight, "
        f"received {describe(weight)}",
    )


def _jacobian(model: Diffusion) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    phi = lambdify_matrix(model.drift, model.state, "drift")
    jac = lambdify_matrix(model.drift.jacobian(sp.Matrix(model.state)), model.state, "drift")
    return (lambda x: phi(x[None, :])[0, :, 0]), (lambda x: jac(x[None, :])[0])


def linearisation_weight(model: Diffusion) -> Weight:
    """N(x*, S): x* a fixed point of phi found by Newton from 0, S the Lyapunov covariance at x*."""
    phi, jac = _jacobian(model)
    x = np.zeros(model.n)
    for _ in range(100):
        J = jac(x)
        try:
            dx = np.linalg.solve(J, -phi(x))
        except np.linalg.LinAlgError:
            break
        x = x + dx
        if np.linalg.norm(dx) < 1e-13 * (1 + np.linalg.norm(x)):
            break
    J = jac(x)
    if not np.all(np.isfinite(x)) or np.linalg.norm(phi(x)) > 1e-8 * (1 + np.linalg.norm(x)):
        raise UnstableError(
            "weight='linearisation': Newton's method found no fixed point of the drift from h = 0; "
            "use weight='pilot' or weight=('gaussian', mean, cov)"
        )
    ev = np.linalg.eigvals(J)
    if ev.real.max() >= 0:
        raise UnstableError(
            f"weight='linearisation': the drift's Jacobian at the fixed point {x.tolist()} has eigenvalues "
            f"{np.round(ev, 6).tolist()} (not all Re < 0), so the linearisation has no stationary Gaussian; "
            "use weight='pilot' or weight=('gaussian', mean, cov) (no stationary law if the dynamics is unstable)"
        )
    D = lambdify_matrix(model.D, model.state, "diffusion")(x[None, :])[0]
    n = model.n
    # J S + S J^T = -D as a Kronecker system (n is small)
    K = np.kron(np.eye(n), J) + np.kron(J, np.eye(n))
    S = np.linalg.solve(K, -D.reshape(-1, order="F")).reshape(n, n, order="F")
    return gaussian_weight(x, 0.5 * (S + S.T), n, source="linearisation")


def pilot_weight(model: Diffusion, *, seed: int = 0, paths: int = 2000, time: float = 30.0) -> Weight:
    """Gaussian weight from the moments of a short seeded Euler-Maruyama run of the unperturbed dynamics.

    ``paths`` paths start at the initial law's mean (0 for a stationary start), run for ``time`` with a
    step from the drift's Jacobian there, and are pooled over 20 snapshots of the last third.
    """
    # Duplicated on purpose (not volterra_sym.checks.simulate): the route stays independent of the checks.
    n = model.n
    drift, jac, sig, sig_const = _pilot_functions(model)
    init = model.initial
    x0 = np.zeros(n)
    if isinstance(init, PointMass):
        x0 = np.array(init.x0.evalf(), dtype=float).reshape(-1)
    elif isinstance(init, Gaussian):
        x0 = np.array(init.mean.evalf(), dtype=float).reshape(-1)
    rad = float(np.abs(np.linalg.eigvals(jac(x0))).max())
    dt = min(0.01, 0.05 / max(rad, 1e-12))
    steps = int(math.ceil(time / dt))
    rng = np.random.default_rng(seed)
    X = np.tile(x0, (paths, 1))
    snaps = []
    snap_every = max(1, steps // 60)
    s0 = sig(X[:1])[0]  # used when the noise is constant
    with np.errstate(all="ignore"):
        for i in range(steps):
            dW = rng.standard_normal((paths, model.r)) * math.sqrt(dt)
            noise = dW @ s0.T if sig_const else np.einsum("qij,qj->qi", sig(X), dW)
            X = X + drift(X) * dt + noise
            if i >= steps - 20 * snap_every and (steps - 1 - i) % snap_every == 0:
                snaps.append(X.copy())
    Y = np.concatenate(snaps)
    # a stationary law keeps its spread over the last third; a diverging one grows (2000 paths: sd to ~3%)
    with np.errstate(all="ignore"):
        first, last = np.std(snaps[0], axis=0), np.std(snaps[-1], axis=0)
        growing = bool(np.any(last > 2.0 * first + 1e-12)) and float(np.max(np.abs(snaps[-1]))) > 1e3
    if not np.all(np.isfinite(Y)) or np.abs(Y).max() > 1e8 or growing:
        with np.errstate(all="ignore"):
            where = f" (at t = {time:g} its mean is {np.round(snaps[-1].mean(axis=0), 3).tolist()}, still growing)"
        raise UnstableError(
            "model: the unperturbed dynamics diverges: the pilot simulation that chooses the Galerkin weight ran "
            f"away{where if np.all(np.isfinite(snaps[-1])) else ''}, so there is no stationary law (an unstable "
            "drift?). Check the parameters (e.g. the sign of Gamma); for an unstable model from a point start use "
            "method='exact'/'taylor'"
        )
    return gaussian_weight(Y.mean(axis=0), np.cov(Y.T).reshape(n, n), n, source=f"pilot (seed {seed})")


def _pilot_functions(
    model: Diffusion,
) -> tuple[
    Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray], bool
]:
    """(drift (paths, n) -> (paths, n), Jacobian at a point, sigma (paths, n) -> (paths, n, r), sigma constant?)
    of the unperturbed dynamics: the network's matrix numerics when the model has a :class:`NetworkStructure`
    (one matrix product per step, no sympy form built), lambdified expressions otherwise."""
    S = network_structure(model)
    if S is not None:
        sigma = S.sigma
        return S.drift, S.jacobian, (lambda X: np.broadcast_to(sigma, (X.shape[0],) + sigma.shape)), True
    phi = lambdify_matrix(model.drift, model.state, "drift")
    sig = lambdify_matrix(model.diffusion, model.state, "diffusion")
    _, jac = _jacobian(model)
    return (lambda X: phi(X)[:, :, 0]), jac, sig, is_constant(model.diffusion, model.state)


def stationary_weight_1d(
    model: Diffusion, *, drop: float | None = None, panels: int = 48, per_panel: int = 20
) -> Weight:
    """The 1-D stationary density rho ∝ D^-1 exp(int 2 phi / D) on a composite Gauss-Legendre rule.

    The domain is where log rho is within ``drop`` (default 200) of its maximum; 2 phi / D is
    integrated through a Chebyshev interpolant of degree 400 (1600 if needed; its coefficient tail is checked).
    """
    (h,) = model.state
    phi = lambdify_matrix(model.drift, model.state, "drift")
    Dm = lambdify_matrix(model.D, model.state, "diffusion")

    def g(x: np.ndarray) -> np.ndarray:
        return 2 * phi(x[:, None])[:, 0, 0] / Dm(x[:, None])[:, 0, 0]

    drop = 200.0 if drop is None else drop
    lo, hi = -1.0, 1.0
    for _ in range(40):
        x = np.linspace(lo, hi, 8001)
        Dx = Dm(x[:, None])[:, 0, 0]
        if np.any(~np.isfinite(Dx)) or np.any(Dx <= 0):
            raise ModelError(f"diffusion: D = sigma^2 must be > 0 on the state space, found {Dx.min():.3g}")
        gx = g(x)
        lr = np.concatenate([[0.0], np.cumsum(0.5 * (gx[1:] + gx[:-1]) * np.diff(x))]) - np.log(Dx)
        top = lr.max()
        ok_lo, ok_hi = lr[0] < top - drop, lr[-1] < top - drop
        if ok_lo and ok_hi:
            break
        width = hi - lo
        lo, hi = (lo if ok_lo else lo - width), (hi if ok_hi else hi + width)
        if width > 1e7:
            break
    if not (lr[0] < top - drop and lr[-1] < top - drop):
        raise NotNormalisableError(
            f"weight='stationary-1d': the stationary density D^-1 exp(int 2 phi/D) of drift {model.drift[0]} does "
            "not fall by e^-200 within |h| < 1e7: either there is no normalisable stationary law, or its tails are "
            "heavy (power laws), so high polynomial moments do not exist; the polynomial Galerkin basis needs a "
            "stable drift with light tails (use Monte Carlo otherwise)"
        )
    keep = np.nonzero(lr >= top - drop)[0]
    lo, hi = x[max(keep[0] - 1, 0)], x[min(keep[-1] + 1, x.size - 1)]
    for deg in (400, 1600):
        cheb = np.polynomial.chebyshev.Chebyshev.interpolate(g, deg, domain=[lo, hi])
        tail = np.abs(cheb.coef[-20:]).max() / max(np.abs(cheb.coef).max(), 1e-300)
        if tail < 1e-13:
            break
    else:
        raise GridError(
            f"weight='stationary-1d': 2 phi / D is not resolved by a Chebyshev interpolant of degree 1600 on "
            f"[{lo:.4g}, {hi:.4g}] (relative tail {tail:.1e}); use weight='pilot' or a Gaussian weight"
        )
    prim = cheb.integ()
    t, w = np.polynomial.legendre.leggauss(per_panel)
    edges = np.linspace(lo, hi, panels + 1)
    half = 0.5 * np.diff(edges)
    nodes = (edges[:-1, None] + half[:, None] * (t[None, :] + 1)).reshape(-1)
    wq = (half[:, None] * w[None, :]).reshape(-1)
    logr = prim(nodes) - np.log(Dm(nodes[:, None])[:, 0, 0])
    probs = wq * np.exp(logr - logr.max())
    probs /= probs.sum()
    mean = float(probs @ nodes)
    var = float(probs @ (nodes - mean) ** 2)
    return Weight(
        "density-1d",
        np.array([mean]),
        np.array([[var]]),
        "stationary-1d",
        nodes=nodes,
        probs=probs,
        info={"domain": (float(lo), float(hi)), "nodes": nodes.size},
    )

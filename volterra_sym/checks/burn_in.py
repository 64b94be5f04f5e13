"""One burn-in rule for every Monte Carlo function (simulate, simulate_response, verify, estimate_kernels).

A stationary start of a model whose stationary law is not known in closed form is approximated by
running the unperturbed dynamics from h = 0 for a burn-in time T first.  ``burn_in="auto"`` (the
default) sets

    T = 20 / lambda,   lambda = min_i -Re eig D phi(h*),

twenty relaxation times of the slowest mode at the rest point h* the deterministic flow reaches from
h = 0 (from an unstable rest point: the slower of the two attractors reached by nudging it along its
most unstable direction), so the start's distance from the stationary law is about e^-20 of its
initial one in the linearised dynamics.  For network models (model/structure.py) D phi is the
matrix -Gamma + diag(a'(W h* + b)) W; otherwise the drift and its Jacobian are lambdified.  This is
the local relaxation only: for a multistable law (hopping between wells is slower) pass a longer
``burn_in=`` yourself.  A number keeps working as before; a negative, non-finite or too long one
(more than ``vs.limits.MAX_GRID_POINTS`` steps) is refused with :class:`~volterra_sym.errors.ArgumentError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import sympy as sp

from .. import limits
from ..errors import SimulationError
from ..model.diffusion import Diffusion
from ..model.structure import network_structure
from ..validate import check_real_in_range, refusal

__all__ = ["AUTO", "RELAXATION_TIMES", "check_burn_in", "relaxation_burn_in"]

AUTO = "auto"
RELAXATION_TIMES = 20.0


def check_burn_in(value: Any, dt: float | None = None, step_name: str = "dt") -> float | str:
    """``"auto"`` (also for None) or a burn-in time >= 0 whose steps of ``dt`` stay within the grid limit."""
    if value is None or (isinstance(value, str) and value.lower() == AUTO):
        return AUTO
    b = check_real_in_range(value, "burn_in", low=0, what="'auto' or a finite time")
    if dt is not None and b > 0:
        steps = math.ceil(b / dt - 1e-9)
        if steps > limits.MAX_GRID_POINTS:
            raise refusal(
                "burn_in",
                f"{b:g} needs {steps} steps of {dt:g}, more than the limit MAX_GRID_POINTS = {limits.MAX_GRID_POINTS}",
                f"give a shorter burn_in (or 'auto'), a larger {step_name}, or raise the limit with "
                "vs.limits.configure(MAX_GRID_POINTS=...)",
            )
    return b


def _flows(model: Diffusion) -> tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]]:
    """phi(h) and D phi(h) for h (n,) as NumPy callables (matrices for networks, lambdify otherwise)."""
    net = network_structure(model)
    if net is not None:
        return net.drift, net.jacobian
    num = model if model.is_numeric() else model.with_values()
    h = sp.Matrix(num.state)
    # the unperturbed drift phi(h, 0): a drift with the input inside it (MATH.md section 11) at u = 0
    drift = num.drift.xreplace({u: 0 for u in num.inputs}) if num.general_input else num.drift
    f = sp.lambdify(num.state, list(drift), "numpy")
    J = sp.lambdify(num.state, drift.jacobian(h), "numpy")
    return (lambda x: np.asarray(f(*x), dtype=float).reshape(-1)), (lambda x: np.asarray(J(*x), dtype=float))


def _settle(phi: Callable, jac: Callable, h0: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Follow dh = phi(h) dt from h0 until it rests (then polish by Newton): (h*, D phi(h*))."""
    h = np.array(h0, dtype=float)
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(int(min(200_000, math.ceil(1000.0 / dt)))):
            v = phi(h)
            if not np.all(np.isfinite(v)):
                break
            h = h + dt * v
            if float(np.max(np.abs(v))) < 1e-10:
                break
        for _ in range(3):  # Newton polish near a rest point
            v, J = phi(h), jac(h)
            if not (np.all(np.isfinite(v)) and np.all(np.isfinite(J))) or float(np.max(np.abs(v))) > 1e-6:
                break
            try:
                h = h - np.linalg.solve(J, v)
            except np.linalg.LinAlgError:
                break
    return h, jac(h)


def relaxation_burn_in(model: Diffusion, dt: float) -> tuple[float, float, np.ndarray]:
    """(T, lambda, h*): the automatic burn-in 20 / lambda, the slowest relaxation rate and its rest point."""
    phi, jac = _flows(model)
    h, J = _settle(phi, jac, np.zeros(model.n), dt)
    points = [(h, J)]
    if np.all(np.isfinite(J)) and np.all(np.isfinite(h)):
        w, V = np.linalg.eig(J)
        if np.max(w.real) >= 0:
            v = np.real(V[:, int(np.argmax(w.real))])
            v = v / max(float(np.linalg.norm(v)), 1e-300)
            points = [_settle(phi, jac, h + sgn * 0.01 * v, dt) for sgn in (1.0, -1.0)]
    best: tuple[float, np.ndarray] | None = None
    for h, J in points:
        if not (np.all(np.isfinite(J)) and np.all(np.isfinite(h))):
            raise SimulationError(
                "burn_in: the deterministic flow from h = 0 does not settle, so no automatic burn-in can be set; the "
                "stationary law may not exist. Pass burn_in=T explicitly, or use a PointMass / Gaussian start"
            )
        rate = float(np.min(-np.linalg.eigvals(J).real))
        if not rate > 0:
            raise SimulationError(
                f"burn_in: the linearisation at the rest point reached from h = 0 is not contracting (slowest rate "
                f"{rate:.3g}); pass burn_in=T explicitly or use a PointMass / Gaussian start"
            )
        if best is None or rate < best[0]:
            best = (rate, h)
    assert best is not None
    return RELAXATION_TIMES / best[0], best[0], best[1]

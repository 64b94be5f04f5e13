"""Error estimates of the Galerkin route: the same model on one weight at degrees p, p + step (, p + 2 step).

Every kernel, zeroth-order term, prediction, expectation or Taylor coefficient comes with an estimate of its
error from the change with the degree; :meth:`GalerkinEstimate.warning` turns an estimate above a tolerance
into a message (the caller issues it as a warning of its own class).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...model import Diffusion
from ...validate import check_int, refusal
from .analytic import check_analytic
from .system import GalerkinSystem, build_galerkin, check_degree
from .weights import choose_weight

__all__ = ["GalerkinEstimate", "galerkin_error"]


@dataclass(eq=False)
class GalerkinEstimate:
    """A degree-p system and its refinements on the same weight: values at degree p with an error estimate.

    Two levels (default): error = |v_p - v_{p+step}|.  Tail from below (``coarser`` at p - step, the
    route's default: one cheap extra build): rho = the slowest local contraction
    |v_p - v_{p+step}| / |v_{p-step} - v_p| over the points that moved (capped at 0.9) and
    error = |v_p - v_{p+step}| / (1 - rho), the sum of the geometric tail |v_p - v_inf|.
    Three levels (``finer`` at p + 2 step): the observed
    contraction rho = max|v_{p+step} - v_{p+2 step}| / max|v_p - v_{p+step}| (capped at 0.9) turns the
    differences into the tail of a geometric series, error = (|v_p - v_{p+step}| + |v_{p+step} - v_{p+2 step}|)
    / (1 - rho) (the second difference guards points that converge later than the maximum); unlike the
    two-level difference it does not underestimate a slowly converging case.
    Every method returns ``(values at degree p, error estimate)`` with equal shapes; for ``predict`` the
    estimate also includes the time-stepping error (:meth:`GalerkinSystem.predict_step_error`).
    """

    coarse: GalerkinSystem
    fine: GalerkinSystem
    finer: GalerkinSystem | None = None
    coarser: GalerkinSystem | None = None

    def _finite(self, name: str, values: Any, system: GalerkinSystem) -> Any:
        """``values`` if finite; otherwise an ArgumentError naming what put the law out of the basis's reach."""
        arr = np.asarray(values, dtype=complex if np.iscomplexobj(values) else float)
        if np.all(np.isfinite(arr)):
            return values
        w = system.weight
        sd = np.sqrt(np.abs(np.diag(w.cov)))
        init = system.model.initial
        start = np.asarray(getattr(init, "mean", getattr(init, "x0", np.zeros(0))), dtype=float).ravel()
        far = start.size and np.max(np.abs(start - w.mean) / np.maximum(sd, 1e-300)) > 1e6
        argument = "initial" if far else "weight"
        remedy = (
            "start within a few standard deviations of the weight, or use a weight fitted to the start"
            if far
            else "use a weight close to the law (weight='linearisation' or 'pilot', or ('gaussian', mean, cov) "
            "with the law's own scale)"
        )
        raise refusal(
            argument,
            f"the Galerkin {name.replace('_', ' ')} at degree {system.degree} are not finite: the polynomial basis "
            f"overflows ({w.describe()}"
            + (f"; initial state {np.round(start, 4).tolist()}" if start.size else "")
            + ")",
            remedy,
        )

    def evaluate(self, fn: Any, *args: Any) -> tuple[Any, Any]:
        """(fn(system at degree p, *args), its error estimate) for any function of a system (same rule)."""
        return self._estimate(fn, *args)

    def _estimate(self, name: Any, *args: Any) -> tuple[Any, Any]:
        label = name if isinstance(name, str) else getattr(name, "__name__", "values")

        def get(system: GalerkinSystem) -> Any:
            values = getattr(system, name)(*args) if isinstance(name, str) else name(system, *args)
            return self._finite(label, values, system)

        a, b = get(self.coarse), get(self.fine)
        d1 = np.abs(np.asarray(a) - np.asarray(b))
        if self.coarser is not None:  # tail from below: slowest local contraction |v_p - v_(p+s)| / |v_(p-s) - v_p|
            d0 = np.abs(np.asarray(get(self.coarser)) - np.asarray(a))
            m0, m1 = float(np.max(d0, initial=0.0)), float(np.max(d1, initial=0.0))
            if m0 == 0.0:
                return a, d1 if m1 == 0.0 else d1 / 0.1
            seen = d0 >= 1e-3 * m0  # points that moved measurably (ratios of rounding noise say nothing)
            rho = min(float(np.max(d1[seen] / d0[seen])), 0.9)
            return a, d1 / (1.0 - rho)
        if self.finer is None:
            return a, d1
        d2 = np.abs(np.asarray(b) - np.asarray(get(self.finer)))
        m1, m2 = float(np.max(d1, initial=0.0)), float(np.max(d2, initial=0.0))
        rho = 0.0 if m1 == 0.0 and m2 == 0.0 else min(m2 / m1, 0.9) if m1 > 0 else 0.9
        return a, (d1 + d2) / (1.0 - rho) if rho > 0 else d1

    def kernel_values(
        self, n: int, ks: Any, lags: Any, component: int = 0, s: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        return self._estimate("kernel_values", n, ks, lags, component, s)

    def mean0(self, t: Any, component: int = 0) -> tuple[np.ndarray, np.ndarray]:
        return self._estimate("mean0", t, component)

    def predict(
        self, U: Any, t: Any, eps: float = 1.0, by_order: bool = False, order: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        a, err = self._estimate("predict", U, t, eps, by_order, order)
        return a, err + self.coarse.predict_step_error(U, t, eps, by_order, order)

    def expectation(self, g: Any, s: float = 0.0) -> tuple[Any, Any]:
        return self._estimate("expectation", g, s)

    def taylor_coefficient(self, n: int, ks: Any, p: Sequence[int], component: int = 0) -> tuple[float, float]:
        a, err = self._estimate("taylor_coefficient", n, ks, p, component)
        return a, float(err)

    def warning(self, error: Any, tol: float, what: str = "kernel") -> str | None:
        """None if max(error) <= tol, else a message the caller can issue as a warning."""
        e = float(np.max(error)) if np.size(error) else 0.0
        if e <= tol:
            return None
        p, q = (self.coarser or self.coarse).degree, (self.finer or self.fine).degree
        return (
            f"galerkin: the {what} error estimate (degrees {p} to {q}) = {e:.3g} exceeds tol = {tol:.3g}; "
            f"raise the degree (degree={q} or more), change the weight (now {self.coarse.weight.describe()}; "
            "e.g. weight='pilot', 'linearisation' or ('gaussian', mean, cov) close to the law), or check with Monte "
            "Carlo (vs.estimate_kernels)"
        )


def galerkin_error(
    model: Diffusion, degree: int, *, step: int = 2, levels: int | str = 2, weight: Any = None, **build: Any
) -> GalerkinEstimate:
    """Build degrees p, p + step (and p + 2 step when ``levels=3``, p - step when ``levels="tail"``) on one
    weight; see :class:`GalerkinEstimate`."""
    degree = check_degree(degree)
    step = check_int(step, "step", minimum=1, hint=" (degree increment of the estimate)")
    if isinstance(levels, bool) or levels not in (2, 3, "tail"):  # two integers and a word: not check_choice
        raise refusal(
            "levels", f"expected 2 (p vs p + step), 3 (with p + 2 step) or 'tail' (with p - step), received {levels!r}"
        )
    if levels == "tail" and degree - step < 1:
        levels = 2  # no lower degree to compare with
    num = model.with_values() if model.parameters else model
    check_analytic(num)
    w = choose_weight(num, weight, seed=build.get("seed", 0))
    offsets = (0, step, -step) if levels == "tail" else tuple(j * step for j in range(int(levels)))
    systems = {}
    for off in offsets:
        opts = dict(build)
        if opts.get("points") is not None:
            opts["points"] = opts["points"] + off
        systems[off] = build_galerkin(num, degree + off, weight=w, **opts)
    return GalerkinEstimate(
        systems[0], systems[step], finer=systems.get(2 * step), coarser=systems.get(-step) if levels == "tail" else None
    )

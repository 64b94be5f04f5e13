"""Predictions of closed-form responses: the cube form where the kernels allow it, filter cascades elsewhere.

``engine="auto"`` (default): every order (and top Taylor shell) whose kernels are symmetric products
of one-lag factors in the absolute lags goes through :mod:`volterra_sym.numerics.separable` (one filter
chain per distinct input and rate, then a polynomial per time point); the others through the filter
cascades of :mod:`volterra_sym.numerics.series`.  ``"cascade"``: the cascades for every order (the
previous predictor, kept as a cross-check).  ``"cube"``: the cube form for every order, an error where
it does not apply.  Which path each order takes is ``plan.path(component, n)`` of
:func:`prediction_plan`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..validate import check_choice, refusal
from .separable import CubePlan, evaluate_cube
from .series import ExpPolyKernels, evaluate_series

ENGINES = ("auto", "cube", "cascade")


class CubeKernels(ExpPolyKernels, Protocol):
    """A closed-form response that also caches its cube-form plans (per horizon and top shell)."""

    def cube_plan(self, horizon: float, top_degree: int | None) -> CubePlan: ...


def prediction_plan(forms: CubeKernels, t: np.ndarray, top_degree: int | None = None) -> CubePlan:
    """The plan a prediction on the grid ``t`` uses (which orders take the cube form, and its filters)."""
    return forms.cube_plan(float(t[-1]), top_degree)


def predict_series(
    forms: CubeKernels,
    U: np.ndarray,
    tt: np.ndarray,
    eps: float,
    *,
    interp: str,
    top_degree: int | None = None,
    engine: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Each order's contribution eps^n y^(n)(t) and each order's top-shell estimate (as :func:`evaluate_series`)."""
    check_choice(engine, "engine", ENGINES)
    if engine == "cascade":
        return evaluate_series(forms, U, tt, eps, interp=interp, top_degree=top_degree)
    plan = prediction_plan(forms, tt, top_degree)
    shells = (False, True) if top_degree is not None else (False,)
    keys = [(c, n, top) for c in range(forms.model.p) for n in range(1, forms.order + 1) for top in shells]
    cascade = {key for key in keys if plan.path(*key) == "cascade"}
    if engine == "cube" and cascade:
        c, n, top = min(cascade)
        raise refusal(
            "engine='cube'",
            f"order {n}{' (top shell)' if top else ''} of component {c} has no cube form ({plan.cascade[(c, n, top)]})",
            "use engine='auto'",
        )
    exps: dict = {}  # e^{-nu t} on the grid, shared by order 0 and the outer factors of the cube form
    out, top_part = evaluate_series(forms, U, tt, eps, interp=interp, top_degree=top_degree, only=cascade, exps=exps)
    cube = [key for key in keys if key in plan.entries]
    if cube:
        with np.errstate(over="ignore", invalid="ignore"):  # non-finite results are reported by the caller
            values = evaluate_cube(plan, tt, U, interp, cube, exps)
        for (c, n, is_top), y in values.items():
            if is_top:
                top_part[n, :, c] += y * eps**n
            else:
                out[n, :, c] = y * eps**n
    return out, top_part

"""Workflows that join a route and a check: :func:`verify` (derive, then compare with the references).

The checks themselves (:mod:`volterra_sym.checks`) never import the kernel code;
this module sits above both and is where the two meet.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import limits
from .checks.verify import VerifyReport, check_request, verify_response
from .derive import derive
from .errors import VolterraError
from .model.diffusion import Diffusion
from .model.parsing import lookalike_note
from .response import Response
from .validate import check_model, refusal


def verify(
    model: Diffusion,
    u: Any,
    t: Any,
    *,
    order: int | None = None,
    response: Response | None = None,
    derive_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> VerifyReport:
    """Compare the Volterra prediction of E f(h_t) with Monte Carlo (and the exact Gaussian oracle).

    Parameters
    ----------
    model, u, t : the model, its input (callable or samples on ``t``) and the time grid.
    order : kernel order for :func:`~volterra_sym.derive` (None: the readout's degree for linear models).
    response : an already derived Response (skips ``derive``).
    derive_options : keyword arguments for ``derive`` (e.g. ``method="taylor", lag_degree=6``).
    options : the Monte Carlo settings of :func:`volterra_sym.checks.verify.verify_response`
        (``paths``, ``seed``, ``scheme``, ``z``, ``eps``, ``substeps``, ``bias``, ``burn_in``,
        ``chunk``, ``max_memory``, ``progress``).
    """
    check_model(model)
    internal = ("model", "u", "t", "truncation")
    allowed = [name for name in inspect.signature(verify_response).parameters if name not in internal]
    unknown = sorted(set(options) - set(allowed) - {"response"})
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise refusal(
            unknown[0][:40],
            f"not an option of verify (options: {', '.join(allowed)}){hint}" + lookalike_note(unknown[0], allowed),
        )
    tt, samples, *_ = check_request(model, u, t, **options)  # paths, grid and MC work: refused before deriving
    if response is None:
        response = derive(model, order, **dict(derive_options or {}))
    eps = options.get("eps", 1.0)
    truncation = next_order_part(response, samples, tt, eps)  # the same piecewise-linear input as verify's
    return verify_response(model, u, t, response=response, truncation=truncation, **options)


def next_order_part(response: Response, u: Any, t: Any, eps: float = 1.0, extra: int = 2) -> np.ndarray | None:
    """|eps^(N+1) y^(N+1)| + ... + |eps^(N+extra) y^(N+extra)| on t: the size of the first orders a Response of
    order N omits (two orders by default: one of them may vanish by symmetry), or None where it cannot be had.

    Galerkin responses continue their forward hierarchy on the same matrices; other routes derive order
    N + extra again with the options the Response was derived with (``derive`` records them).
    """
    tt = np.asarray(t, dtype=float)
    own = getattr(response, "higher_orders", None)
    if callable(own):
        return np.sum(np.abs(np.asarray(own(u, tt, eps, extra), dtype=float)), axis=0)
    options = getattr(response, "derive_options", None)
    top = min(response.order + extra, limits.MAX_ORDER)
    if options is None or top <= response.order:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            nxt = derive(response.model, top, **options)
            parts = np.asarray(nxt.predict(u, tt, eps=eps, by_order=True), dtype=float)[response.order + 1 :]
    except VolterraError:  # beyond the route's reach (limits, unsupported): not estimated
        return None
    return np.sum(np.abs(parts), axis=0)

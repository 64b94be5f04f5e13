"""Workflows that join a route and a check: :func:`verify` (derive, then compare with the references).

The checks themselves (:mod:`volterra_sym.checks`) never import the kernel code;
this module sits above both and is where the two meet.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from .checks.verify import VerifyReport, check_request, verify_response
from .derive import derive
from .errors import ArgumentError
from .model.diffusion import Diffusion
from .model.parsing import lookalike_note
from .response import Response
from .validate import check_model


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
    allowed = [name for name in inspect.signature(verify_response).parameters if name not in ("model", "u", "t")]
    unknown = sorted(set(options) - set(allowed) - {"response"})
    if unknown:
        close = difflib.get_close_matches(unknown[0], allowed, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ArgumentError(
            f"{unknown[0][:40]}: not an option of verify (options: {', '.join(allowed)}){hint}"
            + lookalike_note(unknown[0], allowed)
        )
    check_request(model, u, t, **options)  # paths, grid and Monte Carlo work: refused before deriving
    if response is None:
        response = derive(model, order, **dict(derive_options or {}))
    return verify_response(model, u, t, response=response, **options)

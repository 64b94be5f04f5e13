"""The exact route, ``method="exact"``: closed forms of linear SRNNs / OU models (MATH.md sections 4-5).

What is inside:

* ``route.py``       -- :class:`ExactRoute` (options, ``derive``), :func:`derive_exact` (the generator
  recursion in intertwined form) and :class:`ExactResponse`;
* ``derivation.py``  -- the route's steps of the derivation record (semigroup, recursion, kernels, FDT).

The Gaussian toolkit it uses lives in :mod:`volterra_sym.algebra.linear_gaussian`; its Response shares
:class:`~volterra_sym.routes.closed_form.ClosedFormResponse` with the Taylor route.
"""

from __future__ import annotations

from .route import ExactResponse, ExactRoute, RecursionStep, derive_exact

__all__ = ["ExactResponse", "ExactRoute", "RecursionStep", "derive_exact"]

"""The Taylor (short-lag) route, ``method="taylor"`` (MATH.md section 6).

What is inside:

* ``route.py``         -- :class:`TaylorRoute` (options, ``derive``), :class:`TaylorResponse` (zero-rate
  exponential polynomials) and the horizon warning;
* ``coefficients.py``  -- the Taylor coefficients d^p K^(n)_k(0) = E_mu0[L1^{k_n} L0^{p_n} ... f];
* ``derivation.py``    -- the route's step of the derivation record.

Stationary laws without a closed form come from :mod:`volterra_sym.routes.stationary_expectation`.
"""

from __future__ import annotations

from ...errors import TruncationWarning
from .route import HORIZON_TOLERANCE, TaylorResponse, TaylorRoute, derive_taylor

__all__ = ["HORIZON_TOLERANCE", "TaylorResponse", "TaylorRoute", "TruncationWarning", "derive_taylor"]

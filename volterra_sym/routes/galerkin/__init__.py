"""The Galerkin (Koopman-generator) route, ``method="galerkin"`` (MATH.md section 9).

What is inside, from the route down to its numerical core:

* ``route.py``       -- :class:`GalerkinRoute` (options, ``derive``) and :class:`GalerkinResponse`;
* ``derivation.py``  -- the route's steps of the derivation record;
* ``estimate.py``    -- systems of degrees p - 2, p, p + 2 on one weight: values with error estimates;
* ``system.py``      -- :class:`~.system.GalerkinSystem`: kernels, zeroth-order term, Taylor coefficients;
* ``prediction.py``  -- the forward hierarchy r_n(t) in the basis (ETD2 steps);
* ``assembly.py``    -- the matrices M, Gamma_k, c_f and the initial functional by quadrature;
* ``basis.py``       -- orthonormal polynomial bases and their quadratures;
* ``weights.py``     -- the reference weight chosen from the model;
* ``analytic.py``    -- the model's coefficients as NumPy functions, and what the route refuses.
"""

from __future__ import annotations

from .route import DEFAULT_TOL, GalerkinResponse, GalerkinRoute

__all__ = ["DEFAULT_TOL", "GalerkinResponse", "GalerkinRoute"]

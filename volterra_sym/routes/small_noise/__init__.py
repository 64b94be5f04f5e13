"""``method="small_noise"``: kernels expanded in the noise amplitude around the stable fixed point.

MATH.md section 10: K^(n) = K^(n)_0 + s^2 K^(n)_2 + O(s^4), n = 0, 1, 2, for an analytic drift with
additive noise and a constant input coupling, stationary start.

- ``local.py``   the model at h*: refusals, Newton, J, Lyapunov covariance P, mean shift m*, derivative tensors
- ``guard.py``   fixed points from several starts, pilot covariance against P, nearly neutral modes
- ``terms.py``   the expansion terms as exponential polynomials (closed-form convolutions with e^{J t})
- ``route.py``   the route object (its options: the schema ``SmallNoiseRoute.schema``) and :class:`SmallNoiseResponse`
- ``document.py`` the derivation record
- ``numeric.py``  the numeric engine for SRNN networks (n > 6): K^(0), K^(1) in float64, O(n^3) per step
- ``numeric_route.py`` its Response (:class:`NumericSmallNoiseResponse`)
"""

from .route import SmallNoiseResponse, SmallNoiseRoute

__all__ = ["SmallNoiseResponse", "SmallNoiseRoute"]

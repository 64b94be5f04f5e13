"""Learning with the response feature: scikit-learn estimators and readout training (MATH.md section 7).

The paper's second claim: an SRNN whose hidden weights are fixed and whose
readout alone is trained is a kernel machine on the reproducing kernel Hilbert
space of the response feature Phi_t(u).  This subpackage makes that usable:

* :class:`ResponseFeatures` -- Phi_t(u) of each series as a scikit-learn transformer;
* :class:`ResponseKernel` -- the Gram matrix <Phi(u), Phi(v)> against the training
  series, for ``SVC(kernel="precomputed")`` / ``KernelRidge(kernel="precomputed")``;
* :class:`ReadoutRegression` -- ridge regression of a readout dictionary of a given
  SRNN on expected outputs computed from the Volterra series (no Monte Carlo), with
  the fitted readout as a coefficient vector on Phi_t(u);
* :func:`compare_with_simulation` -- the same readout trained on Monte Carlo means,
  with the gap and its standard error.

Needs scikit-learn (``pip install 'volterra_sym[learn]'``); it is imported only when
this subpackage is.
"""

from __future__ import annotations

from ..errors import MissingDependencyError, ReadoutError

try:
    import sklearn  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised by a subprocess test
    raise MissingDependencyError(
        "volterra_sym.learn needs scikit-learn, which is not installed; "
        "install it with: pip install 'volterra_sym[learn]' (or pip install 'scikit-learn>=1.6')"
    ) from exc

from .estimators import EXPECTED_FAILED_CHECKS, ResponseFeatures, ResponseKernel  # noqa: E402
from .inputs import as_series, check_feature_size  # noqa: E402
from .readout import (  # noqa: E402
    READOUT_EXPECTED_FAILED_CHECKS,
    ReadoutRegression,
    SimulationGap,
    compare_with_simulation,
    ridge_readout,
)

__all__ = [
    "EXPECTED_FAILED_CHECKS",
    "READOUT_EXPECTED_FAILED_CHECKS",
    "MissingDependencyError",
    "ReadoutError",
    "ReadoutRegression",
    "SimulationGap",
    "compare_with_simulation",
    "ridge_readout",
    "ResponseFeatures",
    "ResponseKernel",
    "as_series",
    "check_feature_size",
]

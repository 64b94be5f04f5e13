"""volterra_sym: symbolic-numeric response theory of stochastic recurrent neural networks.

Derive the Volterra-series response kernels of a stochastic RNN
dh = [phi(h) + eps gamma(h) u_t] dt + sigma dW, y = f(h), symbolically
(exact closed forms for linear SRNNs, Taylor kernels for nonlinear ones),
lower them to NumPy, predict E f(h_t) for an input, export LaTeX/Markdown
derivations, and verify everything against independent oracles.
"""

from .errors import (
    ExpectationError,
    ExpressionError,
    FeatureError,
    GridError,
    InputError,
    ModelError,
    NotAnalyticError,
    NotLinearError,
    NotNormalisableError,
    QuadratureCostWarning,
    SimulationError,
    StationaryLawError,
    TruncationWarning,
    UnstableError,
    VolterraError,
    VolterraWarning,
)
from .kernels import derive
from .model import OU, SRNN, Diffusion, Gaussian, PointMass, Stationary
from .parsing import parse_expr
from .response import Response
from .simulate import SimulationResult, simulate, simulate_response
from .verify import VerifyReport, verify

#: names loaded on first use (heavier subsystems), name -> module
_LAZY = {
    "gaussian_oracle": "oracle",
    "gaussian_law": "oracle",
    "response_feature": "features",
    "response_kernel": "features",
    "feature_words": "features",
    "feature_coefficients": "features",
    "predict_features": "features",
    "sig_words": "signature",
    "sig_size": "signature",
    "loads_run": "modelfile",
    "RunSpec": "modelfile",
    "load_model": "modelfile",
    "loads_model": "modelfile",
    "load_run": "modelfile",
    "taylor_kernels": "taylor",
    "expectation": "stationary",
    "derive_generator": "generator",
    "volterra_quadrature": "quadrature",
    "estimate_kernels": "kernel_estimates",
}


def __getattr__(name: str):
    """Lazy access to the heavier subsystems (simulation, verification, features, model files)."""
    import importlib

    where = _LAZY
    if name in where:
        return getattr(importlib.import_module(f".{where[name]}", __name__), name)
    raise AttributeError(f"module 'volterra_sym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__version__ = "0.1.0"

__all__ = [  # plus the lazily loaded names of _LAZY (see __dir__)
    "ExpectationError",
    "FeatureError",
    "GridError",
    "InputError",
    "NotAnalyticError",
    "NotNormalisableError",
    "QuadratureCostWarning",
    "StationaryLawError",
    "TruncationWarning",
    "VolterraWarning",
    "OU",
    "SRNN",
    "Diffusion",
    "ExpressionError",
    "Gaussian",
    "ModelError",
    "NotLinearError",
    "PointMass",
    "Response",
    "SimulationResult",
    "VerifyReport",
    "SimulationError",
    "Stationary",
    "UnstableError",
    "VolterraError",
    "derive",
    "simulate",
    "simulate_response",
    "verify",
    "parse_expr",
    "__version__",
]
__all__ += sorted(_LAZY)

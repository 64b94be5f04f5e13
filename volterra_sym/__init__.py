"""volterra_sym: symbolic-numeric response theory of stochastic recurrent neural networks.

Derive the Volterra-series response kernels of a stochastic RNN
dh = [phi(h) + eps gamma(h) u_t] dt + sigma dW, y = f(h), symbolically
(exact closed forms for linear SRNNs, Taylor kernels for nonlinear ones),
lower them to NumPy, predict E f(h_t) for an input, export LaTeX/Markdown
derivations, and verify everything against independent oracles.
"""

from .errors import (
    ExpressionError,
    ModelError,
    NotLinearError,
    SimulationError,
    UnstableError,
    VolterraError,
)
from .kernels import derive
from .model import OU, SRNN, Diffusion, Gaussian, PointMass, Stationary
from .parsing import parse_expr
from .response import Response

__version__ = "0.1.0"

__all__ = [
    "OU",
    "SRNN",
    "Diffusion",
    "ExpressionError",
    "Gaussian",
    "ModelError",
    "NotLinearError",
    "PointMass",
    "Response",
    "SimulationError",
    "Stationary",
    "UnstableError",
    "VolterraError",
    "derive",
    "parse_expr",
    "__version__",
]

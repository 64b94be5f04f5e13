"""volterra_sym: symbolic-numeric response theory of stochastic recurrent neural networks.

Derive the Volterra-series response kernels of a stochastic RNN
dh = [phi(h) + eps gamma(h) u_t] dt + sigma dW, y = f(h), symbolically
(exact closed forms for linear SRNNs, Taylor kernels for nonlinear ones),
lower them to NumPy, predict E f(h_t) for an input, export LaTeX/Markdown
derivations, and verify everything against independent oracles.
"""

from typing import TYPE_CHECKING

from . import limits
from .checks.settings import MonteCarlo
from .checks.simulate import SimulationResult, simulate, simulate_response
from .checks.verify import VerifyReport
from .derive import derive
from .errors import (
    ArgumentError,
    ConvergenceWarning,
    ExpectationError,
    ExpressionError,
    FeatureError,
    GridError,
    InputError,
    MissingDependencyError,
    ModelError,
    NotAnalyticError,
    NotLinearError,
    NotNormalisableError,
    OutputError,
    QuadratureCostWarning,
    SimulationError,
    StationaryLawError,
    TimeStepBiasWarning,
    TruncationWarning,
    UnstableError,
    VolterraError,
    VolterraWarning,
)
from .model.diffusion import OU, SRNN, Diffusion, Gaussian, PointMass, Stationary
from .model.parsing import parse_expr
from .response import Response
from .workflows import verify

if TYPE_CHECKING:  # the lazily loaded names of _LAZY, declared for type checkers and IDEs (tests/test_architecture.py)
    from . import plots as plots
    from . import routes as routes
    from .algebra.expectations import expectation as expectation
    from .checks.kernel_estimates import estimate_kernels as estimate_kernels
    from .checks.oracle import (
        gaussian_law as gaussian_law,
    )
    from .checks.oracle import (
        gaussian_oracle as gaussian_oracle,
    )
    from .features.response_feature import (
        feature_coefficients as feature_coefficients,
    )
    from .features.response_feature import (
        feature_words as feature_words,
    )
    from .features.response_feature import (
        predict_features as predict_features,
    )
    from .features.response_feature import (
        response_feature as response_feature,
    )
    from .features.response_feature import (
        response_kernel as response_kernel,
    )
    from .features.signature import (
        sig_size as sig_size,
    )
    from .features.signature import (
        sig_words as sig_words,
    )
    from .importers.noisy_rnn import from_noisy_rnn as from_noisy_rnn
    from .importers.noisy_rnn import noisy_rnn_hyperparameters as noisy_rnn_hyperparameters
    from .modelfile import (
        RunSpec as RunSpec,
    )
    from .modelfile import (
        load_model as load_model,
    )
    from .modelfile import (
        load_run as load_run,
    )
    from .modelfile import (
        loads_model as loads_model,
    )
    from .modelfile import (
        loads_run as loads_run,
    )
    from .numerics.estimated_transfer import estimated_transfer as estimated_transfer
    from .numerics.simplex_quadrature import volterra_quadrature as volterra_quadrature
    from .numerics.summaries import memory_capacity as memory_capacity
    from .numerics.summaries import memory_function as memory_function
    from .numerics.summaries import relaxation_rates as relaxation_rates
    from .numerics.summaries import resonance as resonance
    from .routes.generator import derive_generator as derive_generator
    from .routes.taylor.coefficients import taylor_kernels as taylor_kernels

#: names loaded on first use (heavier subsystems), name -> module
_LAZY = {
    "gaussian_oracle": "checks.oracle",
    "gaussian_law": "checks.oracle",
    "response_feature": "features.response_feature",
    "response_kernel": "features.response_feature",
    "feature_words": "features.response_feature",
    "feature_coefficients": "features.response_feature",
    "predict_features": "features.response_feature",
    "sig_words": "features.signature",
    "sig_size": "features.signature",
    "loads_run": "modelfile",
    "RunSpec": "modelfile",
    "load_model": "modelfile",
    "loads_model": "modelfile",
    "load_run": "modelfile",
    "taylor_kernels": "routes.taylor.coefficients",
    "routes": "routes",
    "expectation": "algebra.expectations",
    "derive_generator": "routes.generator",
    "volterra_quadrature": "numerics.simplex_quadrature",
    "estimate_kernels": "checks.kernel_estimates",
    "estimated_transfer": "numerics.estimated_transfer",
    "relaxation_rates": "numerics.summaries",
    "resonance": "numerics.summaries",
    "memory_function": "numerics.summaries",
    "memory_capacity": "numerics.summaries",
    "plots": "plots",
    "from_noisy_rnn": "importers.noisy_rnn",
    "noisy_rnn_hyperparameters": "importers.noisy_rnn",
}


def __getattr__(name: str):
    """Lazy access to the heavier subsystems (simulation, verification, features, model files)."""
    import importlib

    where = _LAZY
    if name in where:
        module = importlib.import_module(f".{where[name]}", __name__)
        return module if name == where[name] else getattr(module, name)
    raise AttributeError(f"module 'volterra_sym' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


from ._version import __version__  # noqa: E402

__all__ = [  # plus the lazily loaded names of _LAZY (see __dir__)
    "limits",
    "OutputError",
    "ArgumentError",
    "ConvergenceWarning",
    "ExpectationError",
    "FeatureError",
    "GridError",
    "InputError",
    "MissingDependencyError",
    "NotAnalyticError",
    "NotNormalisableError",
    "QuadratureCostWarning",
    "StationaryLawError",
    "TimeStepBiasWarning",
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
    "MonteCarlo",
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

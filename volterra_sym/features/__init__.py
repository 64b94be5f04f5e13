"""Response features (MATH.md section 7): path signatures and the response feature Phi_t(u)."""

from .response_feature import (
    feature_coefficients,
    feature_words,
    predict_features,
    response_feature,
    response_kernel,
)
from .signature import sig_size, sig_words

__all__ = [
    "feature_coefficients",
    "feature_words",
    "predict_features",
    "response_feature",
    "response_kernel",
    "sig_size",
    "sig_words",
]

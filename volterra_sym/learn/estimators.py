"""scikit-learn estimators for the response feature and the response kernel (MATH.md section 7).

:class:`ResponseFeatures` maps each series u (on its grid, switched on at its
first sample, ended at its last) to the truncated response feature

    Phi_t(u) = Sig^{<=N}(X),    X^{(q,k)}(r) = int_0^r psi_q(a rho) u~^k(rho) a drho,   psi_q(r) = r^q / q!,

i.e. :func:`volterra_sym.features.response_feature` on the grid a (t - t_0), with
a the time scale.  :class:`ResponseKernel` is the Gram matrix of those features,
k(u, v) = <Phi(u), Phi(v)>, against the training series: a transformer whose
output is a precomputed kernel (``SVC(kernel="precomputed")``,
``KernelRidge(kernel="precomputed")``).  A readout trained on that kernel is the
kernel machine of the paper: any readout of a fixed-weight SRNN is a linear
functional <beta, Phi(u)> (:mod:`volterra_sym.learn.readout`).

Input forms: see :mod:`volterra_sym.learn.inputs`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from .. import limits
from ..errors import FeatureError, InputError, describe
from ..features import feature_words, response_feature
from ..features.signature import check_feature_int
from .inputs import SeriesBatch, as_series, check_feature_size

__all__ = ["ResponseFeatures", "ResponseKernel", "EXPECTED_FAILED_CHECKS"]

#: scikit-learn checks the estimators do not pass, and why (pass as ``check_estimator(...,
#: expected_failed_checks=EXPECTED_FAILED_CHECKS)``).
EXPECTED_FAILED_CHECKS: dict[str, str] = {}

_INPUT_SCALINGS = ("none", "standard")
_FEATURE_SCALINGS = ("none", "standard", "level")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str) or value not in choices:
        raise FeatureError(f"{name}: expected one of {list(choices)}, received {describe(value)}")


def _check_int(name: str, value: Any, minimum: int) -> int:
    check_feature_int(name, value, minimum, FeatureError)  # with the vs.limits bound of degree / level / refine
    return int(value)


def _is_collection(X: Any) -> bool:
    """A Python list/tuple of series (or of pairs), parsed by :func:`as_series` rather than ``check_array``."""
    return isinstance(X, (list, tuple)) and len(X) > 0 and not np.isscalar(X[0])


def _plain_feature(values: np.ndarray, grid: np.ndarray, level: int, refine: int) -> np.ndarray:
    """Degree-0 response feature: the signature of X(r) = int_0^r u~ (reversed time), (k, L, m) -> (k, m + ... + m^N).

    The signature of a path restricted to words over a subset of its channels is the signature
    of the projected path, so this is the q = 0 block of the degree-1 response feature.
    """
    m = values.shape[-1]
    full = response_feature(values, grid, 1, level, refine=refine)  # channels (q, k) -> q * m + k
    keep = [i for i, w in enumerate(feature_words(m, 1, level)) if all(q == 0 for q, _ in w)]
    return full[:, keep]


def _what_is_wrong(X: Any) -> str:
    """A short statement of what is wrong with array input X (for scikit-learn's validation errors)."""
    if np.isscalar(X) or getattr(X, "ndim", 1) == 0:
        return f"received a scalar {describe(X)}, not a collection of series"
    if np.iscomplexobj(X):
        return "received complex values; the series must be real"
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        return "received a sparse matrix; pass a dense array (n_series, n_times[, n_channels])"
    try:
        arr = np.asarray(X)
    except (TypeError, ValueError):
        return f"received {describe(X)}, which is not an array of numbers"
    if arr.size == 0:
        return f"received an empty array of shape {arr.shape}; pass at least one series with samples"
    if arr.dtype.kind in "USO":
        return (
            f"received {arr.dtype.kind == 'O' and 'objects' or 'strings'} ({describe(X)}); the samples must be numbers"
        )
    return f"received {describe(X)}"


def validated_series(est: Any, X: Any, reset: bool) -> SeriesBatch:
    """Parse X for estimator ``est`` (with its ``t``); arrays go through scikit-learn's validation
    (n_features_in_ = number of time points), whose errors are re-raised as InputError naming what was wrong
    (scikit-learn's own text kept, so its conventions hold)."""
    if _is_collection(X):
        if reset:
            for name in ("n_features_in_", "feature_names_in_"):
                est.__dict__.pop(name, None)
        return as_series(X, est.t)
    if len(getattr(X, "shape", ())) == 1 or (isinstance(X, (list, tuple)) and len(X) > 0):
        return as_series(X, est.t)  # 1-D: refused with the remedy (one series is reshape(1, -1))
    try:
        arr = validate_data(est, X, reset=reset, allow_nd=True, dtype=np.float64, ensure_all_finite=False)
    except TypeError as exc:  # scikit-learn's convention (check_dtype_object): a TypeError, named here
        raise TypeError(f"X: {_what_is_wrong(X)}. {exc}") from None
    except ValueError as exc:
        if reset or "features, but" not in str(exc):
            raise InputError(f"X: {_what_is_wrong(X)}. {exc}") from None
        raise InputError(
            f"X: {exc} Array input is read as series on the grid of fit ({est.n_features_in_} time points); "
            "pass series of other lengths as a list of pairs (t_i, u_i), which may have any length"
        ) from None
    return as_series(X, est.t, array=arr)


class _SeriesInputTags:
    """scikit-learn tags shared by the estimators here: 3-D arrays (n_series, n_times, n_channels), no NaN."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        return tags

    def _more_tags(self) -> dict[str, Any]:  # scikit-learn < 1.6
        return {"_xfail_checks": EXPECTED_FAILED_CHECKS, "X_types": ["2darray", "3darray"]}


class ResponseFeatures(_SeriesInputTags, TransformerMixin, BaseEstimator):
    """Response feature Phi_t(u) of each series (MATH.md section 7) as a scikit-learn transformer.

    Parameters
    ----------
    degree : int >= 0
        P, the highest power of the support basis psi_q(r) = r^q / q! (q = 0..P).  ``degree=0``
        gives the plain signature of the path int_0^r u~ (no memory weighting).
    level : int >= 1
        N, the signature truncation level (the highest kernel order represented).
    time_scale : float > 0 or "auto"
        a: the feature of a series on grid t is computed on the grid a (t - t[0]).  ``"auto"``
        sets a = 1 / (longest training duration), so training series span at most [0, 1].
    t : array (L,) or None
        The common time grid of array input (default: the sample index 0, 1, ..., L-1).  Lists of
        pairs (t_i, u_i) carry their own grids.
    input_scaling : "none" or "standard"
        "standard" centres and scales each input channel by its mean and standard deviation over
        all training samples before the feature is taken.
    feature_scaling : "none", "standard" or "level"
        "standard": z-score every coordinate with its training mean and standard deviation;
        "level": divide each level n by the root-mean-square Euclidean norm of that level over the
        training series (a graded rescaling that keeps inner products within a level).
    include_level0 : bool
        Prepend the constant coordinate 1 (left unscaled).
    refine : int >= 1
        Subdivide each grid step (see :func:`volterra_sym.features.response_feature`).

    Attributes
    ----------
    n_channels_in_ : m;  n_features_out_ : size of the feature, sum_{n<=N} ((P+1) m)^n (+1)
    time_scale_ : the time scale a used;  input_mean_, input_scale_ : (m,) (input_scaling)
    feature_mean_, feature_scale_ : (size,) (feature_scaling);  n_features_in_ : L for array input

    Shapes: ``transform(X)`` returns float64 (n_series, n_features_out_).  With ``time_scale=1``,
    ``t`` the grid and no scaling, the numbers are exactly
    ``response_feature(X, t, degree, level)``.
    """

    def __init__(
        self,
        degree: int = 2,
        level: int = 2,
        *,
        time_scale: float | str = "auto",
        t: Any = None,
        input_scaling: str = "none",
        feature_scaling: str = "none",
        include_level0: bool = False,
        refine: int = 1,
    ) -> None:
        self.degree = degree
        self.level = level
        self.time_scale = time_scale
        self.t = t
        self.input_scaling = input_scaling
        self.feature_scaling = feature_scaling
        self.include_level0 = include_level0
        self.refine = refine

    # ---- scikit-learn plumbing -------------------------------------------------------

    def _series(self, X: Any, reset: bool) -> SeriesBatch:
        return validated_series(self, X, reset)

    def _check_params(self) -> None:
        _check_int("degree", self.degree, 0)
        _check_int("level", self.level, 1)
        _check_int("refine", self.refine, 1)
        _check_choice("input_scaling", self.input_scaling, _INPUT_SCALINGS)
        _check_choice("feature_scaling", self.feature_scaling, _FEATURE_SCALINGS)
        if isinstance(self.time_scale, str):
            if self.time_scale != "auto":
                raise FeatureError(f"time_scale: expected a positive number or 'auto', received {self.time_scale!r}")
        elif (
            isinstance(self.time_scale, bool)
            or not isinstance(self.time_scale, (int, float, np.number))
            or not np.isfinite(self.time_scale)
            or self.time_scale <= 0
        ):
            raise FeatureError(
                f"time_scale: expected a positive number or 'auto', received {describe(self.time_scale)}"
            )

    # ---- fit / transform -------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> ResponseFeatures:
        """Learn the channel count, the time scale and the scalings from training series X."""
        self._check_params()
        batch = self._series(X, reset=True)
        m = batch.n_channels
        size = check_feature_size(self.degree, self.level, m, batch.n_series, self.include_level0)
        if self.time_scale == "auto":
            longest = float(batch.durations().max())
            self.time_scale_ = 1.0 / longest if longest > 0 else 1.0
        else:
            self.time_scale_ = float(self.time_scale)
        self.n_channels_in_ = m
        self.n_features_out_ = size
        self.input_mean_ = np.zeros(m)
        self.input_scale_ = np.ones(m)
        if self.input_scaling == "standard":
            samples = np.concatenate(batch.samples(), axis=0)
            self.input_mean_ = samples.mean(axis=0)
            std = samples.std(axis=0)
            self.input_scale_ = np.where(std > 0, std, 1.0)
        self.feature_mean_ = np.zeros(size)
        self.feature_scale_ = np.ones(size)
        if self.feature_scaling != "none":
            raw = self._raw(batch)
            self._fit_feature_scaling(raw)
        return self

    def _fit_feature_scaling(self, raw: np.ndarray) -> None:
        offset = 1 if self.include_level0 else 0
        body = raw[:, offset:]
        mean = np.zeros(body.shape[1])
        scale = np.ones(body.shape[1])
        if self.feature_scaling == "standard":
            mean = body.mean(axis=0)
            std = body.std(axis=0)
            scale = np.where(std > 1e-300, std, 1.0)
        else:  # "level"
            dim = (self.degree + 1) * self.n_channels_in_
            start = 0
            for n in range(1, self.level + 1):
                block = body[:, start : start + dim**n]
                rms = float(np.sqrt(np.mean(np.sum(block**2, axis=1))))
                scale[start : start + dim**n] = rms if rms > 1e-300 else 1.0
                start += dim**n
        self.feature_mean_[offset:] = mean
        self.feature_scale_[offset:] = scale

    def _raw(self, batch: SeriesBatch) -> np.ndarray:
        """Unscaled features (n, size) of a parsed batch (after input scaling)."""
        out = np.zeros((batch.n_series, self.n_features_out_))
        if self.include_level0:
            out[:, 0] = 1.0
        offset = 1 if self.include_level0 else 0
        for idx, grid, values in batch.groups(self.time_scale_):
            if grid.size < 2:  # a single sample: no time has elapsed, X = 0 and Phi = 0
                continue
            scaled = (values - self.input_mean_) / self.input_scale_
            try:
                if self.degree == 0:
                    out[idx, offset:] = _plain_feature(scaled, grid, self.level, self.refine)
                else:
                    out[idx, offset:] = response_feature(scaled, grid, self.degree, self.level, refine=self.refine)
            except FeatureError as exc:  # overflow: name the estimator's argument that scales the culprit
                text = str(exc).split("; rescale")[0]
                if text.startswith("t:"):
                    raise FeatureError(
                        f"time_scale: with time_scale = {self.time_scale_:.3g} {text[3:]}; use a smaller time_scale "
                        "(or 'auto', which maps the longest training series to [0, 1])"
                    ) from None
                if text.startswith("u:"):
                    raise FeatureError(f"X: {text[3:]}; rescale the inputs (or input_scaling='standard')") from None
                raise
        return out

    def transform(self, X: Any) -> np.ndarray:
        """Features (n_series, n_features_out_) float64 (arrays: same number of time points as in fit; pairs: any)."""
        check_is_fitted(self, "n_features_out_")
        batch = self._series(X, reset=False)
        if batch.n_channels != self.n_channels_in_:
            raise InputError(
                f"X: the series have {batch.n_channels} channel(s), but {type(self).__name__} was fitted on "
                f"{self.n_channels_in_}; pass series with {self.n_channels_in_} channel(s) "
                "(arrays (n_series, n_times, n_channels))"
            )
        check_feature_size(self.degree, self.level, batch.n_channels, batch.n_series, self.include_level0)
        raw = self._raw(batch)
        return (raw - self.feature_mean_) / self.feature_scale_

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Word labels "S(q0k0,q1k0)": letter (q, k) is the support power q of input channel k ("S()" = level 0)."""
        check_is_fitted(self, "n_features_out_")
        words = feature_words(self.n_channels_in_, max(self.degree, 1), self.level, self.include_level0)
        if self.degree == 0:
            words = [w for w in words if all(q == 0 for q, _ in w)]
        names = ["S(" + ",".join(f"q{q}k{k}" for q, k in w) + ")" for w in words]
        return np.asarray(names, dtype=object)


class ResponseKernel(_SeriesInputTags, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """The response kernel k(u, v) = <Phi(u), Phi(v)> as a precomputed-kernel transformer.

    ``fit(X)`` stores the training features Phi(X_train) (n_train, size); ``transform(X)``
    returns the Gram matrix K[i, j] = k(X[i], X_train[j]) of shape (n_series, n_train), so

        make_pipeline(ResponseKernel(...), SVC(kernel="precomputed"))

    trains an SVM on the response-feature RKHS and predicts on new series.  Parameters as
    :class:`ResponseFeatures`, with different defaults: ``feature_scaling="standard"`` (every
    coordinate z-scored on the training series, so no word dominates by its scale: the kernel of
    a diagonally reweighted response feature) and ``include_level0=True`` (the constant 1, which
    acts as an intercept).  ``feature_scaling="none", include_level0=False`` gives the raw
    response kernel <Phi_t(u), Phi_t(v)> of :func:`volterra_sym.features.response_kernel`.

    normalize : bool
        Cosine normalisation k(u, v) / sqrt(k(u, u) k(v, v)) (a kernel with unit diagonal).

    Attributes
    ----------
    features_ : the fitted :class:`ResponseFeatures`;  train_features_ : (n_train, size)
    """

    def __init__(
        self,
        degree: int = 2,
        level: int = 2,
        *,
        time_scale: float | str = "auto",
        t: Any = None,
        input_scaling: str = "none",
        feature_scaling: str = "standard",
        include_level0: bool = True,
        refine: int = 1,
        normalize: bool = False,
    ) -> None:
        self.degree = degree
        self.level = level
        self.time_scale = time_scale
        self.t = t
        self.input_scaling = input_scaling
        self.feature_scaling = feature_scaling
        self.include_level0 = include_level0
        self.refine = refine
        self.normalize = normalize

    def _feature_params(self) -> dict[str, Any]:
        return {
            "degree": self.degree,
            "level": self.level,
            "time_scale": self.time_scale,
            "t": self.t,
            "input_scaling": self.input_scaling,
            "feature_scaling": self.feature_scaling,
            "include_level0": self.include_level0,
            "refine": self.refine,
        }

    def fit(self, X: Any, y: Any = None) -> ResponseKernel:
        """Compute and store the training features Phi(X) (n_train, size)."""
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise FeatureError(f"normalize: expected True or False, received {describe(self.normalize)}")
        feats = ResponseFeatures(**self._feature_params())
        train = feats.fit_transform(X)
        if not _is_collection(X):
            self.n_features_in_ = feats.n_features_in_
            if hasattr(feats, "feature_names_in_"):
                self.feature_names_in_ = feats.feature_names_in_
        n = train.shape[0]
        if n * n > limits.MAX_FEATURE_VALUES:
            raise FeatureError(
                f"X: the training Gram matrix of {n} series would take {8 * n * n / 1e9:.3g} GB; the limit is "
                f"{8 * limits.MAX_FEATURE_VALUES / 1e9:.3g} GB (MAX_FEATURE_VALUES, vs.limits); use ResponseFeatures "
                "with a linear model instead"
            )
        self.features_ = feats
        self.train_features_ = train
        self._train_norms = self._norms(train)
        self._n_features_out = n
        return self

    @staticmethod
    def _norms(feats: np.ndarray) -> np.ndarray:
        norms = np.sqrt(np.einsum("ij,ij->i", feats, feats))
        return np.where(norms > 0, norms, 1.0)

    def transform(self, X: Any) -> np.ndarray:
        """Gram matrix against the training series, (n_series, n_train) float64."""
        check_is_fitted(self, "train_features_")
        feats = self.features_.transform(X)
        return self._gram(feats, self.train_features_, self._train_norms)

    def _gram(self, fa: np.ndarray, fb: np.ndarray, norms_b: np.ndarray) -> np.ndarray:
        gram = fa @ fb.T
        if self.normalize:
            gram = gram / np.outer(self._norms(fa), norms_b)
        return gram

    def __call__(self, X: Any, Y: Any = None) -> np.ndarray:
        """The fitted kernel as a callable, e.g. ``SVC(kernel=ResponseKernel(...).fit(X_train))`` (same as gram)."""
        return self.gram(X, Y)

    def gram(self, X: Any, Y: Any = None) -> np.ndarray:
        """k(X[i], Y[j]) for any two collections (Y default X), with the fitted scalings: (n_X, n_Y)."""
        check_is_fitted(self, "train_features_")
        fa = self.features_.transform(X)
        fb = fa if Y is None else self.features_.transform(Y)
        return self._gram(fa, fb, self._norms(fb))

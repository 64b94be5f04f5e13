"""Readout training without simulation, and its kernel-machine view (MATH.md section 7).

Fix an SRNN (hidden weights, noise) and a dictionary of readout functions
f_1, ..., f_J of the state.  The expected output of the readout y = sum_j w_j f_j
for an input u is linear in w:

    E y_T(u) = sum_j w_j E f_j(h_T; u),    E f_j(h_T; u) = sum_{n <= order} eps^n (K^(n)_j * u^{(x)n})(T),

where the right-hand side is the Volterra series of f_j (``Response.predict``), computed
from the input alone: no Monte Carlo.  :class:`ReadoutRegression` fits w (and an
intercept b) by ridge regression of targets y_i on the design matrix
G[i, j] = E f_j(h_T; u_i):

    (w, b) = argmin_w,b  sum_i (y_i - b - G[i] w)^2 + alpha |w|^2.

Kernel-machine view: each E f_j(h_T; u) = E_inf f_j + <c^(j), Phi_T(u)> (stationary
start; ``Response.feature_coefficients``), so the fitted readout predicts

    E y_T(u) = b + sum_j w_j E_inf f_j + <beta, Phi_T(u)>,     beta = sum_j w_j c^(j),

one linear functional of the response feature (:meth:`ReadoutRegression.kernel_machine`).
The network only restricts beta to the J-dimensional span of its c^(j); a kernel
machine on the response kernel fits beta freely.

:func:`compare_with_simulation` trains the same readout on Monte Carlo means of
f_j(h_T) from :func:`volterra_sym.simulate` and reports the gap to the
simulation-free fit with a jackknife standard error over independent batches of paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from .. import limits
from ..errors import ExpressionError, InputError, ReadoutError, VolterraError, describe
from ..features import response_feature
from ..features.response_feature import check_feature_truncation, top_shell_mask
from ..model.parsing import as_expression
from ..validate import check_model
from .estimators import validated_series
from .inputs import SeriesBatch, check_feature_size

__all__ = [
    "READOUT_EXPECTED_FAILED_CHECKS",
    "ReadoutRegression",
    "SimulationGap",
    "compare_with_simulation",
    "ridge_readout",
]


#: scikit-learn checks ReadoutRegression does not pass, and why (``check_estimator(...,
#: expected_failed_checks=READOUT_EXPECTED_FAILED_CHECKS)``).
READOUT_EXPECTED_FAILED_CHECKS: dict[str, str] = {
    "check_regressors_train": (
        "the model class is fixed by the network: predictions are w . E f(h_T; u) + b, the expected readouts of "
        "a given SRNN at each series' final time, so an arbitrary regression target on generic 2-D data (the "
        "check asks for a score > 0.5) is outside it; the fit itself is exact ridge regression (tests/test_learn.py)"
    ),
}


def _real_matrix(x: Any, name: str, ndims: tuple[int, ...]) -> np.ndarray:
    try:
        raw = np.asarray(x)
        if raw.dtype.kind == "c":
            raise InputError(f"{name}: Complex data not supported: received complex values; expected real numbers")
        arr = raw.astype(float, copy=False)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(f"{name}: expected an array of real numbers, received {describe(x)}") from None
    if arr.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        raise InputError(f"{name}: expected a {want} array, received shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or inf values; drop or impute them")
    return arr


def _check_alpha(alpha: Any) -> float:
    if (
        isinstance(alpha, bool)
        or not isinstance(alpha, (int, float, np.integer, np.floating))
        or not np.isfinite(alpha)
        or alpha < 0
    ):
        raise ReadoutError(f"alpha: expected a finite number >= 0 (the ridge penalty), received {describe(alpha)}")
    return float(alpha)


def ridge_readout(G: np.ndarray, y: np.ndarray, alpha: float, fit_intercept: bool = True) -> tuple[np.ndarray, Any]:
    """(w, b) minimising |y - b - G w|^2 + alpha |w|^2 (b not penalised); G (n, J), y (n,) or (n, k)."""
    G = _real_matrix(G, "G", (2,))
    y = _real_matrix(y, "y", (1, 2))
    alpha = _check_alpha(alpha)
    if y.shape[0] != G.shape[0] or G.shape[0] == 0:
        raise InputError(f"y: expected {G.shape[0]} targets (one per row of G, at least one), received shape {y.shape}")
    if not isinstance(fit_intercept, (bool, np.bool_)):
        raise ReadoutError(f"fit_intercept: expected True or False, received {describe(fit_intercept)}")
    if fit_intercept:
        g0 = G.mean(axis=0)
        y0 = y.mean(axis=0)
    else:
        g0 = np.zeros(G.shape[1])
        y0 = np.zeros(y.shape[1:]) if y.ndim > 1 else 0.0
    Gc = G - g0
    yc = y - y0
    A = Gc.T @ Gc + alpha * np.eye(G.shape[1])
    w = np.linalg.lstsq(A, Gc.T @ yc, rcond=None)[0] if alpha == 0 else np.linalg.solve(A, Gc.T @ yc)
    b = y0 - g0 @ w
    return w, b


def _readout_expr(entry: Any, i: int, model: Any) -> Any:
    """readouts[i] as a SymPy expression: strings through the project's safe parser (never executed)."""
    names = {s.name: s for s in (*model.state, *model.parameters)}
    try:
        return as_expression(entry, names, where=f"readouts[{i}]")
    except ExpressionError as exc:
        if isinstance(entry, str):
            raise ReadoutError(str(exc)) from None
        raise ReadoutError(
            f"readouts[{i}]: expected an expression of the state (e.g. 'h1**2'), or a Response, "
            f"received {describe(entry)}"
        ) from None


def _check_feature_degree(value: Any, name: str) -> int:
    """A response-feature degree P in 1..MAX_FEATURE_DEGREE (ReadoutError otherwise: fractions are not truncated)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ReadoutError(
            f"{name}: expected an integer >= 1 (the response-feature degree P), received {describe(value)}"
        )
    limits.check_limit(
        int(value),
        name,
        "MAX_FEATURE_DEGREE",
        "use a lower degree (the truncation error falls like (rate T)^(P+1)/(P+1)!)",
        ReadoutError,
    )
    return int(value)


class ReadoutRegression(RegressorMixin, BaseEstimator):
    """Ridge regression of a readout dictionary of a fixed SRNN on its expected outputs (no simulation).

    Parameters
    ----------
    model : Diffusion
        The network with its hidden weights (any readout; it is replaced by each f_j).
    readouts : sequence of expressions or Responses
        The dictionary f_1..f_J: strings/SymPy expressions of the state (derived here with
        ``vs.derive(model.replace(readout=f_j), order, **derive_options)``), or already derived
        scalar-readout Responses with kernels up to ``order``.
    order : int >= 1
        Truncation order of every Volterra series.
    eps : float
        Input amplitude (the series is in powers of eps).
    alpha : float >= 0
        Ridge penalty on w (not on the intercept).
    fit_intercept : bool
    t : array (L,) or None
        The time grid of array input, in the network's time units (default 0, 1, ..., L-1);
        lists of pairs (t_i, u_i) carry their own grids.
    derive_options : dict or None
        Passed to ``vs.derive`` (e.g. ``{"method": "taylor", "lag_degree": 10}``).
    feature_degree : int or None
        None (default): G from ``Response.predict`` (the Volterra series by nested filters, one
        series at a time).  An integer P: G[i, j] = E_inf f_j + <c^(j), Phi_T(u_i)> with the
        response feature at degree P and level ``order`` (one batched signature computation;
        the same numbers up to the degree truncation, about (rate T)^(P+1) / (P+1)!).  Needs the
        stationary start and exact or Taylor kernels.

    Attributes
    ----------
    responses_ : list of Response (one per readout);  coef_ : w (J,) or (J, k);  intercept_ : b
    n_readouts_ : J

    ``predict(X)`` returns G(X) @ coef_ + intercept_, the expected output of the trained
    readout at each series' final time, shape (n_series,) (or (n_series, k)).
    """

    def __init__(
        self,
        model: Any = None,
        readouts: Sequence[Any] = (),
        *,
        order: int = 2,
        eps: float = 1.0,
        alpha: float = 1e-6,
        fit_intercept: bool = True,
        t: Any = None,
        derive_options: dict[str, Any] | None = None,
        feature_degree: int | None = None,
    ) -> None:
        self.model = model
        self.readouts = readouts
        self.order = order
        self.eps = eps
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.t = t
        self.derive_options = derive_options
        self.feature_degree = feature_degree

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.target_tags.multi_output = True  # y (n, k): one readout per column
        return tags

    def _check_params(self) -> None:
        """Every hyper-parameter, before any derivation (ReadoutError naming it)."""
        if (
            isinstance(self.order, bool)
            or not isinstance(self.order, (int, np.integer))
            or not 1 <= self.order <= limits.MAX_ORDER
        ):
            raise ReadoutError(
                f"order: expected an integer in 1..{limits.MAX_ORDER} (the limit MAX_ORDER; change it with "
                f"vs.limits.configure(max_order=...)), received {describe(self.order)}"
            )
        if (
            isinstance(self.eps, bool)
            or not isinstance(self.eps, (int, float, np.integer, np.floating))
            or not np.isfinite(self.eps)
        ):
            raise ReadoutError(
                f"eps: expected a finite real number (the input amplitude), received {describe(self.eps)}"
            )
        _check_alpha(self.alpha)
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise ReadoutError(f"fit_intercept: expected True or False, received {describe(self.fit_intercept)}")
        if self.feature_degree is not None:
            _check_feature_degree(self.feature_degree, "feature_degree")
        if self.derive_options is not None:
            if not isinstance(self.derive_options, dict):
                raise ReadoutError(
                    f"derive_options: expected a dict of vs.derive options, received {describe(self.derive_options)}"
                )
            if "order" in self.derive_options:
                raise ReadoutError(
                    "derive_options: contains 'order', which ReadoutRegression sets from its own order= "
                    f"({describe(self.order)}); remove it from derive_options and pass order= instead"
                )

    # ---- the dictionary ------------------------------------------------------------
    def _responses(self) -> list[Any]:
        from .. import Response, derive

        self._check_params()
        if isinstance(self.readouts, (str, sp.Basic)) or not isinstance(self.readouts, Sequence):
            raise ReadoutError(
                f"readouts: expected a sequence of readout functions (e.g. ['h1', 'h2', 'h1**2']), "
                f"received {describe(self.readouts)}"
            )
        if len(self.readouts) == 0:
            raise ReadoutError("readouts: the dictionary is empty; pass at least one readout function, e.g. ['h1']")
        out = []
        for i, entry in enumerate(self.readouts):
            if isinstance(entry, Response):
                if entry.model.vector_readout:
                    raise ReadoutError(
                        f"readouts[{i}]: a Response with a vector readout; pass one Response per readout function"
                    )
                if entry.order < self.order:
                    raise ReadoutError(
                        f"readouts[{i}]: its kernels are derived to order {entry.order}, but order={self.order} is "
                        f"needed; derive it with order >= {self.order}, or lower order"
                    )
                out.append(entry)
                continue
            if self.model is None:
                raise ReadoutError(
                    f"model: readouts[{i}] is an expression ({describe(entry)}), so the network is needed; pass "
                    "model=vs.SRNN(...) (or derived Responses as readouts)"
                )
            check_model(self.model)
            expr = _readout_expr(entry, i, self.model)
            try:
                resp = derive(self.model.replace(readout=expr), self.order, **(self.derive_options or {}))
            except VolterraError as exc:
                raise ReadoutError(
                    f"readouts[{i}] = {expr}: its kernels to order {self.order} are not available: {exc}"
                ) from exc
            if resp.order < self.order:
                raise ReadoutError(
                    f"readouts[{i}] = {expr}: derive returned kernels to order {resp.order} only, "
                    f"order={self.order} is needed; pass order explicitly in derive_options or lower order"
                )
            out.append(resp)
        m = {r.model.m for r in out}
        if len(m) > 1:
            raise ReadoutError(f"readouts: the Responses have different numbers of inputs {sorted(m)}")
        return out

    # ---- expected outputs ----------------------------------------------------------
    def _batch(self, X: Any, reset: bool = False) -> SeriesBatch:
        batch = validated_series(self, X, reset)
        m = self.responses_[0].model.m
        if batch.n_channels != m:
            raise InputError(
                f"X: the series have {batch.n_channels} channel(s), but the network has m = {m} input(s); "
                f"pass arrays (n_series, n_times, {m})"
            )
        return batch

    def _series_list(self, batch: SeriesBatch) -> list[tuple[np.ndarray, np.ndarray]]:
        if batch.series is not None:
            return [(g - g[0], u) for g, u in batch.series]
        assert batch.values is not None and batch.grid is not None
        grid = batch.grid - batch.grid[0]
        return [(grid, u) for u in batch.values]

    def expected_outputs(self, X: Any) -> np.ndarray:
        """Design matrix G[i, j] = E f_j(h_T; u_i) from the Volterra series (no simulation), (n, J)."""
        check_is_fitted(self, "responses_")
        return self._expected(X, reset=False)

    def _expected(self, X: Any, reset: bool) -> np.ndarray:
        batch = self._batch(X, reset)
        return self._design(self._series_list(batch))

    def _design(self, series: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        G = np.empty((len(series), len(self.responses_)))
        if self.feature_degree is not None:
            means, C = self._coefficient_matrix(int(self.feature_degree), self.order)
            groups: dict[tuple[int, bytes], list[int]] = {}
            for i, (grid, _) in enumerate(series):
                if grid.size < 2:
                    raise InputError(
                        f"X: series {i} has a single sample (n_features = 1 for array input); the network needs "
                        "a grid of >= 2 times"
                    )
                groups.setdefault((grid.size, grid.tobytes()), []).append(i)
            for idx in groups.values():
                grid = series[idx[0]][0]
                values = np.stack([series[i][1] for i in idx])
                G[idx] = means + response_feature(values, grid, int(self.feature_degree), self.order) @ C
            return G
        for i, (grid, u) in enumerate(series):
            if grid.size < 2:
                raise InputError(
                    f"X: series {i} has a single sample (n_features = 1 for array input); the network needs "
                    "a grid of >= 2 times"
                )
            for j, resp in enumerate(self.responses_):
                parts = resp.predict(u, grid, eps=float(self.eps), by_order=True)
                G[i, j] = float(np.sum(parts[: self.order + 1, -1]))
        return G

    def prepare(self) -> ReadoutRegression:
        """Derive the dictionary's kernels (the first step of :meth:`fit`); then :meth:`expected_outputs` works.

        Use it to build the design matrix G for another learner (e.g. a classifier on G).
        """
        self.__dict__.pop("_coefficient_cache", None)
        self.responses_ = self._responses()
        self.n_readouts_ = len(self.responses_)
        return self

    def fit(self, X: Any, y: Any) -> ReadoutRegression:
        """Derive the dictionary's kernels, compute G for X, and ridge-regress y on G."""
        self._check_params()
        if y is None:
            raise InputError(
                f"y: {type(self).__name__} requires y to be passed, but the target y is None; pass one target "
                "per series"
            )
        y_arr = _real_matrix(y, "y", (1, 2))
        self.prepare()
        G = self._expected(X, reset=True)
        if y_arr.shape[0] != G.shape[0]:
            raise InputError(f"y: expected {G.shape[0]} targets (n,) or (n, k), received shape {y_arr.shape}")
        self.coef_, self.intercept_ = ridge_readout(G, y_arr, float(self.alpha), bool(self.fit_intercept))
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Expected output of the trained readout at each series' final time, (n,) or (n, k)."""
        check_is_fitted(self, "coef_")
        return self.expected_outputs(X) @ self.coef_ + self.intercept_

    # ---- kernel-machine view -------------------------------------------------------
    def kernel_machine(self, degree: int, level: int | None = None, **options: Any) -> tuple[Any, np.ndarray]:
        """(intercept, beta) with E y_T(u) ~ intercept + <beta, Phi_T(u)> (response feature at ``degree``, ``level``).

        beta = sum_j w_j eps^|word| c^(j) ((size,) or (size, k)), intercept = b + sum_j w_j E_inf f_j.
        ``level`` defaults to ``order``; ``options`` go to ``Response.feature_coefficients``.
        Needs the stationary start and exact or Taylor kernels.
        """
        check_is_fitted(self, "coef_")
        degree = _check_feature_degree(degree, "degree")
        level = self.order if level is None else level
        if isinstance(level, bool) or not isinstance(level, (int, np.integer)) or not 1 <= level <= limits.MAX_ORDER:
            raise ReadoutError(
                f"level: expected an integer in 1..{limits.MAX_ORDER} (a kernel order; the limit MAX_ORDER, change "
                f"it with vs.limits.configure(max_order=...)), received {describe(level)}"
            )
        means, C = self._coefficient_matrix(int(degree), int(level), **options)
        return self.intercept_ + means @ self.coef_, C @ self.coef_

    def _coefficient_matrix(self, degree: int, level: int, **options: Any) -> tuple[np.ndarray, np.ndarray]:
        """(E_inf f_j (J,), C (size, J)) with column j = eps^|word| c^(j); cached per (degree, level)."""
        key = (degree, level, tuple(sorted(options.items())))
        cache = self.__dict__.setdefault("_coefficient_cache", {})
        if key in cache:
            return cache[key]
        m = self.responses_[0].model.m
        check_feature_size(degree, level, m, 1)
        coefs = []
        means = []
        for j, resp in enumerate(self.responses_):
            try:
                coefs.append(resp.feature_coefficients(degree, level, **options))
                means.append(float(sp.N(as_expression(resp.mean0).xreplace(resp.model.params))))
            except VolterraError as exc:
                raise ReadoutError(
                    f"readouts[{j}]: its feature coefficients at degree={degree}, level={level} are not available: "
                    f"{exc}"
                ) from exc
        dim = (degree + 1) * m
        scale = np.concatenate([np.full(dim**n, float(self.eps) ** n) for n in range(1, level + 1)])
        cache[key] = (np.asarray(means), np.array(coefs).T * scale[:, None])
        return cache[key]

    def predict_features(self, X: Any, degree: int, level: int | None = None, **options: Any) -> np.ndarray:
        """The fitted readout's prediction as intercept + <beta, Phi_T(u)> (:meth:`kernel_machine`), (n,).

        The series in P is judged as in :func:`volterra_sym.features.predict_features`: routes that know
        it cannot converge refuse (Galerkin kernels below P ~ e |lambda_max| T), and a last shell (the
        change from P - 1 to P) above 1% of the response is a ConvergenceWarning naming the remedy."""
        check_is_fitted(self, "coef_")
        level = self.order if level is None else level
        batch = self._batch(X)
        series = list(self._series_list(batch))
        for grid, _ in series:
            for resp in self.responses_:
                resp.check_feature_degree(degree, grid)
        intercept, beta = self.kernel_machine(degree, level, **options)
        m = self.responses_[0].model.m
        top = top_shell_mask(degree, level, m)
        prev = top_shell_mask(degree, level, m, degree - 1)
        out, shell, before = [], [], []
        for grid, u in series:
            feat = response_feature(u, grid, degree, level)
            with np.errstate(over="ignore", invalid="ignore"):
                out.append(feat @ beta)
                shell.append(np.abs((feat * top) @ beta))
                before.append(np.abs((feat * prev) @ beta))
        notes = {resp.feature_convergence_note() for resp in self.responses_} - {""}
        check_feature_truncation(np.array(shell), np.array(before), np.array(out), degree, " ".join(sorted(notes)))
        return intercept + np.array(out)


# --------------------------------------------------------------------------- Monte Carlo check


@dataclass
class SimulationGap:
    """The readout trained on simulated means versus the simulation-free fit.

    ``coef_series`` / ``intercept_series``: w, b from the Volterra series (no simulation);
    ``paths`` is per batch (``paths * batches`` in all);
    ``coef_simulated`` / ``intercept_simulated``: from Monte Carlo means over all the paths;
    ``coef_stderr``: jackknife standard error (over ``batches`` independent batches) of the
    simulated coefficients; ``z = (coef_simulated - coef_series) / coef_stderr``.
    ``output_*``: the same for the trained readouts' outputs on the training inputs,
    E y_T(u_i) (series: G w + b; simulated: G_MC w_MC + b_MC).
    """

    paths: int
    batches: int
    coef_series: np.ndarray
    coef_simulated: np.ndarray
    coef_stderr: np.ndarray
    intercept_series: float
    intercept_simulated: float
    intercept_stderr: float
    output_series: np.ndarray
    output_simulated: np.ndarray
    output_stderr: np.ndarray
    design_gap: np.ndarray = field(repr=False)
    design_stderr: np.ndarray = field(repr=False)

    @property
    def z(self) -> np.ndarray:
        """Gap of each coefficient in units of its standard error."""
        return (self.coef_simulated - self.coef_series) / self.coef_stderr

    @property
    def output_z(self) -> np.ndarray:
        return (self.output_simulated - self.output_series) / self.output_stderr

    def summary(self) -> str:
        """A short table: coefficient, series value, simulated value, gap, stderr, z."""
        total = self.paths * self.batches
        lines = [
            f"paths = {self.paths} per batch x {self.batches} batches = {total} in all",
            "j   w_series    w_simulated    gap    stderr    z",
        ]
        for j, (a, b, s) in enumerate(zip(self.coef_series, self.coef_simulated, self.coef_stderr)):
            lines.append(f"{j:<3d} {a:10.5f} {b:12.5f} {b - a:9.2e} {s:8.2e} {(b - a) / s:6.2f}")
        gap = np.abs(self.output_simulated - self.output_series)
        lines.append(
            f"outputs: max |gap| = {gap.max():.3e}, max |z| = {np.abs(self.output_z).max():.2f} "
            f"(median stderr {np.median(self.output_stderr):.2e})"
        )
        return "\n".join(lines)


def compare_with_simulation(
    fitted: ReadoutRegression,
    X: Any,
    y: Any,
    paths: int,
    *,
    batches: int = 10,
    seed: int = 0,
    scheme: str = "exact",
    **simulate_options: Any,
) -> SimulationGap:
    """Train the readout of ``fitted`` on Monte Carlo means instead of the Volterra series; report the gap.

    For every training series u_i, ``vs.simulate`` the network with the vector readout
    (f_1, ..., f_J) on ``batches * paths`` paths; the batch means of f_j(h_T) give
    independent estimates G_b of the design matrix, G_MC their mean.  The readout
    trained on G_MC (same y, alpha, intercept) is compared with ``fitted`` (trained on
    the Volterra series G).  Standard errors: delete-one-batch jackknife,

        SE(theta) = sqrt((B - 1)/B sum_b (theta_(-b) - theta_bar)^2),

    valid for the nonlinear map G -> w.  The simulated fit converges to the series fit as
    paths grow (gap ~ 1/sqrt(paths)) when the series is exact (linear SRNN, polynomial
    readouts of degree <= order, ``scheme="exact"``); otherwise the gap also contains the
    series' truncation and the scheme's discretisation bias.  ``simulate_options`` go to
    :func:`volterra_sym.simulate` (e.g. ``substeps``, ``burn_in``).
    """
    from .. import simulate

    check_is_fitted(fitted, "coef_")
    if isinstance(batches, bool) or not isinstance(batches, (int, np.integer)) or batches < 2:
        raise InputError(f"batches: expected an integer >= 2 (for the standard error), received {describe(batches)}")
    if isinstance(paths, bool) or not isinstance(paths, (int, np.integer)) or paths < 1:
        raise InputError(f"paths: expected a positive integer (paths per batch), received {describe(paths)}")
    batch = fitted._batch(X)
    series = fitted._series_list(batch)
    G = fitted._design(series)
    y_arr = np.asarray(y, dtype=float)
    if y_arr.ndim != 1 or y_arr.shape[0] != G.shape[0]:
        raise InputError(f"y: expected {G.shape[0]} scalar targets, received shape {y_arr.shape}")
    w, b = ridge_readout(G, y_arr, float(fitted.alpha), bool(fitted.fit_intercept))
    exprs = [r.model.readout[0] for r in fitted.responses_]
    network = fitted.responses_[0].model.replace(readout=exprs)
    Gb = np.empty((batches, G.shape[0], G.shape[1]))
    for i, (grid, u) in enumerate(series):
        sim = simulate(
            network,
            u,
            grid,
            batches * paths,
            seed=seed + i,
            scheme=scheme,
            eps=float(fitted.eps),
            return_samples=True,
            **simulate_options,
        )
        final = np.asarray(sim.samples)[:, -1, :].reshape(batches, paths, -1)
        Gb[:, i, :] = final.mean(axis=1)
    G_mc = Gb.mean(axis=0)
    w_mc, b_mc = ridge_readout(G_mc, y_arr, float(fitted.alpha), bool(fitted.fit_intercept))
    out_mc = G_mc @ w_mc + b_mc
    jack_w, jack_b, jack_out = [], [], []
    for k in range(batches):
        Gk = (G_mc * batches - Gb[k]) / (batches - 1)
        wk, bk = ridge_readout(Gk, y_arr, float(fitted.alpha), bool(fitted.fit_intercept))
        jack_w.append(wk)
        jack_b.append(bk)
        jack_out.append(Gk @ wk + bk)

    def jack(values: list[Any]) -> np.ndarray:
        arr = np.asarray(values, dtype=float)
        return np.sqrt((batches - 1) / batches * np.sum((arr - arr.mean(axis=0)) ** 2, axis=0))

    return SimulationGap(
        paths=int(paths),
        batches=int(batches),
        coef_series=w,
        coef_simulated=w_mc,
        coef_stderr=jack(jack_w),
        intercept_series=float(b),
        intercept_simulated=float(b_mc),
        intercept_stderr=float(jack(jack_b)),
        output_series=G @ w + b,
        output_simulated=out_mc,
        output_stderr=jack(jack_out),
        design_gap=G_mc - G,
        design_stderr=Gb.std(axis=0, ddof=1) / np.sqrt(batches),
    )

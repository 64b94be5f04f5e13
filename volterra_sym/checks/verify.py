"""Check a Volterra-series prediction against Monte Carlo and, when available, the exact oracle.

``verify(model, u, t)`` derives the kernels (``volterra_sym.kernels.derive``), predicts
E f(h_t) on the grid, simulates the SDE and compares, time by time, with the rule

    |prediction - MC mean| <= z * SE + bias bound   (+ 1e-10 relative rounding allowance)

Bias bound (MATH.md section 8):
- scheme ``"exact"`` (default for linear SRNNs): 0, the transition is exact;
- scheme ``"euler"`` (default otherwise): Euler-Maruyama has weak order 1.  The run is
  repeated on a grid refined ``substeps`` and ``2 * substeps`` times (the input sampled on
  the refined grid: a callable is evaluated there, samples are interpolated linearly); the
  finer run is the MC estimate, and by Richardson its bias is about m_s - m_2s, so the bound
  is |m_s - m_2s| + z * sqrt(SE_s^2 + SE_2s^2).  Pass ``bias=`` to impose your own bound.

The oracle column (linear SRNNs with polynomial readout) is
:func:`volterra_sym.oracle.gaussian_oracle`; it shares no code with the kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from .. import limits
from ..checks.oracle import InputLike, check_grid, gaussian_oracle, input_on_grid, linear_arrays
from ..checks.simulate import SimulationResult, simulate
from ..errors import ArgumentError, OutputError, VolterraError, describe
from ..model.diffusion import Diffusion
from ..validate import (
    check_eps,
    check_int,
    check_model,
    check_response_model,
    check_verify_paths,
    output_path,
)

__all__ = ["VerifyReport", "check_request", "verify"]

_ROUNDING = 1e-10
#: defaults of :func:`verify` (shared with :func:`check_request`)
DEFAULT_PATHS, DEFAULT_Z, DEFAULT_SUBSTEPS = 20000, 5.0, 4


class PredictingResponse(Protocol):
    """What :func:`verify` needs of a Response (structural type: the checks never import the kernel code)."""

    @property
    def model(self) -> Diffusion: ...

    @property
    def order(self) -> int: ...

    def predict(self, u: Any, t: Any, eps: float = 1.0) -> Any: ...


@dataclass
class VerifyReport:
    """Per-time comparison of a prediction with Monte Carlo (arrays of shape (len(t), p)).

    Attributes: t, prediction, oracle (or None), mc_mean, mc_stderr, bias (the bias bound
    per time), z (|prediction - MC| / SE), max_abs_z, passed, rule, and run metadata.
    """

    t: np.ndarray
    prediction: np.ndarray
    oracle: np.ndarray | None
    mc_mean: np.ndarray
    mc_stderr: np.ndarray
    bias: np.ndarray
    z_bound: float
    scheme: str
    paths: int
    seed: int
    model_name: str
    order: int | None
    rule: str
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def z(self) -> np.ndarray:
        """|prediction - MC mean| / SE (0 where both vanish, inf where only the SE does)."""
        diff = np.abs(self.prediction - self.mc_mean)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(diff <= self._rounding(), 0.0, diff / self.mc_stderr)

    def _rounding(self) -> np.ndarray:
        return _ROUNDING * np.maximum(1.0, np.abs(self.mc_mean))

    @property
    def max_abs_z(self) -> float:
        return float(np.max(self.z))

    @property
    def defined(self) -> np.ndarray:
        """Where a verdict is possible: finite prediction, Monte Carlo mean and standard error (with one
        path, or overflowing statistics, the standard error is undefined and nothing can pass)."""
        return np.isfinite(self.prediction) & np.isfinite(self.mc_mean) & np.isfinite(self.mc_stderr)

    @property
    def ok(self) -> np.ndarray:
        """Per-time, per-component verdict of the rule (False where no verdict is possible)."""
        diff = np.abs(self.prediction - self.mc_mean)
        with np.errstate(invalid="ignore"):
            return self.defined & (diff <= self.z_bound * self.mc_stderr + self.bias + self._rounding())

    @property
    def passed(self) -> bool:
        return bool(np.all(self.ok))

    @property
    def oracle_error(self) -> float | None:
        """max |prediction - oracle| (None without oracle)."""
        return None if self.oracle is None else float(np.max(np.abs(self.prediction - self.oracle)))

    def rows(self, max_rows: int = 20) -> np.ndarray:
        """Indices of at most ~max_rows grid times, evenly spread, first and last included."""
        nt = self.t.size
        return np.unique(np.linspace(0, nt - 1, min(nt, max_rows)).round().astype(int))

    def __str__(self) -> str:
        head = (
            f"verify: model {self.model_name!r}, order {self.order}, scheme {self.scheme!r}, "
            f"paths {self.paths}, seed {self.seed}, z = {self.z_bound:g}"
        )
        lines = [head]
        p = self.prediction.shape[1]
        for k in range(p):
            if p > 1:
                lines.append(f"component {k}:")
            cols = f"{'t':>10} {'prediction':>14} {'oracle':>14} {'MC mean':>14} {'+- SE':>10} {'bias bd':>9} {'z':>6}"
            lines.append(cols)
            for i in self.rows():
                orc = f"{self.oracle[i, k]:14.7g}" if self.oracle is not None else f"{'-':>14}"
                flag = "" if self.ok[i, k] else "  <-- fails"
                lines.append(
                    f"{self.t[i]:10.4g} {self.prediction[i, k]:14.7g} {orc} {self.mc_mean[i, k]:14.7g} "
                    f"{self.mc_stderr[i, k]:10.3g} {self.bias[i, k]:9.2g} {self.z[i, k]:6.2f}{flag}"
                )
        lines.append(f"rule: {self.rule}")
        if self.oracle is not None:
            lines.append(f"max |prediction - oracle| = {self.oracle_error:.3g}")
        verdict = "PASSED" if self.passed else f"FAILED at {int(np.sum(~self.ok))} of {self.ok.size} values"
        undefined = int(np.sum(~self.defined))
        if undefined:
            verdict += f" ({undefined} without a finite standard error: inconclusive there)"
        lines.append(f"max |z| = {self.max_abs_z:.3g}: {verdict}")
        return "\n".join(lines)

    def plot(self, path: Any) -> str:
        """Write a PNG of prediction vs MC mean with +- z SE (+ bias) bands; returns the path."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError(
                "VerifyReport.plot needs matplotlib; install it with: pip install volterra_sym[plot]"
            ) from None
        p = self.prediction.shape[1]
        fig = Figure(figsize=(7, 3 * p))
        FigureCanvasAgg(fig)
        for k in range(p):
            ax = fig.add_subplot(p, 1, k + 1)
            band = self.z_bound * self.mc_stderr[:, k] + self.bias[:, k]
            ax.fill_between(
                self.t,
                self.mc_mean[:, k] - band,
                self.mc_mean[:, k] + band,
                alpha=0.3,
                label=f"MC mean +- ({self.z_bound:g} SE + bias bound)",
            )
            ax.plot(self.t, self.mc_mean[:, k], "k.", ms=3, label="MC mean")
            ax.plot(self.t, self.prediction[:, k], "C1-", label="Volterra prediction")
            if self.oracle is not None:
                ax.plot(self.t, self.oracle[:, k], "C2--", label="oracle")
            ax.set_xlabel("t")
            ax.set_ylabel(f"E f{'' if p == 1 else f'_{k}'}(h_t)")
            ax.legend(fontsize=7)
        fig.suptitle(f"{self.model_name}: {'PASSED' if self.passed else 'FAILED'} (max |z| = {self.max_abs_z:.2f})")
        fig.tight_layout()
        target = output_path(path, "plot")
        try:
            fig.savefig(str(target), format="png", dpi=100)
        except OSError as exc:
            raise OutputError(f"{str(target)!r}: cannot write the plot: {exc.strerror or exc}") from None
        return str(target)


def _as_2d(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    return x[:, None] if x.ndim == 1 else x


def _refined(t: np.ndarray, u: InputLike, m: int, factor: int) -> tuple[np.ndarray, InputLike, np.ndarray]:
    """(fine grid, input on it, indices of the original grid in it)."""
    if factor == 1:
        return t, u, np.arange(t.size)
    frac = np.arange(factor) / factor
    tf = np.append((t[:-1, None] + np.diff(t)[:, None] * frac[None, :]).ravel(), t[-1])
    if callable(u) or u is None:
        return tf, u, np.arange(t.size) * factor
    U = input_on_grid(u, t, m)
    Uf = np.stack([np.interp(tf, t, U[:, k]) for k in range(m)], axis=1)
    return tf, Uf, np.arange(t.size) * factor


def _is_linear(model: Diffusion) -> bool:
    try:
        linear_arrays(model)
    except VolterraError:
        return False
    return True


def check_request(
    model: Diffusion,
    u: InputLike,
    t: Any,
    *,
    paths: Any = DEFAULT_PATHS,
    scheme: Any = None,
    z: Any = DEFAULT_Z,
    eps: Any = 1.0,
    substeps: Any = DEFAULT_SUBSTEPS,
    bias: Any = None,
    **_: Any,
) -> tuple[np.ndarray, np.ndarray, int, str, int]:
    """Everything :func:`verify` can check before any work: settings, grid, input, the number of paths
    (at least MIN_VERIFY_PATHS) and the whole Monte Carlo work and refined grid against vs.limits.
    Returns (grid, input samples, paths, scheme, substeps).  ``volterra_sym.verify`` calls it before deriving."""
    if isinstance(z, bool) or not isinstance(z, (int, float)) or not np.isfinite(z) or z <= 0:
        raise ArgumentError(f"z: expected a positive number of standard errors, received {describe(z)}")
    if bias is not None and (isinstance(bias, bool) or not isinstance(bias, (int, float)) or not bias >= 0):
        raise ArgumentError(f"bias: expected a non-negative number or None, received {describe(bias)}")
    check_model(model)
    tt = check_grid(t)
    # every route sees the same input: its samples on t, read as the piecewise-linear interpolant
    samples = input_on_grid(u, tt, model.m)
    check_eps(eps)
    paths = check_verify_paths(paths)  # a verdict needs a meaningful standard error
    if scheme is None:
        scheme = "exact" if _is_linear(model) else "euler"
    # the whole Monte Carlo work, before predicting or simulating anything
    if scheme != "exact":
        substeps = check_int(substeps, "substeps", minimum=1, hint=" (Euler steps per grid interval)")
        factors = (substeps, 2 * substeps) if bias is None else (substeps,)
        limits.check_grid_points(
            (tt.size - 1) * factors[-1] + 1,
            "t (refined for the Euler bias estimate)",
            f"use fewer points, or substeps < {substeps}, or scheme='exact' for linear models",
        )
        limits.check_mc_work(paths, (tt.size - 1) * sum(factors), model.n, min_paths=limits.MIN_VERIFY_PATHS)
    else:
        limits.check_mc_work(paths, tt.size - 1, model.n, min_paths=limits.MIN_VERIFY_PATHS)
    return tt, samples, paths, scheme, substeps


def verify(
    model: Diffusion,
    u: InputLike,
    t: Any,
    *,
    response: PredictingResponse,
    paths: int = DEFAULT_PATHS,
    seed: int = 0,
    scheme: str | None = None,
    z: float = DEFAULT_Z,
    eps: float = 1.0,
    substeps: int = DEFAULT_SUBSTEPS,
    bias: float | None = None,
    burn_in: float | str = "auto",
    chunk: int | None = None,
    max_memory: int | None = None,
    progress: bool | None = None,
    client: Any = None,
) -> VerifyReport:
    """Compare a Response's prediction of E f(h_t) with Monte Carlo (and the exact oracle).

    (:func:`volterra_sym.verify` derives the Response first when none is given.)

    Parameters
    ----------
    model, u, t : as in :func:`volterra_sym.simulate.simulate`.  ``u`` is sampled on ``t`` once and every
        route (prediction, oracle, Monte Carlo) sees the same piecewise-linear input.
    response : the Response whose ``predict(u, t, eps=)`` is checked (any route).
    paths, seed : Monte Carlo size and seed.
    scheme : ``"exact"`` (default for linear SRNNs) or ``"euler"`` (default otherwise).
    z : number of standard errors allowed.
    eps : input amplitude.
    substeps : Euler only: grid refinement factor (the bias estimate also runs 2 * substeps).
    bias : impose a bias bound instead of the estimate (Euler) or 0 (exact).
    burn_in : passed to ``simulate`` ("auto": 20 relaxation times for a Stationary start without a closed form).
    client : a dask.distributed Client or scheduler address: the Monte Carlo runs as dask tasks
        (bit-identical to the local run; docs/distributed.md).
    """
    tt, u, paths, scheme, substeps = check_request(
        model, u, t, paths=paths, scheme=scheme, z=z, eps=eps, substeps=substeps, bias=bias
    )
    check_response_model(model, response)
    linear = _is_linear(model)
    prediction = _as_2d(response.predict(u, tt, eps=eps))
    oracle = None
    if linear:
        try:
            oracle = _as_2d(gaussian_oracle(model, u, tt, eps))
        except VolterraError:
            oracle = None
    run: dict[str, Any] = dict(
        seed=seed, eps=eps, chunk=chunk, max_memory=max_memory, progress=progress, burn_in=burn_in, client=client
    )
    meta: dict[str, Any] = {}
    if scheme == "exact":
        mc = simulate(model, u, tt, paths, scheme="exact", **run)
        bias_arr = np.zeros_like(prediction) + (0.0 if bias is None else float(bias))
        rule = f"|pred - MC| <= {z:g}*SE + bias bound (0: exact Gaussian transitions)"
    else:
        runs: list[SimulationResult] = []
        factors = (substeps, 2 * substeps) if bias is None else (substeps,)
        for factor in factors:
            tf, uf, idx = _refined(tt, u, model.m, factor)
            res = simulate(model, uf, tf, paths, scheme=scheme, **run)
            runs.append(_subsample(res, idx))
        mc = runs[-1]
        if bias is None:
            coarse = runs[0]
            diff = np.abs(_as_2d(coarse.mean) - _as_2d(mc.mean))
            se = np.sqrt(_as_2d(coarse.stderr) ** 2 + _as_2d(mc.stderr) ** 2)
            bias_arr = diff + z * se
            meta["coarse_mean"] = _as_2d(coarse.mean)
            rule = (
                f"|pred - MC| <= {z:g}*SE + bias bound (Euler, grid refined x{2 * substeps}; bias bound "
                f"|m_x{substeps} - m_x{2 * substeps}| + {z:g}*SE of that difference)"
            )
        else:
            bias_arr = np.zeros_like(prediction) + float(bias)
            rule = f"|pred - MC| <= {z:g}*SE + bias bound (given: {bias:g})"
    return VerifyReport(
        t=tt,
        prediction=prediction,
        oracle=oracle,
        mc_mean=_as_2d(mc.mean),
        mc_stderr=_as_2d(mc.stderr),
        bias=bias_arr,
        z_bound=float(z),
        scheme=scheme,
        paths=mc.paths,
        seed=mc.seed,
        model_name=model.name,
        order=response.order,
        rule=rule,
        meta=meta,
    )


def _subsample(res: SimulationResult, idx: np.ndarray) -> SimulationResult:
    return SimulationResult(
        res.t[idx], res.mean[idx], res.stderr[idx], res.paths, res.seed, res.scheme, res.eps, res.substeps, res.kind
    )

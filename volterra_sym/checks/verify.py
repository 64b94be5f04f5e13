"""Check a Volterra-series prediction against Monte Carlo and, when available, the exact oracle.

``verify(model, u, t)`` predicts E f(h_t) on the grid, simulates the SDE and compares, time by time.
The report separates four sources of disagreement (largest values in its "error budget" line):

- statistical: z * SE of the Monte Carlo mean;
- time-step bias (MATH.md section 8): 0 for scheme ``"exact"`` (linear SRNNs: exact transitions);
  for ``"euler"`` (weak order 1) every path is simulated at 2 * substeps and at substeps Euler steps
  per grid interval driven by the *same* Brownian increments (:mod:`.coupled`); the fine run is the
  Monte Carlo estimate and b = m_coarse - m_fine (Richardson) estimates its bias, with an SE of its own
  that is small because the two runs are coupled.  The allowance is |b| + z SE(b); no independent-run
  noise enters it.  ``bias=`` imposes a bound instead;
- kernel error: the route's own error estimate of the prediction (``predict(..., return_error=True)``:
  Galerkin p vs p + 2, Taylor's top shell; exact kernels state 0);
- truncation: |eps^(N+1) y^(N+1)| + |eps^(N+2) y^(N+2)|, the first omitted orders (``truncation=``;
  :func:`volterra_sym.verify` computes it from orders N + 1 and N + 2: one may vanish by symmetry).

Verdict per time and component (``VerifyReport.status``), with R = z SE + |b| + z SE(b) + rounding:

- PASSED where |pred - MC| <= R and, where the exact oracle exists (linear SRNN, polynomial readout),
  |pred - oracle| <= min(z SE, 2 (kernel error + truncation)) + 1e-9 rounding, and the route meets its
  own accuracy target (Galerkin: no kernel above ``tol``, the condition of its ConvergenceWarning): the
  prediction is right to what the check resolves, within its own stated error of the exact answer, and
  as accurate as the route claims to be;
- "not verified" (passed is False) where the miss is explained only by the route's stated error
  (|pred - MC| <= R + 2 kernel error; derive more accurately) or only with the truncation
  (<= R + 2 (kernel error + truncation); raise the order or lower eps), or where the truncation could not
  be estimated (the route builds no higher order, e.g. small_noise at order 2) and eps != 0: any miss beyond
  R + 2 kernel error is then "not verified", with that reason;
- FAILED beyond all of these.

The oracle is :func:`volterra_sym.checks.oracle.gaussian_oracle`; it shares no code with the kernels.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import numpy as np

from .. import limits
from ..checks.coupled import coupled_euler
from ..checks.oracle import InputLike, check_times, gaussian_oracle, input_on_grid, linear_arrays
from ..checks.simulate import simulate
from ..errors import ArgumentError, MissingDependencyError, OutputError, VolterraError
from ..model.diffusion import Diffusion
from ..validate import (
    check_eps,
    check_int,
    check_model,
    check_real_in_range,
    check_response_model,
    check_verify_paths,
    output_path,
    refusal,
)
from .burn_in import check_burn_in
from .distributed import check_client
from .settings import VERIFY_PATHS, MonteCarlo, resolve

__all__ = ["VerifyReport", "check_request", "verify_response"]

_ROUNDING = 1e-10
_ORACLE_ROUNDING = 1e-9  # relative: exact predictions match the oracle to ~1e-15
_FLAGS = {1: "kernel error", 2: "truncation", 3: "fails", 4: "undefined"}
#: defaults of :func:`verify_response` (shared with :func:`check_request`)
DEFAULT_Z, DEFAULT_SUBSTEPS = 5.0, 4  #: verify's default z (standard errors allowed) and Euler substeps
DEFAULT_PATHS = VERIFY_PATHS  #: the old name of VERIFY_PATHS (checks/settings.py)
#: verify's defaults of the MonteCarlo fields (paths: VERIFY_PATHS, see checks/settings.py for why)
_DEFAULTS: dict[str, Any] = dict(
    paths=VERIFY_PATHS, seed=0, scheme=None, substeps=DEFAULT_SUBSTEPS, burn_in="auto", chunk=None, max_memory=None,
    progress=None, client=None,
)  # fmt: skip


class PredictingResponse(Protocol):
    """What :func:`verify` needs of a Response (structural type: the checks never import the kernel code)."""

    @property
    def model(self) -> Diffusion: ...

    @property
    def order(self) -> int: ...

    def predict(self, u: Any, t: Any, eps: float = 1.0) -> Any: ...


#: what each cell's miss is explained by (VerifyReport.status)
PASS, KERNEL, TRUNCATION, WRONG, UNDEFINED = 0, 1, 2, 3, 4


@dataclass
class VerifyReport:
    """Per-time comparison of a prediction with Monte Carlo and the oracle (arrays of shape (len(t), p)).

    Attributes
    ----------
    t, prediction, oracle (exact E f(h_t), or None), mc_mean, mc_stderr : the values compared.
    bias : the time-step allowance |b| + z SE(b) (0 for the exact scheme; the given ``bias=`` if any).
    bias_estimate, bias_stderr : b = E f(h^dt) - E f(h^{dt/2}) from the coupled runs (the estimated bias of
        ``mc_mean``) and its standard error; None without a coupled run.
    corrected, corrected_stderr : the Richardson estimate 2 m_{dt/2} - m_dt (bias O(dt^2)) and its SE, or None.
    kernel_error : the route's own error estimate of the prediction (zeros where the route states none).
    truncation : |eps^(N+1) y^(N+1)| + |eps^(N+2) y^(N+2)|, the size of the first omitted orders (None: not
        estimated).
    route_problems : where the route says it missed its own accuracy target (Galerkin kernels above ``tol``):
        the messages of its ConvergenceWarning; a response with any is not verified.
    passed, status, verdict : the verdict (module docstring), per cell and in words.
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
    bias_estimate: np.ndarray | None = None
    bias_stderr: np.ndarray | None = None
    corrected: np.ndarray | None = None
    corrected_stderr: np.ndarray | None = None
    kernel_error: np.ndarray | None = None
    truncation: np.ndarray | None = None
    eps: float = 1.0
    route_problems: list[str] = field(default_factory=list)

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
    def resolution(self) -> np.ndarray:
        """What the Monte Carlo check resolves: z SE + the time-step allowance (+ rounding)."""
        return self.z_bound * self.mc_stderr + self.bias + self._rounding()

    def _allowances(self) -> tuple[np.ndarray, np.ndarray]:
        zero = np.zeros_like(self.prediction)
        kerr = zero if self.kernel_error is None else np.nan_to_num(self.kernel_error, nan=np.inf)
        trunc = zero if self.truncation is None else np.nan_to_num(self.truncation, nan=np.inf)
        return kerr, trunc

    @property
    def status(self) -> np.ndarray:
        """Per cell: PASS (within the check's resolution, and the oracle's), KERNEL (explained only by the
        route's stated error), TRUNCATION (explained only with the omitted orders), WRONG, or UNDEFINED."""
        kerr, trunc = self._allowances()
        res = self.resolution
        miss = np.abs(self.prediction - self.mc_mean)
        with np.errstate(invalid="ignore"):
            ok = miss <= res
            fits_kernel = miss <= res + 2.0 * kerr
            fits_trunc = miss <= res + 2.0 * (kerr + trunc)
            if self.oracle is not None:
                omiss = np.abs(self.prediction - self.oracle)
                orr = _ORACLE_ROUNDING * np.maximum(1.0, np.abs(self.oracle))
                # the oracle is exact: the prediction must be within the check's resolution AND within its own
                # stated error (plus the omitted orders) of it
                ok &= omiss <= np.minimum(self.z_bound * self.mc_stderr, 2.0 * (kerr + trunc)) + orr
                fits_kernel &= omiss <= 2.0 * kerr + orr
                fits_trunc &= omiss <= 2.0 * (kerr + trunc) + orr
        if self.truncation is None and self.eps != 0:  # not estimated (the route's top order): any miss may be it
            fits_trunc = np.ones_like(ok)
        if self.route_problems:  # the route itself says it missed its own accuracy target
            ok &= False
        out = np.full(self.prediction.shape, WRONG)
        out[fits_trunc] = TRUNCATION
        out[fits_kernel] = KERNEL
        out[ok] = PASS
        out[~self.defined] = UNDEFINED
        return out

    @property
    def ok(self) -> np.ndarray:
        """Per-time, per-component verdict (False where no verdict is possible)."""
        return self.status == PASS

    @property
    def passed(self) -> bool:
        return bool(np.all(self.ok))

    @property
    def oracle_error(self) -> float | None:
        """max |prediction - oracle| (None without oracle)."""
        return None if self.oracle is None else float(np.max(np.abs(self.prediction - self.oracle)))

    @property
    def verdict(self) -> str:
        """PASSED, or why not: FAILED (wrong beyond every allowance), or FAILED: not verified (the miss is
        explained by the series truncation at this eps, or by the route's own stated error)."""
        st = self.status
        n_bad = int(np.sum(st != PASS))
        if n_bad == 0:
            return "PASSED"
        where = f"{n_bad} of {st.size} values"
        if np.any(st == WRONG):
            text = f"FAILED at {where}: the prediction is wrong beyond the statistical, time-step, kernel-error"
            text += " and truncation allowances"
            if self.oracle is not None:
                kerr, trunc = self._allowances()
                text += (
                    f" (|prediction - exact oracle| up to {self.oracle_error:.3g}; stated kernel error up to "
                    f"{float(np.max(kerr)):.3g}, truncation up to {float(np.max(trunc)):.3g})"
                )
        elif np.any(st == TRUNCATION) and self.truncation is None:
            text = (
                f"FAILED: not verified at this eps ({self.eps:g}) at {where}: the miss exceeds the statistical, "
                "time-step and kernel-error allowances, and the series truncation could not be estimated (the route "
                f"builds no order above {self.order}); lower eps: if the miss shrinks like eps^(order+1), it is "
                "truncation, not wrong kernels"
            )
        elif np.any(st == TRUNCATION):
            kerr, trunc = self._allowances()
            text = (
                f"FAILED: not verified at this eps ({self.eps:g}) at {where}: the miss is explained by the series "
                f"truncation (the omitted orders reach {float(np.max(trunc)):.3g}); raise the order or lower eps"
            )
        elif np.any(st == KERNEL):
            kerr, _ = self._allowances()
            if self.route_problems:
                text = f"FAILED: not verified: the route misses its own accuracy target: {self.route_problems[0]}"
            else:
                text = (
                    f"FAILED: not verified at {where}: the prediction is only as good as the route's stated error "
                    f"(up to {float(np.max(kerr)):.3g}), more than this check resolves; derive more accurately "
                    "(a higher Galerkin degree, Taylor lag_degree, generator cells) and verify again"
                )
        else:
            text = "FAILED"
        undefined = int(np.sum(st == UNDEFINED))
        if undefined:
            text += f" ({undefined} without a finite standard error: inconclusive there)"
        return text

    def budget(self) -> str:
        """The error budget, largest values over the grid: statistical, time-step bias, kernel, truncation."""
        kerr, trunc = self._allowances()
        parts = [f"statistical z*SE <= {self.z_bound * float(np.max(self.mc_stderr)):.3g}"]
        if self.bias_estimate is not None and self.bias_stderr is not None:
            i = np.unravel_index(int(np.argmax(np.abs(self.bias_estimate))), self.bias_estimate.shape)
            parts.append(
                f"time-step bias |b| <= {float(np.abs(self.bias_estimate[i])):.3g} "
                f"(SE {float(self.bias_stderr[i]):.2g}, coupled dt/2 run)"
            )
        else:
            parts.append(f"time-step allowance {float(np.max(self.bias)):.3g}")
        parts.append(
            "kernel error (route's estimate) "
            + ("not stated" if self.kernel_error is None else f"<= {float(np.max(kerr)):.3g}")
        )
        parts.append(
            f"truncation (orders {(self.order or 0) + 1}-{(self.order or 0) + 2}) "
            + ("not estimated" if self.truncation is None else f"<= {float(np.max(trunc)):.3g}")
        )
        return "error budget: " + "; ".join(parts)

    def rows(self, max_rows: int = 20) -> np.ndarray:
        """Indices of at most ~max_rows grid times, evenly spread, first and last included."""
        nt = self.t.size
        return np.unique(np.linspace(0, nt - 1, min(nt, max_rows)).round().astype(int))

    def __str__(self) -> str:
        head = (
            f"verify: model {self.model_name!r}, order {self.order}, scheme {self.scheme!r}, "
            f"paths {self.paths}, seed {self.seed}, eps {self.eps:g}, z = {self.z_bound:g}"
        )
        if self.meta.get("burn_in") is not None:
            head += f", burn_in {self.meta['burn_in']:g}"
        lines = [head]
        p = self.prediction.shape[1]
        kerr, trunc = self._allowances()
        st = self.status
        for k in range(p):
            if p > 1:
                lines.append(f"component {k}:")
            cols = (
                f"{'t':>8} {'prediction':>12} {'oracle':>12} {'MC mean':>12} {'+- SE':>9} {'dt bias':>9} "
                f"{'+- SE':>8} {'kernel':>8} {'trunc':>8} {'z':>6}"
            )
            lines.append(cols)
            for i in self.rows():
                orc = f"{self.oracle[i, k]:12.6g}" if self.oracle is not None else f"{'-':>12}"
                if self.bias_estimate is not None and self.bias_stderr is not None:
                    b = f"{self.bias_estimate[i, k]:9.2g} {self.bias_stderr[i, k]:8.2g}"
                else:
                    b = f"{self.bias[i, k]:9.2g} {'-':>8}"
                tr = f"{trunc[i, k]:8.2g}" if self.truncation is not None else f"{'-':>8}"
                flag = "" if st[i, k] == PASS else f"  <-- {_FLAGS[int(st[i, k])]}"
                lines.append(
                    f"{self.t[i]:8.4g} {self.prediction[i, k]:12.6g} {orc} {self.mc_mean[i, k]:12.6g} "
                    f"{self.mc_stderr[i, k]:9.3g} {b} {kerr[i, k]:8.2g} {tr} {self.z[i, k]:6.2f}{flag}"
                )
        lines.append(f"rule: {self.rule}")
        lines.append(self.budget())
        if self.oracle is not None:
            lines.append(f"max |prediction - oracle| = {self.oracle_error:.3g}")
        lines.append(f"max |z| = {self.max_abs_z:.3g}: {self.verdict}")
        return "\n".join(lines)

    def plot(self, path: Any) -> str:
        """Write the prediction vs the MC mean with +- z SE (+ bias) bands; returns the path.  The format is
        the file's suffix: .svg or .pdf, PNG otherwise (a .png name, or any other)."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise MissingDependencyError(
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
            suffix = target.suffix.lower().lstrip(".")
            fig.savefig(str(target), format=suffix if suffix in ("svg", "pdf") else "png", dpi=100)
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
    paths: Any = VERIFY_PATHS,
    scheme: Any = None,
    z: Any = DEFAULT_Z,
    eps: Any = 1.0,
    substeps: Any = DEFAULT_SUBSTEPS,
    bias: Any = None,
    burn_in: Any = "auto",
    seed: Any = 0,
    chunk: Any = None,
    max_memory: Any = None,
    progress: Any = None,
    client: Any = None,
    mc: Any = None,
    **_: Any,
) -> tuple[np.ndarray, np.ndarray, MonteCarlo]:
    """Everything :func:`verify` can check before any work: settings, grid, input, the number of paths
    (at least MIN_VERIFY_PATHS) and the whole Monte Carlo work and refined grid against vs.limits.
    Returns (grid, input samples, the Monte Carlo settings with paths, scheme and substeps decided).
    ``volterra_sym.verify`` calls it before deriving."""
    check_real_in_range(z, "z", low=0, open_low=True, what="a number of standard errors")
    if bias is not None:
        check_real_in_range(bias, "bias", low=0, what="a number (or None)")
    given = dict(
        paths=paths, seed=seed, scheme=scheme, substeps=substeps, burn_in=burn_in, chunk=chunk,
        max_memory=max_memory, progress=progress, client=client,
    )  # fmt: skip
    settings = resolve(mc, "verify", _DEFAULTS, given)
    paths, scheme, substeps, burn_in = settings.paths, settings.scheme, settings.substeps, settings.burn_in
    check_model(model)
    check_burn_in(burn_in)  # "auto" or a time >= 0 (checks/burn_in.py)
    tt = check_times(t)
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
    return tt, samples, replace(settings, paths=paths, scheme=scheme, substeps=substeps)


def _with_error(
    response: PredictingResponse, u: Any, tt: np.ndarray, eps: float
) -> tuple[np.ndarray, np.ndarray | None]:
    """(prediction, the route's error estimate of it or None): routes that state one take ``return_error``."""
    try:
        pred, err = response.predict(u, tt, eps=eps, return_error=True)  # type: ignore[call-arg]
    except (TypeError, ArgumentError):  # a route (or a user's predictor) that states no error
        return _as_2d(response.predict(u, tt, eps=eps)), None
    return _as_2d(pred), np.abs(_as_2d(err))


def _route_problems(response: Any) -> list[str]:
    """The route's own accuracy problems (``accuracy_problems()``: Galerkin kernels above ``tol``), if it has any."""
    own = getattr(response, "accuracy_problems", None)
    return [str(m) for m in own()] if callable(own) else []


def verify_response(
    model: Diffusion,
    u: InputLike,
    t: Any,
    *,
    response: PredictingResponse,
    paths: int = VERIFY_PATHS,
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
    truncation: Any = None,
    mc: MonteCarlo | None = None,
) -> VerifyReport:
    """Compare a Response's prediction of E f(h_t) with Monte Carlo (and the exact oracle).

    (:func:`volterra_sym.verify` derives the Response first when none is given, and estimates the
    truncation.)

    Parameters
    ----------
    model, u, t : as in :func:`volterra_sym.checks.simulate.simulate`.  ``u`` is sampled on ``t`` once and every
        route (prediction, oracle, Monte Carlo) sees the same piecewise-linear input.
    response : the Response whose ``predict(u, t, eps=)`` is checked (any route); routes that state an
        error (``predict(..., return_error=True)``) have it reported and used in the verdict.
    paths, seed : Monte Carlo size (default ``VERIFY_PATHS`` = 20000: a verdict at z standard errors needs a
        smaller standard error than a plain simulation, checks/settings.py) and seed.
    scheme : ``"exact"`` (default for linear SRNNs) or ``"euler"`` (default otherwise).
    z : number of standard errors allowed.
    eps : input amplitude.
    substeps : Euler only: Euler steps per grid interval of the coarse run; the Monte Carlo estimate is the
        fine run at ``2 * substeps``, coupled to the coarse one (same Brownian increments) for its bias.
    bias : impose a bias bound instead of the coupled estimate (Euler; one run at ``substeps``) or 0 (exact).
    burn_in : Stationary() start of a model without a closed-form stationary law: the unperturbed dynamics
        run this long from h = 0 first ("auto": 20 relaxation times, checks/burn_in.py).
    chunk, max_memory : passed to ``simulate`` (exact scheme, or a given ``bias``).
    client : a dask.distributed Client or scheduler address: the Monte Carlo runs as dask tasks
        (bit-identical to the local run; docs/distributed.md).
    truncation : the size of the omitted orders on the grid, shape (len(t),) or (len(t), p), or None.
    mc : a :class:`~volterra_sym.MonteCarlo` holding ``paths``, ``seed``, ``scheme``, ``substeps``, ``burn_in``,
        ``chunk``, ``max_memory``, ``progress`` and ``client`` at once; a keyword left at its default yields to
        it, one given with another value than a field it sets is an ArgumentError.
    """
    tt, u, settings = check_request(
        model, u, t, paths=paths, scheme=scheme, z=z, eps=eps, substeps=substeps, bias=bias, burn_in=burn_in,
        seed=seed, chunk=chunk, max_memory=max_memory, progress=progress, client=client, mc=mc,
    )  # fmt: skip
    assert settings.paths is not None and settings.scheme is not None and settings.substeps is not None
    assert settings.seed is not None
    paths, scheme, substeps, seed = settings.paths, settings.scheme, settings.substeps, settings.seed
    client = settings.client
    check_response_model(model, response)
    check_client(client)  # before the prediction and the Monte Carlo
    linear = _is_linear(model)
    prediction, kernel_error = _with_error(response, u, tt, eps)
    trunc = None if truncation is None else np.abs(_as_2d(truncation))
    if trunc is not None and trunc.shape != prediction.shape:
        raise refusal("truncation", f"expected shape {prediction.shape}, received {trunc.shape}")
    oracle = None
    if linear:
        try:
            oracle = _as_2d(gaussian_oracle(model, u, tt, eps))
        except VolterraError:
            oracle = None
    run: dict[str, Any] = dict(
        seed=seed, eps=eps, chunk=settings.chunk, max_memory=settings.max_memory, progress=settings.progress,
        burn_in=settings.burn_in, client=client,
    )  # fmt: skip
    meta: dict[str, Any] = {"burn_in": settings.burn_in}
    extra: dict[str, Any] = {}
    if scheme == "exact":
        sim = simulate(model, u, tt, paths, scheme="exact", **run)
        meta["burn_in"] = sim.burn_in or None
        bias_arr = np.zeros_like(prediction) + (0.0 if bias is None else float(bias))
        rule = f"|pred - MC| <= {z:g}*SE + bias bound (0: exact Gaussian transitions)"
        mean, stderr = _as_2d(sim.mean), _as_2d(sim.stderr)
    elif bias is not None:
        sim = simulate(model, u, tt, paths, scheme=scheme, substeps=substeps, **run)
        meta["burn_in"] = sim.burn_in or None
        mean, stderr = _as_2d(sim.mean), _as_2d(sim.stderr)
        bias_arr = np.zeros_like(prediction) + float(bias)
        rule = f"|pred - MC| <= {z:g}*SE + bias bound (given: {bias:g})"
    else:
        cr = coupled_euler(
            model, u, tt, paths, seed=seed, eps=eps, substeps=substeps, burn_in=settings.burn_in,
            progress=settings.progress, client=client,
        )  # fmt: skip
        mean, stderr = cr.mean, cr.stderr
        meta["burn_in"] = cr.burn_in  # the time run (None: none needed)
        bias_arr = np.abs(cr.bias) + z * cr.bias_stderr
        extra = dict(
            bias_estimate=cr.bias, bias_stderr=cr.bias_stderr, corrected=cr.corrected,
            corrected_stderr=cr.corrected_stderr,
        )  # fmt: skip
        rule = (
            f"|pred - MC| <= {z:g}*SE + |b| + {z:g}*SE(b): MC at {2 * substeps} Euler steps per grid interval; "
            f"b = m(x{substeps}) - m(x{2 * substeps}) from coupled runs (same Brownian increments)"
        )
    if oracle is not None:
        rule += f"; and |pred - oracle| <= min({z:g}*SE, 2*(kernel error + truncation))"
    return VerifyReport(
        t=tt,
        prediction=prediction,
        oracle=oracle,
        mc_mean=mean,
        mc_stderr=stderr,
        bias=bias_arr,
        z_bound=float(z),
        scheme=scheme,
        paths=int(paths),
        seed=int(seed),
        model_name=model.name,
        order=response.order,
        rule=rule,
        meta=meta,
        kernel_error=kernel_error,
        truncation=trunc,
        eps=float(eps),
        route_problems=_route_problems(response),
        **extra,
    )

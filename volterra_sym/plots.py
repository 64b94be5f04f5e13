"""Figures of the kernels and transfer functions (the ``plot`` extra: matplotlib, imported when used).

Every function returns a :class:`matplotlib.figure.Figure` (no pyplot state: restyle it, add axes, or save it
with :func:`save_figure` / ``fig.savefig``):

==========================  ================================================================================
``plot_kernel1(resps)``     K^(1)(tau) against the lag, several routes overlaid, each with its error band
                            (Galerkin: p vs p + 2 estimate), and a Monte Carlo estimate +- z SE
``plot_kernel2(resp)``      K^(2)(tau_1, tau_2) (triangular lags) as a heat map
``plot_bode(resps)``        |H_1(omega)| and arg H_1(omega) (Bode plot), error bands, Monte Carlo +- z SE
``plot_transfer2(resp)``    |H_2(omega_1, omega_2)| as a heat map
==========================  ================================================================================

The verification plot is :meth:`volterra_sym.VerifyReport.plot`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .errors import ArgumentError, InputError, MissingDependencyError, OutputError, describe
from .response import Response
from .validate import check_instance, check_real_in_range, output_path, refusal

__all__ = ["plot_kernel1", "plot_kernel2", "plot_bode", "plot_transfer2", "save_figure", "default_lags"]


def _figure(**kwargs: Any) -> Any:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "plots need matplotlib; install it with: pip install 'volterra_sym[plot]'"
        ) from None
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


def _responses(resps: Any) -> dict[str, Response]:
    if isinstance(resps, Response):
        return {resps.method: resps}
    if isinstance(resps, Mapping) and resps and all(isinstance(r, Response) for r in resps.values()):
        return {str(k): v for k, v in resps.items()}
    if isinstance(resps, Sequence) and resps and all(isinstance(r, Response) for r in resps):
        return {
            f"{r.method}" if [q.method for q in resps].count(r.method) == 1 else f"{r.method} {i}": r
            for i, r in enumerate(resps)
        }
    raise refusal(
        "responses", f"expected a Response, a list of them or a dict label -> Response, received {describe(resps)}"
    )


def _cmap(cmap: Any) -> Any:
    _figure()  # the dependency first
    import matplotlib

    try:
        return matplotlib.colormaps[cmap] if isinstance(cmap, str) else matplotlib.colormaps.get_cmap(cmap)
    except (KeyError, ValueError, TypeError):
        why = f"{describe(cmap)} is not a matplotlib colormap"
        raise refusal("cmap", why, "use a name such as 'viridis', 'magma' or 'RdBu_r'") from None


def _rates(resp: Response) -> np.ndarray:
    """The relaxation rates of H_1 of the first input ([] when the kernels have no transform)."""
    if not resp.stationary:
        return np.array([])
    try:
        return np.asarray(resp.transfer(1, 0).rates)
    except ArgumentError:  # e.g. Taylor kernels
        return np.array([])


def default_lags(resp: Response, points: int = 200) -> np.ndarray:
    """0 to about five of the slowest relaxation times of the route (rates of H_1's poles / the generator; 0 to 5
    when there are none)."""
    rates = _rates(resp)
    slow = float(np.min(rates.real)) if rates.size else 1.0
    return np.linspace(0.0, 5.0 / max(slow, 1e-3), points)


def default_frequencies(resp: Response, points: int = 300) -> np.ndarray:
    """Log-spaced frequencies from 1/30 of the slowest to 30 times the fastest relaxation rate (or |pole|)."""
    rates = _rates(resp)
    mags = np.abs(rates) if rates.size else np.array([1.0])
    return np.logspace(np.log10(max(mags.min(), 1e-3) / 30), np.log10(mags.max() * 30), points)


def _check_z(z: Any) -> float:
    return check_real_in_range(z, "z", low=0, open_low=True, what="a number of standard errors for the bands")


def plot_kernel1(
    responses: Any,
    k: Any = None,
    component: int = 0,
    *,
    lags: Any = None,
    estimate: Any = None,
    z: float = 2.0,
) -> Any:
    """K^(1)_k(tau) of one or several responses (stationary start), with each route's error band and optionally a
    Monte Carlo estimate (``vs.estimate_kernels``) as points with +- z SE bars."""
    resps = _responses(responses)
    z = _check_z(z)
    first = next(iter(resps.values()))
    taus = default_lags(first) if lags is None else np.asarray(lags, dtype=float)
    fig = _figure(figsize=(6.4, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for i, (label, resp) in enumerate(resps.items()):
        values = resp.kernel_values(1, k, taus[:, None], component)
        ax.plot(taus, values, f"C{i}-", label=label)
        err = _kernel_error(resp, k, taus, component)
        if err is not None and np.any(err > 0):
            ax.fill_between(taus, values - err, values + err, color=f"C{i}", alpha=0.25, lw=0)
    if estimate is not None:
        t_mc, mean, se = _estimate_arrays(estimate, k, component)
        ax.errorbar(t_mc, mean, yerr=z * se, fmt="k.", ms=3, elinewidth=0.8, label=f"Monte Carlo +- {z:g} SE")
    ax.axhline(0.0, color="0.7", lw=0.6)
    ax.set_xlabel(r"lag $\tau$")
    ax.set_ylabel(r"$K^{(1)}(\tau)$")
    ax.set_title(f"{first.model.name}: first-order kernel")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _kernel_error(resp: Response, k: Any, taus: np.ndarray, component: int) -> np.ndarray | None:
    kernel_error = getattr(resp, "kernel_error", None)
    if kernel_error is None:
        return None
    return np.asarray(kernel_error(1, k, taus[:, None], component)[1])


def _estimate_arrays(estimate: Any, k: Any, component: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not hasattr(estimate, "mean") or 1 not in getattr(estimate, "lags", {}):
        why = f"expected a KernelEstimate with order-1 lags (vs.estimate_kernels), received {describe(estimate)}"
        raise refusal("estimate", why)
    mean, se = np.asarray(estimate.mean(1, k)), np.asarray(estimate.stderr(1, k))
    if mean.ndim == 2:
        mean, se = mean[:, component], se[:, component]
    return np.asarray(estimate.lags[1])[:, 0], mean, se


def plot_kernel2(resp: Response, k: Any = None, component: int = 0, *, lags: Any = None, cmap: Any = "RdBu_r") -> Any:
    """K^(2)_k(tau_1, tau_2) on a square of lags (tau_1: the most recent input) as a heat map (symmetric colours)."""
    check_instance(resp, "resp", Response, "a Response")
    colours = _cmap(cmap)
    taus = default_lags(resp, 120) if lags is None else np.asarray(lags, dtype=float)
    T1, T2 = np.meshgrid(taus, taus, indexing="ij")
    K = resp.kernel_values(2, k, np.stack([T1, T2], axis=-1), component)
    fig = _figure(figsize=(5.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    vmax = float(np.max(np.abs(K))) or 1.0
    im = ax.pcolormesh(T1, T2, K, cmap=colours, vmin=-vmax, vmax=vmax, shading="auto")
    fig.colorbar(im, ax=ax, label=r"$K^{(2)}(\tau_1, \tau_2)$")
    ax.set_xlabel(r"$\tau_1$ (lag of the most recent input)")
    ax.set_ylabel(r"$\tau_2$")
    ax.set_title(f"{resp.model.name}\nsecond-order kernel ({resp.method})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_bode(
    responses: Any,
    k: Any = None,
    component: int = 0,
    *,
    omegas: Any = None,
    estimate: Any = None,
    z: float = 2.0,
) -> Any:
    """Bode plot of H_1: |H_1(omega)| (log-log) and its phase in degrees, one curve per response with its error
    band; optionally H_1 of a Monte Carlo estimate
    (:func:`~volterra_sym.numerics.estimated_transfer.estimated_transfer`) with +- (z SE + bias bound) bars."""
    from .numerics.estimated_transfer import estimated_transfer

    resps = _responses(responses)
    z = _check_z(z)
    first = next(iter(resps.values()))
    w = default_frequencies(first) if omegas is None else np.asarray(omegas, dtype=float)
    if w.ndim != 1 or w.size < 2 or np.any(w <= 0):
        why = f"expected a 1-D array of at least 2 positive frequencies (log axis), received {describe(omegas)}"
        raise refusal("omegas", why, cls=InputError)
    fig = _figure(figsize=(6.4, 5.6))
    mag = fig.add_subplot(2, 1, 1)
    ph = fig.add_subplot(2, 1, 2, sharex=mag)
    for i, (label, resp) in enumerate(resps.items()):
        H = resp.transfer(1, k, component)
        vals, err = H(w), H.error(w)
        mag.loglog(w, np.abs(vals), f"C{i}-", label=label)
        if np.any(err > 0):
            mag.fill_between(w, np.maximum(np.abs(vals) - err, 1e-300), np.abs(vals) + err, color=f"C{i}", alpha=0.25)
        ph.semilogx(w, np.degrees(np.unwrap(np.angle(vals))), f"C{i}-")
    if estimate is not None:
        Hm = estimated_transfer(estimate, 1, k, component)
        lags_mc = np.asarray(estimate.lags[1])[:, 0]
        nyquist = np.pi / float(np.max(np.diff(np.sort(lags_mc))))  # beyond it the lag grid aliases
        wm = w[w <= nyquist][:: max(1, w.size // 25)]
        vm = Hm(wm)
        band = z * Hm.error(wm) + Hm.bias(wm)
        mag.errorbar(
            wm, np.abs(vm), yerr=band, fmt="k.", ms=3, elinewidth=0.8, label=f"Monte Carlo +- ({z:g} SE + bias)"
        )
        ph.semilogx(wm, np.degrees(np.angle(vm)), "k.", ms=3)
    mag.set_ylabel(r"$|H_1(\omega)|$")
    mag.legend(fontsize=8)
    mag.set_title(f"{first.model.name}: first-order transfer function")
    ph.set_ylabel(r"arg $H_1(\omega)$ (degrees)")
    ph.set_xlabel(r"$\omega$ (rad per unit time)")
    fig.tight_layout()
    return fig


def plot_transfer2(
    resp: Response, k: Any = None, component: int = 0, *, omegas: Any = None, cmap: Any = "magma"
) -> Any:
    """|H_2(omega_1, omega_2)| on a square grid of real frequencies (both signs: omega_1 + omega_2 = 0 is the
    static, rectified response) as a heat map."""
    check_instance(resp, "resp", Response, "a Response")
    colours = _cmap(cmap)
    if omegas is None:
        top = float(default_frequencies(resp, 2)[-1]) / 10
        w = np.linspace(-top, top, 121)
    else:
        w = np.asarray(omegas, dtype=float)
    W1, W2 = np.meshgrid(w, w, indexing="ij")
    H = np.abs(resp.transfer(2, k, component)(W1, W2))
    fig = _figure(figsize=(5.4, 4.4))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.pcolormesh(W1, W2, H, cmap=colours, shading="auto")
    fig.colorbar(im, ax=ax, label=r"$|H_2(\omega_1, \omega_2)|$")
    ax.set_xlabel(r"$\omega_1$")
    ax.set_ylabel(r"$\omega_2$")
    ax.set_title(f"{resp.model.name}\nsecond-order transfer function ({resp.method})", fontsize=10)
    fig.tight_layout()
    return fig


def save_figure(fig: Any, path: Any, *, dpi: int = 110) -> str:
    """Write ``fig`` to ``path``; the format is the file's suffix (png, svg, pdf, ... what the backend supports)."""
    target = output_path(path, "plot")
    formats = fig.canvas.get_supported_filetypes()
    suffix = target.suffix.lower().lstrip(".")
    if suffix not in formats:
        raise OutputError(
            f"path: {str(target)!r} has the suffix {target.suffix or '(none)'!r}, which the matplotlib backend cannot "
            f"write; use one of {sorted(formats)} (e.g. .png or .svg)"
        )
    try:
        fig.savefig(str(target), format=suffix, dpi=dpi)
    except OSError as exc:
        raise OutputError(f"{str(target)!r}: cannot write the plot: {exc.strerror or exc}") from None
    return str(target)

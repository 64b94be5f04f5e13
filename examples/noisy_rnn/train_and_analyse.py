"""Worked example: a NoisyRNN trained on a real sequence task, imported, its kernels, its mean output by orders.

    python examples/noisy_rnn/train_and_analyse.py                 # the full run (n = 16), figures to docs/figures
    python examples/noisy_rnn/train_and_analyse.py --size small    # seconds (n = 4)

Steps (docs/noisy_rnn_example.md explains every choice):

1. Train a NoisyRNN (the public parameterisation of Lim, Erichson et al. 2021, examples/noisy_rnn_net.py:
   A = beta (B - B^T) + (1 - beta)(B + B^T) - gamma_A I, the input E x inside tanh, readout D at the last
   step, solver "noisy" with additive noise) on ItalyPowerDemand (UCR; bundled with aeon: 67 training and
   1029 test series of 24 hourly values, 2 classes).  Needs torch (the ``torch`` extra) and aeon (``bench``).
   The per-unit step d stays at eps (not trained) so the network stays a fine Euler scheme of its SDE,
   and a penalty on E keeps the input inside tanh moderate (the Volterra series in the input needs it).
   The network starts at h = 0 and reads ``WARMUP`` zero inputs before the 24 data steps: its state when the
   data begin is then stationary up to a transient this script measures, so stationary kernels apply.
2. Import it: ``vs.from_noisy_rnn(state_dict, **hyper)``.
3. Kernels: Monte Carlo (``vs.estimate_kernels`` on the model's input channels u, u^2: MATH.md section 11)
   and ``vs.derive(model, 2, method="small_noise", noise_order=2)`` (printed refusal and Monte Carlo only
   while that route refuses an input inside the activation).
4. The mean output per class for held-out series, order by order in the input amplitude eps, from the
   kernels, against the network itself run with its noise (network.py: its Taylor coefficients in eps by
   the Cauchy integral over common noise paths, with standard errors).
5. Figures: K1 per class readout, K2 heat map, error of the series against the number of orders.
6. How many orders the mean output needs at the trained input scale (eps = 1), and where the series breaks down.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import volterra_sym as vs
from volterra_sym.model.input_channels import channel_model

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from network import Network, TaylorMC, taylor_mc  # noqa: E402

#: the network's hyper-parameters (the NoisyRNN's constructor arguments; eps is its time step)
HYPER: dict[str, Any] = dict(eps=0.1, beta=0.8, gamma_A=0.5, gamma_W=0.1, alpha=1.0, solver="noisy", add_noise=0.03)
WARMUP = 100  # zero-input steps before the data (10 time units)
SIZES: dict[str, dict[str, Any]] = {
    # n_units, training epochs (full batch), penalty on |E|^2, held-out series, network paths, kernel MC paths
    "full": dict(
        n_units=16,
        epochs=400,
        e_penalty=0.1,
        test_series=16,
        paths=2000,
        mc_paths=300,
        mc_order=2,
        sde_substeps=4,
        seed=0,
    ),
    "small": dict(
        n_units=4, epochs=80, e_penalty=0.1, test_series=3, paths=400, mc_paths=64, mc_order=2, sde_substeps=2, seed=0
    ),
}
MC_SUB = 6  # Monte Carlo kernel step dt / 6: the midpoint lags (k + 1/2) dt and the centroid lags dt/3 are on its grid
DATA = "ItalyPowerDemand"


# --------------------------------------------------------------------------- 1. data and training (torch)


def load_data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ItalyPowerDemand from aeon's bundled copy: X (N, 24) z-normalised per series, y in {0, 1}."""
    try:
        from aeon.datasets import load_classification
    except ImportError:
        raise SystemExit("this example needs aeon for its data set: pip install 'volterra_sym[bench]'") from None
    out = []
    for split in ("train", "test"):
        X, y = load_classification(DATA, split=split)
        out += [np.asarray(X[:, 0, :], dtype=float), np.asarray(y).astype(int) - 1]
    return out[0], out[1], out[2], out[3]


def train(X: np.ndarray, y: np.ndarray, Xt: np.ndarray, yt: np.ndarray, cfg: dict[str, Any]) -> dict[str, Any]:
    """Train the NoisyRNN (Adam, full batch, noise on as in the public script's ``mode='train'``).

    Returns the state dict as NumPy arrays, the accuracies (test mode: no noise, as the public script
    evaluates) and the training time.
    """
    try:
        import torch
    except ImportError:
        raise SystemExit("training needs torch: pip install 'volterra_sym[torch]'") from None
    sys.path.insert(0, str(HERE.parent))
    from noisy_rnn_net import NoisyRNN

    torch.manual_seed(cfg["seed"])
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: threads only add overhead
    hp = {k: v for k, v in HYPER.items()}
    net = NoisyRNN(1, 2, n_units=cfg["n_units"], init_std=1.0, **hp).double()
    net.d.requires_grad_(False)  # d = eps: the network stays the Euler scheme of its SDE at step eps

    def seq(A: np.ndarray) -> Any:
        x = torch.tensor(A, dtype=torch.float64)[:, :, None]
        return torch.cat([torch.zeros(x.shape[0], WARMUP, 1, dtype=torch.float64), x], 1)

    xs, ys, xts = seq(X), torch.tensor(y), seq(Xt)
    opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=0.01)
    t0 = time.perf_counter()
    for _ in range(cfg["epochs"]):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(xs, mode="train"), ys) + cfg["e_penalty"] * (net.E.weight**2).sum()
        loss.backward()
        opt.step()
    seconds = time.perf_counter() - t0
    torch.set_num_threads(threads)
    with torch.no_grad():
        acc_train = float((net(xs).argmax(1).numpy() == y).mean())
        acc_test = float((net(xts).argmax(1).numpy() == yt).mean())
    sd = {k: v.detach().numpy().copy() for k, v in net.state_dict().items()}
    return dict(state_dict=sd, acc_train=acc_train, acc_test=acc_test, seconds=seconds)


def save_state(path: Path, sd: dict[str, np.ndarray], **meta: Any) -> None:
    """The state dict as an .npz of NumPy arrays (no torch needed to read it back) with JSON metadata."""
    np.savez_compressed(path, **{f"sd:{k}": v for k, v in sd.items()}, meta=json.dumps(meta))


def load_state(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    z = np.load(path)
    return {k[3:]: z[k] for k in z.files if k.startswith("sd:")}, json.loads(str(z["meta"]))


# --------------------------------------------------------------------------- 2-3. import, start, kernels


def rest_point(net: Network) -> tuple[np.ndarray, np.ndarray]:
    """h* (the zero-input fixed point, by Newton from the noiseless network's state after 2000 steps) and
    the eigenvalues of J = D phi(h*) = alpha A^T + diag(tanh'(W^T h* + E_b)) W^T (column convention)."""
    h = np.zeros(len(net.Eb))
    for _ in range(2000):
        h = h + net.d * (net.alpha * h @ net.A + np.tanh(h @ net.W + net.Eb))
    for _ in range(20):
        z = h @ net.W + net.Eb
        F = net.alpha * h @ net.A + np.tanh(z)
        J = net.alpha * net.A.T + (1 - np.tanh(z) ** 2)[:, None] * net.W.T
        h = h - np.linalg.solve(J, F)
    z = h @ net.W + net.Eb
    J = net.alpha * net.A.T + (1 - np.tanh(z) ** 2)[:, None] * net.W.T
    return h, np.linalg.eigvals(J)


def start_transient(net: Network, h_star: np.ndarray, T: int) -> dict[str, float]:
    """Size of the point start's transient: the noiseless zero-input network from h = 0 against h*,
    at the data's start (after WARMUP steps) and at the readout (WARMUP + T steps), on the class readouts."""
    h = np.zeros_like(h_star)
    out = {}
    for k in range(1, WARMUP + T + 1):
        h = h + net.d * (net.alpha * h @ net.A + np.tanh(h @ net.W + net.Eb))
        if k in (WARMUP, WARMUP + T):
            key = "at_data_start" if k == WARMUP else "at_readout"
            out[key] = float(np.max(np.abs((h - h_star) @ net.Dw.T)))
    return out


def kernel_lags(T: int, dt: float) -> dict[str, Any]:
    """Lags on the Monte Carlo grid dt / MC_SUB for the midpoint sums of the series (readout at T dt).

    Order 1: tau_k = (T - k - 1/2) dt (the middle of input step k).  Order 2: off-diagonal cells k > l,
    (tau_1, tau_2) = ((T - k - 1/2) dt, (k - l) dt); the triangles k = l at their centroid
    ((T - k - 2/3) dt, dt/3).
    """
    q = MC_SUB
    h = dt / q
    k = np.arange(T)
    tau1 = (T - k) * q - q // 2  # in units of h
    pairs = [(a, b) for a in range(T) for b in range(a)]
    off = np.array([((T - a) * q - q // 2, (a - b) * q) for a, b in pairs], dtype=float)
    diag = np.array([((T - a) * q - 2 * q // 3, q // 3) for a in range(T)], dtype=float)
    return dict(h=h, tau1=tau1 * h, pairs=pairs, off=off * h, diag=diag * h)


def monte_carlo_kernels(model: vs.Diffusion, T: int, cfg: dict[str, Any]) -> dict[str, Any]:
    """Stationary Monte Carlo kernels of the input channels (u, u^2) at the series' lags (vs.estimate_kernels)."""
    t0 = time.perf_counter()
    cm, channels = channel_model(model, cfg["mc_order"])
    cm = cm.replace(initial=vs.Stationary())
    L = kernel_lags(T, HYPER["eps"])
    lags: dict[int, np.ndarray] = {1: L["tau1"]}
    if cfg["mc_order"] >= 2:
        lags[2] = np.vstack([L["off"], L["diag"]])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", vs.VolterraWarning)
        est = vs.estimate_kernels(
            cm, order=cfg["mc_order"], lags=lags, paths=cfg["mc_paths"], seed=cfg["seed"], dt=L["h"]
        )
    out: dict[str, Any] = dict(
        channels=channels.names,
        est=est,
        lags=L,
        model=cm,
        seconds=time.perf_counter() - t0,
        warnings=[str(w.message) for w in caught],
    )
    # corrected (Richardson dt, dt/2) estimates: the SDE's kernels, time-step bias O(dt^2)
    out["K1"] = {c: (est.corrected(1, (i,)), est.corrected_stderr(1, (i,))) for i, c in enumerate(channels.names)}
    if cfg["mc_order"] >= 2:
        out["K2"] = (est.corrected(2, (0, 0)), est.corrected_stderr(2, (0, 0)))
    return out


def mean_at_rest(cm: vs.Diffusion, cfg: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """E y in the stationary law without input (order 0), by vs.simulate from the stationary start.

    Simulated on the channel model (its drift at u = 0 is the network's): vs.simulate's automatic
    burn-in does not yet take a model with the input inside the drift.
    """
    st = cm.replace(initial=vs.Stationary())
    t = np.linspace(0, 1, 11)
    res = vs.simulate(st, np.zeros((len(t), st.m)), t, max(4 * cfg["mc_paths"], 256), seed=cfg["seed"])
    return res.mean[-1], res.stderr[-1]


def try_small_noise(model: vs.Diffusion) -> tuple[Any, str]:
    """vs.derive(..., method="small_noise", order=2, noise_order=2) on the stationary model (order 1 when order 2
    is refused), or the refusal."""
    st = model.replace(initial=vs.Stationary())
    msgs = []
    for order in (2, 1):
        t0 = time.perf_counter()
        try:
            resp = vs.derive(st, order, method="small_noise", noise_order=2)
        except vs.VolterraError as exc:
            msgs.append(f"order {order}: {type(exc).__name__}: {exc}")
            continue
        return resp, "; ".join([*msgs, f"order {order} derived in {time.perf_counter() - t0:.1f} s"])
    return None, "; ".join(msgs)


# --------------------------------------------------------------------------- 4. the series for held-out inputs


def series_from_kernels(mc: dict[str, Any], mean0: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orders 0, 1, 2 (in eps) of E y at the readout for each series X (S, T), and a bound on their SEs: (3, S, p).

    The input is held over each step, so (midpoint rule per cell, centroid on the diagonal triangles)
        E_1 = dt sum_k K1_u(tau_k) x_k,
        E_2 = dt sum_k K1_{u^2}(tau_k) x_k^2 + dt^2 sum_{k>l} K2_uu(tau_k, (k-l) dt) x_k x_l
              + dt^2 / 2 sum_k K2_uu((T-k-2/3) dt, dt/3) x_k^2.
    The SE bound adds the kernels' SEs with |weights| (estimates at different lags share paths, so their
    errors may be correlated; the sum is the fully correlated case).  Order 2 is NaN without K2.
    """
    dt = HYPER["eps"]
    S, T = X.shape
    p = len(mean0)
    out, se = np.full((3, S, p), np.nan), np.full((3, S, p), np.nan)
    out[0], se[0] = mean0[0], mean0[1]
    K1u, s1 = mc["K1"]["u1"]  # (T, p)
    out[1], se[1] = dt * X @ K1u, dt * np.abs(X) @ s1
    if "K2" in mc:
        K1u2, s1u2 = mc["K1"]["u1^2"]
        K2, s2 = mc["K2"]
        npairs = len(mc["lags"]["pairs"])
        a = np.array([ab[0] for ab in mc["lags"]["pairs"]], dtype=int)
        b = np.array([ab[1] for ab in mc["lags"]["pairs"]], dtype=int)
        cross = X[:, a] * X[:, b]
        out[2] = dt * (X**2) @ K1u2 + dt**2 * cross @ K2[:npairs] + dt**2 / 2 * (X**2) @ K2[npairs:]
        se[2] = dt * (X**2) @ s1u2 + dt**2 * np.abs(cross) @ s2[:npairs] + dt**2 / 2 * (X**2) @ s2[npairs:]
    return out, se


def network_chain_order1(model: vs.Diffusion, X: np.ndarray, cfg: dict[str, Any]) -> dict[str, Any]:
    """Order 1 of the network itself from the kernels of its Euler chain at the network's step.

    ``vs.estimate_kernels`` estimates the kernels of the Euler chain at its step dt; at dt = eps that chain
    is the network, whose input x_k enters h_{k+1}: E_1 = eps sum_k K1_u((T - 1 - k) eps) x_k exactly
    (no quadrature), so this predicts the network including its Euler bias.  Order 1 only (order 2 would
    repeat the costly symbolic derivatives of the channel model).
    """
    t0 = time.perf_counter()
    dt = HYPER["eps"]
    S, T = X.shape
    cm = channel_model(model, 1)[0].replace(initial=vs.Stationary())
    lags = (T - 1 - np.arange(T)) * dt
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", vs.VolterraWarning)
        est = vs.estimate_kernels(cm, order=1, lags={1: lags}, paths=cfg["mc_paths"], seed=cfg["seed"] + 3, dt=dt,
                                  bias_check=False)  # fmt: skip
    K, se = est.mean(1, (0,)), est.stderr(1, (0,))
    return dict(E1=dt * X @ K, se=dt * np.abs(X) @ se, K=K, lags=lags, seconds=time.perf_counter() - t0)


def series_from_small_noise(resp: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orders 0, 1, 2 of E y at the readout from the small-noise Response's predict (by_order) and their stated
    errors (return_error: the expansion's remainder and the time integration), each (orders, S, p)."""
    from volterra_sym.importers.noisy_rnn import sequence_input

    rows, errs = [], []
    for x in X:
        t, U = sequence_input(x[:, None], HYPER["eps"], substeps=4)
        # the same piecewise-linear input on a uniform grid (the numeric engine predicts on uniform grids): every
        # breakpoint of sequence_input's grid, 0, (k + (2j + 1)/8) eps and T eps, lies on the grid of step eps/8
        tu = np.linspace(0.0, t[-1], 8 * len(x) + 1)
        Uu = np.interp(tu, t, U[:, 0])[:, None]
        value, error = resp.predict(Uu, tu, by_order=True, return_error=True)
        rows.append(np.asarray(value)[:, -1])
        errs.append(np.asarray(error)[:, -1])
    return np.stack(rows, axis=1), np.stack(errs, axis=1)  # (orders, S, p) each


# --------------------------------------------------------------------------- 5. figures


def figures(mc: dict[str, Any], sn: Any, taylor: TaylorMC, outdir: Path, tag: str) -> list[str]:
    """K1 per class readout, K2 heat map (class-difference readout), series error against the orders."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    L = mc["lags"]
    tau = L["tau1"]
    fig, ax = plt.subplots(1, 2, figsize=(8, 3.2))
    for i, name in enumerate(("u1", "u1^2")):
        if name not in mc["K1"]:
            continue
        K, se = mc["K1"][name]
        for c in range(K.shape[1]):
            ax[i].errorbar(tau, K[:, c], yerr=2 * se[:, c], fmt="o", ms=3, label=f"class {c} (MC +- 2 SE)")
            if sn is not None:
                grid = np.linspace(0, tau.max(), 200)
                ax[i].plot(
                    grid,
                    sn.kernel_values(1, (i,), grid[:, None], component=c),
                    "-",
                    lw=1,
                    label=f"class {c} small_noise",
                )
        ax[i].axhline(0, color="0.7", lw=0.5)
        ax[i].set_xlabel(f"lag tau (time; one network step = {HYPER['eps']:g})")
        ax[i].set_title(f"K1 of channel {name.replace('u1', 'u')}")
    ax[0].legend(fontsize=7)
    fig.tight_layout()
    path = outdir / f"noisy_rnn_k1{tag}.png"
    fig.savefig(path, dpi=70)
    plt.close(fig)
    written.append(str(path))

    if "K2" in mc:
        T = len(tau)
        K2 = mc["K2"][0]
        diff = K2[:, 1] - K2[:, 0]  # the decision readout y_1 - y_0
        img = np.full((T, T), np.nan)
        for (a, b), v in zip(L["pairs"], diff):
            img[T - 1 - a, a - b] = v  # rows: tau1 index (recent input), columns: tau2 in steps
        fig, ax2 = plt.subplots(figsize=(4.2, 3.4))
        lim = np.nanmax(np.abs(img))
        im = ax2.imshow(
            img,
            origin="lower",
            cmap="RdBu_r",
            vmin=-lim,
            vmax=lim,
            extent=(0.5 * HYPER["eps"], (T + 0.5) * HYPER["eps"], 0, T * HYPER["eps"]),
            aspect="auto",
        )
        ax2.set_xlabel("tau2 (between the two inputs)")
        ax2.set_ylabel("tau1 (readout - recent input)")
        ax2.set_title("K2_uu, readout y1 - y0 (MC)", fontsize=9)
        fig.colorbar(im, ax=ax2)
        fig.tight_layout()
        path = outdir / f"noisy_rnn_k2{tag}.png"
        fig.savefig(path, dpi=70)
        plt.close(fig)
        written.append(str(path))

    fig, ax3 = plt.subplots(figsize=(4.6, 3.4))
    N = taylor.partial_error.shape[1]
    for i, e in enumerate(taylor.eps_real):
        err = taylor.partial_error[i, :, :, 1] - taylor.partial_error[i, :, :, 0]  # (N + 1, S) on y1 - y0
        rms = np.sqrt(np.mean(err**2, axis=1))
        ax3.semilogy(np.arange(N), rms, "o-", label=f"eps = {e:g}")
    se = np.hypot(taylor.partial_error_se[..., 1], taylor.partial_error_se[..., 0])  # (R, N + 1, S)
    ax3.semilogy(
        np.arange(N),
        np.sqrt(np.mean(se[list(taylor.eps_real).index(1.0)] ** 2, axis=1)),
        ":",
        color="0.5",
        label="its SE (eps = 1)",
    )
    ax3.set_xlabel("orders kept N")
    ax3.set_ylabel("rms error of the series, y1 - y0")
    ax3.legend(fontsize=7)
    fig.tight_layout()
    path = outdir / f"noisy_rnn_orders{tag}.png"
    fig.savefig(path, dpi=70)
    plt.close(fig)
    written.append(str(path))
    return written


# --------------------------------------------------------------------------- the run


def analyse(
    sd: dict[str, np.ndarray],
    Xt: np.ndarray,
    cfg: dict[str, Any],
    *,
    figdir: Path | None = None,
    tag: str = "",
    log: Any = print,
) -> dict[str, Any]:
    """Steps 2-6 for a trained state dict and held-out series Xt (S, T)."""
    res: dict[str, Any] = {}
    t0 = time.perf_counter()
    model = vs.from_noisy_rnn(sd, **HYPER)
    res["import_seconds"] = time.perf_counter() - t0
    net = Network.from_state_dict(sd, **{k: HYPER[k] for k in ("beta", "gamma_A", "gamma_W", "alpha", "add_noise")})
    S, T = Xt.shape
    h_star, lam = rest_point(net)
    res["rates"] = (float(-lam.real.max()), float(np.abs(lam).max()))
    res["euler_number"] = float(HYPER["eps"] * np.abs(lam).max())  # eps |lambda|_max: the Euler scheme's coarseness
    res["transient"] = start_transient(net, h_star, T)
    log(
        f"import: n = {model.n}, {model.p} class readouts, {res['import_seconds']:.2f} s; J at h*: slowest rate "
        f"{res['rates'][0]:.3f}, largest |lambda| {res['rates'][1]:.2f} (eps |lambda|max = {res['euler_number']:.2f}); "
        f"point-start transient on the readouts: {res['transient']['at_data_start']:.1e} when the data start, "
        f"{res['transient']['at_readout']:.1e} at the readout"
    )

    sn, msg = try_small_noise(model)
    res["small_noise"] = msg
    log(f"small_noise: {msg}")

    mc = monte_carlo_kernels(model, T, cfg)
    res["mc_seconds"] = mc["seconds"]
    log(
        f"Monte Carlo kernels (channels {mc['channels']}, order {cfg['mc_order']}, {cfg['mc_paths']} paths, "
        f"dt = eps/{MC_SUB}): {mc['seconds']:.1f} s"
    )
    for w in mc["warnings"]:
        log(f"  warning: {w[:200]}")
    if sn is not None:
        # z against the Monte Carlo SE alone, and with small_noise's stated error (its s^4 remainder and time
        # integration) added in quadrature: the criterion of issue 20 (|z| <= 4.5)
        z, z_se = [], []
        for i, name in enumerate(mc["channels"][:2]):
            K, se = mc["K1"][name]
            ref = np.stack(
                [sn.kernel_values(1, (i,), mc["lags"]["tau1"][:, None], component=c) for c in range(K.shape[1])], 1
            )
            err = np.array([sn.error_estimate(1, (i,), c) for c in range(K.shape[1])])
            z_se.append(np.max(np.abs(ref - K) / se))
            z.append(np.max(np.abs(ref - K) / np.sqrt(se**2 + err**2)))
        if "K2" in mc and sn.order >= 2:
            K, se = mc["K2"]
            lg = np.vstack([mc["lags"]["off"], mc["lags"]["diag"]])
            ref = np.stack([sn.kernel_values(2, (0, 0), lg, component=c) for c in range(K.shape[1])], 1)
            err = np.array([sn.error_estimate(2, (0, 0), c) for c in range(K.shape[1])])
            z_se.append(np.max(np.abs(ref - K) / se))
            z.append(np.max(np.abs(ref - K) / np.sqrt(se**2 + err**2)))
        res["kernel_z"] = [float(v) for v in z]
        res["kernel_z_se_only"] = [float(v) for v in z_se]
        log(
            "small_noise vs Monte Carlo kernels, max |z| per kernel (K1_u, K1_u^2, K2_uu): with the stated error "
            f"{np.round(z, 2)}; against the Monte Carlo SE alone {np.round(z_se, 2)}"
        )

    pred, pred_se = series_from_kernels(mc, mean_at_rest(mc["model"], cfg), Xt)
    chain = network_chain_order1(model, Xt, cfg)
    res["chain_seconds"] = chain["seconds"]
    log(f"Monte Carlo kernels of the network's own Euler chain (dt = eps, order 1): {chain['seconds']:.1f} s")
    t1 = time.perf_counter()
    taylor = taylor_mc(net, Xt, warmup=WARMUP, paths=cfg["paths"], seed=cfg["seed"] + 1)
    res["network_seconds"] = time.perf_counter() - t1
    t1 = time.perf_counter()
    sde = taylor_mc(
        net, Xt, warmup=WARMUP, paths=cfg["paths"], seed=cfg["seed"] + 2, substeps=cfg["sde_substeps"], top=2, nodes=16
    )
    res["sde_seconds"] = time.perf_counter() - t1

    # order by order: SDE kernels against the SDE (Richardson), the network's chain kernels against the network,
    # and the network against its SDE (its Euler bias)
    rows = []
    for n in range(3):
        net_c, net_se = taylor.coef[n], taylor.coef_se[n]
        sde_c, sde_se = sde.coef[n], sde.coef_se[n]
        row = dict(
            order=n,
            rms_network=float(np.sqrt(np.mean(net_c**2))),
            kernels_vs_sde=_rms_z(pred[n], sde_c, np.hypot(pred_se[n], sde_se)),
            chain_vs_network=_rms_z(chain["E1"], net_c, np.hypot(chain["se"], net_se)) if n == 1 else (np.nan, np.nan),
            sde_vs_network=_rms_z(sde_c, net_c, np.hypot(net_se, sde_se)),
        )
        rows.append(row)
    res["orders_table"] = rows
    log("order n of E y (the eps^n term), rms over series and both class readouts; differences: rms (max |z|):")
    log("  n   network term   SDE kernels - SDE    chain kernels - net  SDE - network (the network's Euler bias)")
    for r in rows:
        log(
            f"  {r['order']}   {r['rms_network']:.4f}        {_fmt(r['kernels_vs_sde'])}   "
            f"{_fmt(r['chain_vs_network'])}   {_fmt(r['sde_vs_network'])}"
        )
    if sn is not None:
        snp, sne = series_from_small_noise(sn, Xt)
        orders = range(min(3, len(snp)))
        res["small_noise_orders"] = [
            _rms_z(snp[n], sde.coef[n], np.sqrt(sde.coef_se[n] ** 2 + sne[n] ** 2)) for n in orders
        ]
        res["small_noise_orders_se_only"] = [_rms_z(snp[n], sde.coef[n], sde.coef_se[n]) for n in orders]
        log(
            "small_noise predict by_order - SDE terms, z with its stated error: "
            f"{[_fmt(v) for v in res['small_noise_orders']]}; z against the SE alone: "
            f"{[_fmt(v) for v in res['small_noise_orders_se_only']]}"
        )

    # 6. orders needed at the trained scale and beyond
    res["orders_needed"] = {}
    log("E y(eps) minus the series to order N (network, class-difference readout y1 - y0): rms over series (+- SE)")
    diff_val = taylor.value[..., 1] - taylor.value[..., 0]
    for i, e in enumerate(taylor.eps_real):
        err = taylor.partial_error[i, :, :, 1] - taylor.partial_error[i, :, :, 0]
        se = np.hypot(taylor.partial_error_se[i, :, :, 1], taylor.partial_error_se[i, :, :, 0])
        rms = np.sqrt(np.mean(err**2, axis=1))
        rse = np.sqrt(np.mean(se**2, axis=1))
        scale = float(np.sqrt(np.mean((diff_val[i]) ** 2)))
        ok = [N for N in range(len(rms)) if np.all(rms[N:] < 0.05 * scale)]
        res["orders_needed"][float(e)] = ok[0] if ok else None
        log(
            f"  eps = {e:g} (|E y1 - y0| rms {scale:.3f}): "
            + ", ".join(f"N={N}: {v:.3g}" for N, v in enumerate(rms))
            + f"  (SE {rse.max():.1g}); 5% reached at N = {ok[0] if ok else '> ' + str(len(rms) - 1)}"
        )
    res["rms_terms"] = np.sqrt(np.mean((taylor.coef[..., 1] - taylor.coef[..., 0]) ** 2, axis=1)).tolist()
    log(f"rms of the terms E c_n (y1 - y0), n = 0..{len(res['rms_terms']) - 1}: {np.round(res['rms_terms'], 4)}")
    if figdir is not None:
        res["figures"] = figures(mc, sn, taylor, figdir, tag)
        log(f"figures: {res['figures']}")
    res["pred"], res["pred_se"], res["taylor"], res["sde"], res["mc"], res["chain"] = (
        pred,
        pred_se,
        taylor,
        sde,
        mc,
        chain,
    )
    return res


def _rms_z(a: np.ndarray, b: np.ndarray, se: np.ndarray) -> tuple[float, float]:
    """rms of a - b and the largest |a - b| / se (se: the reference's standard error)."""
    d = np.asarray(a) - np.asarray(b)
    if np.all(np.isnan(d)):
        return (float("nan"), float("nan"))
    return float(np.sqrt(np.nanmean(d**2))), float(np.nanmax(np.abs(d) / se))


def _fmt(v: tuple[float, float]) -> str:
    return "not computed       " if np.isnan(v[0]) else f"{v[0]:.2e} (|z| {v[1]:5.1f})"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="full")
    ap.add_argument(
        "--figures", default=str(HERE.parents[1] / "docs" / "figures"), help="folder for the PNGs ('' for none)"
    )
    ap.add_argument("--state", default=None, help="an .npz state dict to analyse instead of training")
    ap.add_argument("--save-state", default=None, help="write the trained state dict here (.npz)")
    args = ap.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    cfg = SIZES[args.size]
    t0 = time.perf_counter()
    X, y, Xt, yt = load_data()
    train_info: dict[str, Any] = {}
    if args.state:
        sd, meta = load_state(Path(args.state))
        print(f"state dict {args.state}: {meta}")
    else:
        tr = train(X, y, Xt, yt, cfg)
        sd = tr["state_dict"]
        train_info = {k: tr[k] for k in ("acc_train", "acc_test", "seconds")}
        print(
            f"trained NoisyRNN n = {cfg['n_units']} on {DATA} ({len(X)} series, {cfg['epochs']} epochs) in "
            f"{tr['seconds']:.1f} s: accuracy train {tr['acc_train']:.3f}, test {tr['acc_test']:.3f} "
            f"({len(Xt)} series)"
        )
        if args.save_state:
            save_state(Path(args.save_state), sd, acc_test=tr["acc_test"], size=args.size, **HYPER)
    rng = np.random.default_rng(cfg["seed"])
    pick = np.sort(rng.choice(len(Xt), cfg["test_series"], replace=False))
    res = analyse(
        sd,
        Xt[pick],
        cfg,
        figdir=Path(args.figures) if args.figures else None,
        tag="" if args.size == "full" else f"_{args.size}",
    )
    res["seconds"] = time.perf_counter() - t0
    res["train"] = train_info
    print(f"total {res['seconds']:.1f} s (load average {os.getloadavg()[0]:.1f})")
    return res


if __name__ == "__main__":
    main()

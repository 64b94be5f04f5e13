"""Import a network trained with noise injection (NoisyRNN of Lim, Erichson et al., NeurIPS 2021).

The public NoisyRNN (``erichson/NoisyRNN``, ``models.py``) keeps a hidden state h (a row vector of
``n_units``), starts at h = 0 and, for each input x_k of the sequence, computes

    A = beta (B - B^T) + (1 - beta) (B + B^T) - gamma_A I,   W = beta (C - C^T) + (1 - beta) (C + C^T) - gamma_W I,
    F(h, x) = alpha h A + tanh(h W + x E^T + E_b)                  (row vectors: h A means A^T h)
    solver "base":   h <- h + eps F(h, x_k)
    solver "noisy":  h <- h + d * xi_m * F(h, x_k) + add_noise * z,   z ~ N(0, I),  xi_m ~ U[1 - mult_noise, 1]

(noise only in training mode, ``mode='train'``; the "base" solver has none), and reads out
``D(h) = D_w h + D_b`` (one component per class) after the last step.  Parameters (state-dict
keys): ``B``, ``C`` (n x n), ``E.weight`` (n x m), ``E.bias`` (n), ``D.weight`` (p x n),
``D.bias`` (p), ``d`` (n, the trained per-unit step of the "noisy" solver).

The import is the Itô SDE whose Euler-Maruyama scheme at step dt = eps is the network
(time unit: one network step lasts eps; input u(t) = x_k on [k eps, (k + 1) eps)):

    dh = s * [ alpha A^T h + tanh(W^T h + E u + E_b) ] dt + sigma dW,    h_0 = 0,    y = D_w h + D_b,
    s = 1 (base),   s = d / eps componentwise (noisy),
    sigma = add_noise / sqrt(eps) I (noisy; per step add_noise * N(0, I) = sigma sqrt(dt) N(0, I)),  sigma = 0 (base).

The input sits inside the activation (MATH.md section 11: kernels of the channels u^alpha); the
engine's own ``eps`` (the input amplitude of the Volterra series) is a different quantity from the
network's step ``eps``.  Multiplicative noise (``mult_noise > 0``, solver "noisy") multiplies the
drift by xi_m (mean 1 - mult_noise/2, per-step sd mult_noise/sqrt(12)): noise proportional to the
drift, which depends on the input; the engine's noise sigma(h) cannot depend on the input, so it is
refused.  The network is the Euler scheme of this SDE, so the SDE describes it up to that scheme's
O(dt) weak bias (small when eps times the largest rate of the drift is small).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import sympy as sp

from ..errors import InputError, ModelError, describe
from ..model.diffusion import Diffusion, PointMass, default_state, input_symbols
from ..validate import check_int, check_real_in_range, refusal

#: the NoisyRNN's hyper-parameters and their defaults (its constructor's)
DEFAULTS: dict[str, Any] = {
    "eps": 0.01,
    "beta": 0.8,
    "gamma_A": 0.01,
    "gamma_W": 0.01,
    "alpha": 1,
    "solver": "base",
    "add_noise": 0,
    "mult_noise": 0,
}
#: state-dict keys of the NoisyRNN (``d`` is used by solver "noisy" only)
KEYS = ("B", "C", "E.weight", "E.bias", "D.weight", "D.bias", "d")
SOLVERS = ("base", "noisy")


def from_noisy_rnn(
    net: Any,
    *,
    eps: float = 0.01,
    beta: float = 0.8,
    gamma_A: float = 0.01,
    gamma_W: float = 0.01,
    alpha: float = 1,
    solver: str = "base",
    add_noise: float = 0,
    mult_noise: float = 0,
    name: str = "noisy_rnn",
) -> Diffusion:
    """The SDE of a trained NoisyRNN (module docstring: every mapping, with its assumptions).

    Parameters
    ----------
    net : a torch ``NoisyRNN`` module (its hyper-parameters are read from its attributes), its
        ``state_dict()``, or a mapping of array-likes with the same keys (``B``, ``C``, ``E.weight``,
        ``E.bias``, ``D.weight``, ``D.bias``, ``d``).  torch is imported only by torch objects themselves.
    eps, beta, gamma_A, gamma_W, alpha, solver, add_noise, mult_noise : the NoisyRNN's arguments, same
        names and defaults; for a module, its attributes are used, and a keyword that differs from both
        its default and the module's value is refused.  The public training script stores them only in the
        checkpoint's file name: ``from_noisy_rnn(sd, **noisy_rnn_hyperparameters(path))``.
    name : the model's label.

    Returns
    -------
    Diffusion: state h1..hn, drift s * [alpha A^T h + tanh(W^T h + E u + E_b)] with the inputs
    u1..um inside tanh (coupling zero), sigma = add_noise / sqrt(eps) I (solver "noisy") or 0, vector
    readout D_w h + D_b (p components, one per class), initial law the point mass at 0.
    """
    given = dict(
        eps=eps, beta=beta, gamma_A=gamma_A, gamma_W=gamma_W, alpha=alpha, solver=solver,
        add_noise=add_noise, mult_noise=mult_noise,
    )  # fmt: skip
    hyper = _hyperparameters(net, given)
    arrays = _arrays(net)
    A, W, E, Eb, Dw, Db, d = _parameters(arrays, hyper)
    n, m = E.shape
    st = default_state(n)
    u = input_symbols(m)
    Wt, At = W.T, hyper["alpha"] * A.T
    scale = d / hyper["eps"] if hyper["solver"] == "noisy" else np.ones(n)
    drift = []
    for i in range(n):  # built term by term: sympy's flattening of dense float sums is slow for large n
        pre = _affine(Wt[i], st, E[i], u, Eb[i])
        lin = _affine(At[i], st, None, (), 0.0)
        F = sp.Add(lin, sp.tanh(pre, evaluate=False), evaluate=False)
        drift.append(F if scale[i] == 1 else sp.Mul(sp.Float(scale[i]), F, evaluate=False))
    if hyper["solver"] == "noisy":
        sigma = sp.Float(hyper["add_noise"] / math.sqrt(hyper["eps"])) * sp.eye(n)
    else:
        sigma = sp.zeros(n, n)
    readout = [_affine(Dw[c], st, None, (), Db[c]) for c in range(Dw.shape[0])]
    meta = {"kind": "NoisyRNN", "hyperparameters": hyper, "dt": hyper["eps"], "A": A, "W": W, "E": E, "E_b": Eb,
            "D_w": Dw, "D_b": Db, "d": d, "input": "inside"}  # fmt: skip
    return Diffusion(st, sp.Matrix(drift), sigma, sp.zeros(n, m), readout, PointMass([0] * n), name=name, meta=meta)


def noisy_rnn_hyperparameters(path: Any) -> dict[str, Any]:
    """Hyper-parameters from a checkpoint name of the public training script.

    The script saves ``{model}_{data}_T_{T}_units_{n}_beta_{beta}_gamma_A_{gamma_A}_gamma_W_{gamma_W}_eps_{eps}
    _solver_{solver}_gclip_{g}_optimizer_{opt}_addnoise_{add}_multnoise_{mult}_seed_{seed}.pkl``; this returns
    ``{"beta", "gamma_A", "gamma_W", "eps", "solver", "add_noise", "mult_noise"}`` (``alpha`` is not in the
    name: pass it yourself when it was not 1).
    """
    text = str(path).replace("\\", "/").rsplit("/", 1)[-1]
    fields = {
        "beta": r"_beta_([^_]+)",
        "gamma_A": r"_gamma_A_([^_]+)",
        "gamma_W": r"_gamma_W_([^_]+)",
        "eps": r"_eps_([^_]+)",
        "solver": r"_solver_([^_]+)",
        "add_noise": r"_addnoise_([^_]+)",
        "mult_noise": r"_multnoise_([^_]+?)(?:_|\.pkl$|$)",
    }
    out: dict[str, Any] = {}
    for key, pattern in fields.items():
        hit = re.search(pattern, text)
        if hit is None:
            raise refusal(
                "path",
                f"the checkpoint name {text[:120]!r} has no {pattern.split('(')[0].strip('_')!r} field",
                "expected the public training script's name (..._beta_B_gamma_A_G_gamma_W_G_eps_E_solver_S_..."
                "_addnoise_A_multnoise_M_seed_S.pkl), or pass the hyper-parameters as arguments",
            )
        raw = hit.group(1)
        if key == "solver":
            out[key] = raw
            continue
        try:
            out[key] = float(raw)
        except ValueError:
            raise refusal("path", f"the {key} field of the checkpoint name is {raw!r}, not a number") from None
    return out


# --------------------------------------------------------------------------- reading the network


def _is_torch(obj: Any) -> bool:
    """A torch object (a module, also a user's subclass, or a tensor), recognised without importing torch."""
    return any(c.__module__.split(".")[0] == "torch" for c in type(obj).__mro__)


def _hyperparameters(net: Any, given: dict[str, Any]) -> dict[str, Any]:
    """The hyper-parameters: the module's attributes when ``net`` is a module, else the arguments; checked."""
    hyper = dict(given)
    if _is_torch(net) and hasattr(net, "state_dict"):
        for key, default in DEFAULTS.items():
            if not hasattr(net, key):
                continue
            value = getattr(net, key)
            if given[key] != default and given[key] != value:
                raise refusal(
                    key,
                    f"the module has {key} = {value!r}, received {key} = {given[key]!r}",
                    "omit the argument (a module's own hyper-parameters are used)",
                )
            hyper[key] = value
    for key in ("eps", "beta", "gamma_A", "gamma_W", "alpha", "add_noise", "mult_noise"):
        hyper[key] = check_real_in_range(hyper[key], key, what="a real number")
    if hyper["eps"] <= 0:
        raise refusal("eps", f"the network's time step must be > 0, received {hyper['eps']!r}")
    if hyper["solver"] not in SOLVERS:  # the words of the training script's flag, not check_choice's
        raise refusal("solver", f"expected 'base' or 'noisy' received {hyper['solver']!r}")
    check_real_in_range(hyper["add_noise"], "add_noise", low=0, what="a noise level")
    check_real_in_range(hyper["mult_noise"], "mult_noise", low=0, high=1, what="a level")
    if hyper["mult_noise"] > 0 and hyper["solver"] == "noisy":
        raise ModelError(
            f"mult_noise: {hyper['mult_noise']} multiplies the drift by xi ~ U[1 - mult, 1], a noise proportional to "
            "the drift, which depends on the input; the engine's noise sigma(h) cannot depend on the input, so this "
            "network cannot be imported faithfully; import it with mult_noise=0 (its mean drift is then scaled by "
            "1 - mult/2 less than the network's) or train it with additive noise"
        )
    return hyper


def _arrays(net: Any) -> dict[str, np.ndarray]:
    """float64 arrays of the state dict (torch tensors detached on the CPU), keys checked."""
    raw = net.state_dict() if (_is_torch(net) and hasattr(net, "state_dict")) else net
    if not isinstance(raw, Mapping):
        raise refusal(
            "net",
            f"expected a NoisyRNN module, its state_dict() or a mapping of arrays with the keys {list(KEYS)}, "
            f"received {describe(net)}",
        )
    unknown = sorted(str(k) for k in raw if k not in KEYS)
    if unknown:
        raise ModelError(
            f"net: the key(s) {unknown} are not parameters of the NoisyRNN (expected {list(KEYS)}); this is a "
            "different network, which this importer cannot map (use vs.SRNN or vs.Diffusion with its equations)"
        )
    out = {}
    for key, value in raw.items():
        if _is_torch(value):
            value = value.detach().cpu().double().numpy()
        try:
            if np.iscomplexobj(value):
                raise TypeError
            arr = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            raise ModelError(f"{key}: expected a real array, received {describe(value)}") from None
        if not np.all(np.isfinite(arr)):
            raise ModelError(f"{key}: has non-finite entries (NaN or inf); the network cannot be imported")
        out[str(key)] = arr
    return out


def _parameters(arrays: dict[str, np.ndarray], hyper: dict[str, Any]) -> tuple[np.ndarray, ...]:
    """A, W, E, E_b, D_w, D_b, d with shapes checked against each other."""
    need = [k for k in KEYS if k != "d" or hyper["solver"] == "noisy"]
    missing = [k for k in need if k not in arrays]
    if missing:
        raise ModelError(
            f"{missing[0]}: missing from the state dict (keys present: {sorted(arrays)}); a NoisyRNN state dict has "
            f"{list(KEYS)}"
        )
    B = arrays["B"]
    if B.ndim != 2 or B.shape[0] != B.shape[1]:
        raise ModelError(f"B: expected a square n_units x n_units matrix, received shape {B.shape}")
    n = B.shape[0]
    shapes = {"C": (n, n), "E.bias": (n,), "d": (n,)}
    for key, shape in shapes.items():
        if key in arrays and arrays[key].shape != shape:
            raise ModelError(f"{key}: expected shape {shape} (n_units = {n} from B), received {arrays[key].shape}")
    E = arrays["E.weight"]
    if E.ndim != 2 or E.shape[0] != n:
        raise ModelError(f"E.weight: expected shape ({n}, input_dim) (n_units = {n} from B), received {E.shape}")
    Dw = arrays["D.weight"]
    if Dw.ndim != 2 or Dw.shape[1] != n:
        raise ModelError(f"D.weight: expected shape (output_classes, {n}), received {Dw.shape}")
    Db = arrays["D.bias"]
    if Db.shape != (Dw.shape[0],):
        raise ModelError(f"D.bias: expected shape ({Dw.shape[0]},) (one per row of D.weight), received {Db.shape}")
    d = arrays.get("d", np.full(n, hyper["eps"]))
    if hyper["solver"] == "noisy" and np.any(d <= 0):
        i = int(np.argmin(d))
        raise ModelError(f"d: the per-unit step d[{i}] = {d[i]:.6g} is not positive, so h does not follow a forward "
                         "Euler step of an SDE; such a network has no continuous-time import")  # fmt: skip
    eye = np.eye(n)
    beta = hyper["beta"]
    A = beta * (B - B.T) + (1 - beta) * (B + B.T) - hyper["gamma_A"] * eye
    W = beta * (arrays["C"] - arrays["C"].T) + (1 - beta) * (arrays["C"] + arrays["C"].T) - hyper["gamma_W"] * eye
    return A, W, E, arrays["E.bias"], Dw, Db, d


def _affine(row: np.ndarray, h: tuple[sp.Symbol, ...], erow: np.ndarray | None, u: tuple[sp.Symbol, ...],
            bias: float) -> sp.Expr:  # fmt: skip
    """row . h + erow . u + bias as one flat sympy sum (zero coefficients dropped)."""
    terms = [sp.Mul(sp.Float(float(c)), x, evaluate=False) for c, x in zip(row, h) if c != 0]
    if erow is not None:
        terms += [sp.Mul(sp.Float(float(c)), x, evaluate=False) for c, x in zip(erow, u) if c != 0]
    if bias != 0:
        terms.append(sp.Float(float(bias)))
    return sp.Add(*terms, evaluate=False) if terms else sp.Integer(0)


def sequence_input(x: Any, eps: float, substeps: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A grid and input samples (t, U) for the network's sequence ``x`` (T, m) at step ``eps``.

    The network holds x_k over the step [k eps, (k + 1) eps); the engine reads samples as a
    piecewise-linear interpolant, so each step is sampled at ``substeps`` points inside it (at
    k eps + (j + 1/2) eps / substeps), which reproduces the steps up to one linear ramp of length
    eps / substeps at each jump.  The readout after the last step is at t = T eps, the grid's end.
    """
    X = np.asarray(x, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2 or X.shape[0] < 1 or not np.all(np.isfinite(X)):
        why = f"expected a finite sequence of shape (T, input_dim), received shape {X.shape}"
        raise refusal("x", why, cls=InputError)
    substeps = check_int(substeps, "substeps", minimum=1)
    T = X.shape[0]
    h = eps / substeps
    t_inner = (np.arange(T * substeps) + 0.5) * h
    t = np.concatenate([[0.0], t_inner, [T * eps]])
    U = np.concatenate([X[:1], np.repeat(X, substeps, axis=0), X[-1:]])
    return t, U

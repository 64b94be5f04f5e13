"""Response features on real time series (UCR/UEA sets bundled with aeon), against peers in the same run.

Run:  python benchmarks/bench_learn.py [--smallest] [--out FILE] [--seeds K]

Needs:  pip install 'volterra_sym[learn,bench]'  (scikit-learn; aeon, roughpy, reservoirpy).
Every data set ships inside the aeon wheel (aeon/datasets/data); nothing is downloaded.
Standard train/test splits.  ``--smallest`` runs UnitTest only (a few seconds; CI runs it).

Methods (classification; regression uses the regressor counterparts):

* response features + ridge : ResponseFeatures(P, N) with standardised inputs and
  coordinates, RidgeClassifierCV: a linear readout on Phi_t(u) (the primal kernel machine).
* response kernel + SVC : ResponseKernel(P, N) as a precomputed kernel, SVC with C chosen by
  3-fold CV on the training set (the dual kernel machine on the response-feature RKHS).
* SRNN readout (no simulation) : a fixed 4-unit linear SRNN, dictionary {h_i, h_i h_j} (J = 14),
  features E f_j(h_T; u) from the Volterra series through the response feature
  (ReadoutRegression, feature_degree=12), RidgeClassifierCV: the trained readout of an actual
  network, i.e. the kernel machine restricted to the J-dimensional span of its coefficients.
* signature (t, int u), own : degree-0 response feature of the input with a constant channel
  appended (the signature of the time-augmented integrated path), level 4, RidgeClassifierCV.
* aeon SignatureClassifier : aeon's default signature pipeline (basepoint + time augmentation,
  dyadic windows, depth 4, random forest).  Regression: aeon's SignatureTransformer + RidgeCV.
* ESN (reservoirpy) : leaky tanh reservoir with as many units as the response feature has
  coordinates (capped at 2000), final state, RidgeClassifierCV; leak rate chosen by 3-fold CV
  on the training set; mean +- sd over ``--seeds`` reservoirs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sympy as sp
from sklearn.kernel_ridge import KernelRidge
from sklearn.linear_model import RidgeClassifierCV, RidgeCV
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

import volterra_sym as vs
from volterra_sym.learn import ReadoutRegression, ResponseFeatures, ResponseKernel

warnings.filterwarnings("ignore")  # aeon / reservoirpy deprecation chatter
os.environ.setdefault("TQDM_DISABLE", "1")

ALPHAS = np.logspace(-3, 4, 15)
R = sp.Rational


# --------------------------------------------------------------------------- data


@dataclass
class Data:
    name: str
    task: str  # "classification" or "regression"
    train: Any  # array (n, L, m) or list of pairs (t_i, u_i)
    test: Any
    y_train: np.ndarray
    y_test: np.ndarray
    channels: int
    length: str


def _convert(X: Any) -> Any:
    """aeon (n, m, L) arrays -> (n, L, m); unequal-length lists -> pairs (sample index, u (L_i, m))."""
    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(X.transpose(0, 2, 1), dtype=float)
    return [(np.arange(x.shape[1], dtype=float), np.asarray(x.T, dtype=float)) for x in X]


def load(name: str) -> Data:
    from aeon import datasets

    loaders: dict[str, tuple[Callable[..., Any], str]] = {
        "UnitTest": (datasets.load_unit_test, "classification"),
        "ItalyPowerDemand": (datasets.load_italy_power_demand, "classification"),
        "GunPoint": (datasets.load_gunpoint, "classification"),
        "ArrowHead": (datasets.load_arrow_head, "classification"),
        "BasicMotions": (datasets.load_basic_motions, "classification"),
        "JapaneseVowels": (datasets.load_japanese_vowels, "classification"),
        "Covid3Month": (datasets.load_covid_3month, "regression"),
    }
    loader, task = loaders[name]
    Xtr, ytr = loader(split="train")
    Xte, yte = loader(split="test")
    train, test = _convert(Xtr), _convert(Xte)
    if isinstance(train, np.ndarray):
        channels, length = train.shape[2], str(train.shape[1])
    else:
        lengths = [len(g) for g, _ in train + test]
        channels, length = train[0][1].shape[1], f"{min(lengths)}-{max(lengths)}"
    if task == "regression":
        ytr, yte = ytr.astype(float), yte.astype(float)
    return Data(name, task, train, test, np.asarray(ytr), np.asarray(yte), channels, length)


def _standardise(train: Any, test: Any) -> tuple[Any, Any]:
    """Centre / scale each channel with training statistics (for the SRNN and the ESN)."""
    samples = np.concatenate(list(train) if isinstance(train, np.ndarray) else [u for _, u in train])
    mean, std = samples.mean(axis=0), samples.std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def apply(X: Any) -> Any:
        if isinstance(X, np.ndarray):
            return (X - mean) / std
        return [(g, (u - mean) / std) for g, u in X]

    return apply(train), apply(test)


def _as_list(X: Any) -> list[np.ndarray]:
    return list(X) if isinstance(X, np.ndarray) else [u for _, u in X]


# --------------------------------------------------------------------------- methods


@dataclass
class Result:
    method: str
    score: float
    score_sd: float | None
    fit_s: float
    predict_s: float
    features: int | str
    note: str = ""


def _timed(fit: Callable[[], Any], predict: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    t0 = time.perf_counter()
    fit()
    t1 = time.perf_counter()
    pred = predict()
    return pred, t1 - t0, time.perf_counter() - t1


def _score(data: Data, pred: np.ndarray) -> float:
    if data.task == "classification":
        return float(np.mean(pred == data.y_test))
    return float(np.sqrt(np.mean((pred - data.y_test) ** 2)))


def _linear(task: str) -> Any:
    return RidgeClassifierCV(alphas=ALPHAS) if task == "classification" else RidgeCV(alphas=ALPHAS)


def _levels(data: Data) -> tuple[int, int]:
    """(P, N): level 3 for one channel, 2 otherwise (the feature grows like ((P+1) m)^N)."""
    return 3, (3 if data.channels == 1 else 2)


def baseline(data: Data) -> Result:
    """Majority class (classification) or the training mean (regression): what no feature beats."""
    if data.task == "classification":
        values, counts = np.unique(data.y_train, return_counts=True)
        pred = np.full(len(data.y_test), values[np.argmax(counts)])
        return Result("baseline: majority class", _score(data, pred), None, 0.0, 0.0, 0)
    pred = np.full(len(data.y_test), float(np.mean(data.y_train)))
    return Result("baseline: training mean", _score(data, pred), None, 0.0, 0.0, 0)


def response_features(data: Data) -> Result:
    P, N = _levels(data)
    model = make_pipeline(
        ResponseFeatures(degree=P, level=N, input_scaling="standard", feature_scaling="standard"), _linear(data.task)
    )
    pred, fit_s, pred_s = _timed(lambda: model.fit(data.train, data.y_train), lambda: model.predict(data.test))
    size = model[0].n_features_out_
    return Result(f"response features + ridge (P={P}, N={N})", _score(data, pred), None, fit_s, pred_s, size)


def response_features_cv(data: Data) -> Result:
    grid = {"responsefeatures__degree": [1, 3, 6], "responsefeatures__level": [2, 3]}
    if data.channels > 1:
        grid = {"responsefeatures__degree": [1, 3], "responsefeatures__level": [2]}
    pipe = make_pipeline(ResponseFeatures(input_scaling="standard", feature_scaling="standard"), _linear(data.task))
    model = GridSearchCV(pipe, grid, cv=3)
    pred, fit_s, pred_s = _timed(lambda: model.fit(data.train, data.y_train), lambda: model.predict(data.test))
    best = model.best_estimator_[0]
    label = f"response features + ridge, (P, N) by CV -> ({best.degree}, {best.level})"
    return Result(label, _score(data, pred), None, fit_s, pred_s, best.n_features_out_)


def response_kernel(data: Data) -> Result:
    P, N = _levels(data)
    kern = ResponseKernel(degree=P, level=N, input_scaling="standard")
    if data.task == "classification":
        model = GridSearchCV(make_pipeline(kern, SVC(kernel="precomputed")), {"svc__C": [0.1, 1.0, 10.0, 100.0]}, cv=3)
        label = "response kernel + SVC"
    else:
        model = GridSearchCV(
            make_pipeline(kern, KernelRidge(kernel="precomputed")),
            {"kernelridge__alpha": [1e-2, 1e-1, 1.0, 10.0, 100.0]},
            cv=3,
        )
        label = "response kernel + kernel ridge"
    pred, fit_s, pred_s = _timed(lambda: model.fit(data.train, data.y_train), lambda: model.predict(data.test))
    return Result(f"{label} (P={P}, N={N})", _score(data, pred), None, fit_s, pred_s, "Gram")


RATES = {
    2: [R(1, 2), 2],
    4: [R(1, 2), 1, 2, 3],
    8: [R(1, 2), R(3, 4), 1, R(3, 2), 2, R(5, 2), 3, R(7, 2)],
}


def srnn_network(m: int, units: int = 4) -> vs.Diffusion:
    """A fixed linear SRNN: distinct rates in [1/2, 7/2], a feed-forward chain, m inputs (exact kernels)."""
    W = [[0] * units for _ in range(units)]
    for i in range(1, units):
        W[i][i - 1] = R(1, 2) if i % 2 else R(-1, 2)
    if units >= 4:
        W[3][0] = R(1, 4)
    rng = np.random.default_rng(7)
    C = [[R(int(x), 2) for x in row] for row in rng.choice([-2, -1, 1, 2], size=(units, m))]
    return vs.SRNN(Gamma=np.diag(RATES[units]).tolist(), W=W, C=C, sigma=R(1, 2), readout="h1")


def srnn_dictionary(units: int) -> list[str]:
    """{h_i} and {h_i h_j, i <= j}: J = n + n (n + 1) / 2 readout functions."""
    return [f"h{i}" for i in range(1, units + 1)] + [
        f"h{i}*h{j}" for i in range(1, units + 1) for j in range(i, units + 1)
    ]


SRNN_DICTIONARY = srnn_dictionary(4)


def srnn_readout(data: Data, units: int = 4) -> Result:
    degree = 12 if data.channels == 1 else 8  # coefficient cost grows like m^2 (level 2)
    dictionary = srnn_dictionary(units)
    train, test = _standardise(data.train, data.test)
    longest = max(len(g) for g, _ in train) if isinstance(train, list) else train.shape[1]
    scale = 1.0 / (longest - 1)  # the longest series spans [0, 1] in the network's time (rates 1/2..3)
    t = None if isinstance(train, list) else np.arange(train.shape[1]) * scale

    def rescale(X: Any) -> Any:
        return X if not isinstance(X, list) else [((g - g[0]) * scale, u) for g, u in X]

    reg = ReadoutRegression(srnn_network(data.channels, units), dictionary, order=2, t=t, feature_degree=degree)
    head = make_pipeline(StandardScaler(), _linear(data.task))  # z-scored G, as the response features are
    holder: dict[str, np.ndarray] = {}

    def fit() -> None:
        reg.prepare()  # derive the dictionary's kernels; G = E f_j(h_T; u) is then the design matrix
        holder["G"] = reg.expected_outputs(rescale(train))
        head.fit(holder["G"], data.y_train)

    pred, fit_s, pred_s = _timed(fit, lambda: head.predict(reg.expected_outputs(rescale(test))))
    J = len(dictionary)
    label = f"SRNN readout (no simulation), {units} units, J={J}, via P={degree}"
    return Result(label, _score(data, pred), None, fit_s, pred_s, J)


def own_signature(data: Data) -> Result:
    def augment(X: Any) -> Any:
        if isinstance(X, np.ndarray):
            return np.concatenate([X, np.ones((*X.shape[:2], 1))], axis=2)
        return [(g, np.hstack([u, np.ones((len(u), 1))])) for g, u in X]

    level = 4 if data.channels == 1 else 2
    model = make_pipeline(
        ResponseFeatures(degree=0, level=level, input_scaling="standard", feature_scaling="standard"),
        _linear(data.task),
    )
    train, test = _standardise(data.train, data.test)
    pred, fit_s, pred_s = _timed(lambda: model.fit(augment(train), data.y_train), lambda: model.predict(augment(test)))
    return Result(
        f"signature (t, int u), own code (level {level})",
        _score(data, pred),
        None,
        fit_s,
        pred_s,
        model[0].n_features_out_,
    )


def _aeon_input(X: Any, length: int) -> np.ndarray:
    """(n, m, L) for aeon; unequal-length series are padded with their last value to ``length``."""
    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(X.transpose(0, 2, 1))
    return np.stack([np.pad(u, ((0, length - len(u)), (0, 0)), mode="edge").T for _, u in X])


def aeon_signature(data: Data) -> Result:
    try:
        if data.task == "classification":
            from aeon.classification.feature_based import SignatureClassifier

            model = SignatureClassifier(random_state=0)
            label = "aeon SignatureClassifier (default)"
        else:
            from aeon.transformations.collection.signature_based import SignatureTransformer

            model = make_pipeline(SignatureTransformer(), StandardScaler(), RidgeCV(alphas=ALPHAS))
            label = "aeon SignatureTransformer + scaler + RidgeCV"
        longest = 0 if isinstance(data.train, np.ndarray) else max(len(g) for g, _ in data.train + data.test)
        Xtr, Xte = _aeon_input(data.train, longest), _aeon_input(data.test, longest)
        if longest:
            label += " (series padded with their last value)"
        pred, fit_s, pred_s = _timed(lambda: model.fit(Xtr, data.y_train), lambda: model.predict(Xte))
    except Exception as exc:  # an aeon limitation is a result too
        return Result("aeon signature", float("nan"), None, 0.0, 0.0, "-", f"failed: {type(exc).__name__}: {exc}"[:90])
    return Result(label, _score(data, pred), None, fit_s, pred_s, "-")


def esn(data: Data, units: int, seeds: int) -> Result:
    from reservoirpy.nodes import Reservoir

    units = min(units, 2000)
    train, test = _standardise(data.train, data.test)
    tr_list, te_list = _as_list(train), _as_list(test)
    scores, fits, preds = [], [], []
    for seed in range(seeds):

        def states(X: list[np.ndarray], lr: float, seed: int = seed) -> np.ndarray:
            res = Reservoir(units=units, sr=0.9, lr=lr, input_scaling=1.0, seed=seed)
            out = res.run(X if len({len(x) for x in X}) > 1 else np.stack(X))
            return np.stack([s[-1] for s in out])

        t0 = time.perf_counter()
        best = None
        for lr in (0.05, 0.2, 0.5, 1.0):
            S = states(tr_list, lr)
            cv = float(np.mean(cross_val_score(_linear(data.task), S, data.y_train, cv=3)))
            if best is None or cv > best[0]:
                best = (cv, lr, S)
        assert best is not None
        head = _linear(data.task).fit(best[2], data.y_train)
        t1 = time.perf_counter()
        pred = head.predict(states(te_list, best[1]))
        preds.append(time.perf_counter() - t1)
        fits.append(t1 - t0)
        scores.append(_score(data, pred))
    sd = statistics.stdev(scores) if len(scores) > 1 else None
    return Result(
        f"ESN (reservoirpy), {units} units",
        statistics.mean(scores),
        sd,
        statistics.mean(fits),
        statistics.mean(preds),
        units,
    )


# --------------------------------------------------------------------------- readout vs Monte Carlo


def readout_convergence(paths_list: list[int], batches: int = 10) -> str:
    """The readout trained without simulation vs the same readout trained on simulated means.

    The 2-unit linear SRNN of docs/kernel_machine.md, dictionary (h1, h2, h1^2, h1 h2), 12 random
    inputs on [0, 2], ridge alpha = 1e-3; Monte Carlo with exact Gaussian transitions, so the gap is
    Monte Carlo error only and must shrink like 1/sqrt(paths).
    """
    from volterra_sym.learn import compare_with_simulation

    t = np.linspace(0, 2, 41)
    rng = np.random.default_rng(5)
    freq, phase, amp = rng.uniform(0.5, 4, (12, 3)), rng.uniform(0, 2 * np.pi, (12, 3)), rng.normal(0, 0.5, (12, 3))
    U = np.einsum("bj,bjt->bt", amp, np.sin(freq[:, :, None] * t + phase[:, :, None]))[:, :, None]
    y = np.sin(2 * U[:, -1, 0]) + 0.3 * U[:, :, 0].mean(axis=1)
    W = [[0, R(-1, 2)], [R(1, 2), 0]]
    net = vs.SRNN(Gamma=1, W=W, b=[R(1, 5), 0], C=[[1], [R(1, 2)]], sigma=R(1, 2), readout="h1")
    t0 = time.perf_counter()
    est = ReadoutRegression(net, ["h1", "h2", "h1**2", "h1*h2"], order=2, alpha=1e-3, t=t).fit(U, y)
    fit_s = time.perf_counter() - t0
    lines = [
        f"Readout trained without simulation: w = {np.round(est.coef_, 4).tolist()} (fit {fit_s:.2f} s)\n",
        "| paths (total) | max abs gap w | its SE | max abs z (w) | max abs gap E y | its SE (median) "
        "| max abs z (E y) | simulate (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for paths in paths_list:
        t0 = time.perf_counter()
        gap = compare_with_simulation(est, U, y, paths=paths, batches=batches, seed=paths)
        sim_s = time.perf_counter() - t0
        dw = np.abs(gap.coef_simulated - gap.coef_series)
        dy = np.abs(gap.output_simulated - gap.output_series)
        lines.append(
            f"| {paths * batches} | {dw.max():.3g} | {gap.coef_stderr[np.argmax(dw)]:.2g} | {np.abs(gap.z).max():.2f} "
            f"| {dy.max():.3g} | {np.median(gap.output_stderr):.2g} | {np.abs(gap.output_z).max():.2f} | {sim_s:.1f} |"
        )
        print(lines[-1], file=sys.stderr)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- report


def run(names: list[str], seeds: int) -> str:
    lines = []
    for name in names:
        data = load(name)
        n_tr = len(data.y_train)
        n_te = len(data.y_test)
        metric = "accuracy" if data.task == "classification" else "RMSE (lower is better)"
        classes = f", {len(set(data.y_train))} classes" if data.task == "classification" else ""
        print(
            f"{name}: {n_tr} train / {n_te} test, {data.channels} channel(s), length {data.length}{classes}",
            file=sys.stderr,
        )
        results = [
            response_features(data),
            response_features_cv(data),
            response_kernel(data),
            srnn_readout(data),
            own_signature(data),
            aeon_signature(data),
        ]
        results.append(esn(data, int(results[0].features), seeds))
        results.append(baseline(data))
        lines.append(
            f"\n### {name} ({data.task}; {n_tr} train / {n_te} test; m = {data.channels}; "
            f"length {data.length}{classes})\n"
        )
        lines.append(f"| method | {metric} | fit (s) | predict (s) | features |")
        lines.append("| --- | --- | --- | --- | --- |")
        for r in results:
            score = "" if np.isnan(r.score) else f"{r.score:.3f}" + (f" ± {r.score_sd:.3f}" if r.score_sd else "")
            note = (" " if score else "") + r.note if r.note else ""
            lines.append(f"| {r.method} | {score}{note} | {r.fit_s:.2f} | {r.predict_s:.2f} | {r.features} |")
        print("\n".join(lines[-len(results) - 3 :]), file=sys.stderr)
    return "\n".join(lines) + "\n"


def srnn_sizes(names: list[str]) -> str:
    """Readout of SRNNs of 2, 4, 8 units (J = 5, 14, 44) against the response kernel machine.

    (16 units, J = 152, is beyond the exact derivation's budget here: > 10 min of SymPy per data set.)
    """
    lines = [
        "| data set | SRNN 2 units (J=5) | 4 units (J=14) | 8 units (J=44) | response features + ridge (P=3, N=3) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name in names:
        data = load(name)
        cells = [f"{srnn_readout(data, units).score:.3f}" for units in (2, 4, 8)]
        cells.append(f"{response_features(data).score:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smallest", action="store_true", help="UnitTest only, one ESN seed (a few seconds)")
    parser.add_argument("--datasets", nargs="*", default=None, help="names (default: all bundled sets used here)")
    parser.add_argument("--seeds", type=int, default=3, help="ESN reservoirs per data set")
    parser.add_argument("--out", type=Path, default=None, help="write the Markdown table here")
    parser.add_argument(
        "--readout", action="store_true", help="only the readout-vs-Monte-Carlo convergence table (no aeon needed)"
    )
    parser.add_argument("--srnn-sizes", action="store_true", help="SRNN readouts of 2, 4, 8 units")
    args = parser.parse_args(argv)
    if args.srnn_sizes:
        table = srnn_sizes(args.datasets or ["UnitTest", "ItalyPowerDemand", "GunPoint", "ArrowHead", "Covid3Month"])
        print(table)
        if args.out:
            args.out.write_text(table)
        return 0
    if args.readout:
        table = readout_convergence([25, 100, 400, 1600] if not args.smallest else [25, 100])
        print(table)
        if args.out:
            args.out.write_text(table)
        return 0
    try:
        import aeon  # noqa: F401
        import reservoirpy  # noqa: F401
    except ImportError as exc:
        print(
            f"bench_learn needs aeon and reservoirpy ({exc}): pip install 'volterra_sym[learn,bench]'", file=sys.stderr
        )
        return 2
    everything = [
        "UnitTest",
        "ItalyPowerDemand",
        "GunPoint",
        "ArrowHead",
        "BasicMotions",
        "JapaneseVowels",
        "Covid3Month",
    ]
    names = ["UnitTest"] if args.smallest else (args.datasets or everything)
    seeds = 1 if args.smallest else args.seeds
    start = time.perf_counter()
    table = run(names, seeds)
    table += f"\nTotal wall time {time.perf_counter() - start:.1f} s on {os.cpu_count()} cores.\n"
    print(table)
    if args.out:
        args.out.write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Guards on inputs: a bad value is refused with a project error naming it, never a wrong number.

Complex entries, overflowing numbers, ragged or mistyped collections, non-finite results: each is an
error of the argument that caused it (class from volterra_sym.errors), before any work.  Regrouped
from issue 14's hardening tests; the rows of issues 23 and 24 follow, one per cause.  Trusts: the
public API and the CLI entry point.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from models import OU1, learn_module

import volterra_sym as vs
from volterra_sym.errors import ReadoutError

ROOT = Path(__file__).resolve().parents[1]

H1, H2, H3 = sp.symbols("h1 h2 h3")

OU = vs.OU(1.0, 1.0, 0.5, readout="h1**2")

T = np.linspace(0, 1, 11)

U = np.sin(T)

COMPLEX_ENTRIES = [
    ("A", lambda: vs.OU(np.array([[1 + 1j]]), 1, 1, readout="h1")),
    ("A", lambda: vs.OU(1 + 1j, 1, 1, readout="h1")),
    ("A", lambda: vs.OU(sp.I + 1, 1, 1, readout="h1")),
    ("A", lambda: vs.OU(np.complex128(2.0), 1, 1, readout="h1")),  # complex dtype, zero imaginary part
    ("c", lambda: vs.OU(1, 1, 1, c=[0.5j], readout="h1")),
    ("C", lambda: vs.OU(1, np.array([1j]), 1, readout="h1")),
    ("sigma", lambda: vs.OU(1, 1, 1 + 2j, readout="h1")),
    ("diffusion", lambda: vs.Diffusion(["h"], "-h", [[2j]], 1, "h")),
    ("readout", lambda: vs.OU(1, 1, 1, readout=sp.sqrt(-2) * H1)),
    ("readout", lambda: vs.OU(1, 1, 1, readout=[H1, sp.I * H1])),
    ("Gamma", lambda: vs.SRNN(np.eye(2) * (1 + 1j), np.eye(2), C=[1, 1], sigma=1, readout="h1")),
    ("W", lambda: vs.SRNN(1, [[0.5, 1j], [0, 0.5]], C=[1, 1], sigma=1, readout="h1")),
    ("b", lambda: vs.SRNN(1, 0.5, b=[1j], C=1, sigma=1, readout="h1")),
    ("params[a]", lambda: vs.OU("a", 1, 1, readout="h1", params={"a": 1 + 2j})),
    ("params[a]", lambda: vs.OU("a", 1, 1, readout="h1", params={"a": np.complex64(1j)})),
    ("params[a]", lambda: vs.OU("a", 1, 1, readout="h1", params={"a": sp.sqrt(-1)})),
    ("PointMass(x0)", lambda: vs.PointMass([1j])),
    ("Gaussian(mean)", lambda: vs.Gaussian([sp.I], [[1]])),
    ("Gaussian(cov)", lambda: vs.Gaussian([0], np.array([[1 + 0j]]))),
    ("drift", lambda: vs.Diffusion(["h"], [sp.exp(sp.I * sp.pi / 3) * sp.Symbol("h")], 1, 1, "h")),
    ("drift", lambda: vs.Diffusion(["h"], [(-8) ** sp.Rational(1, 3) * sp.Symbol("h")], 1, 1, "h")),
]

HUGE = "exp(exp(exp(exp(1000))))"

SEED_SCRIPT = f"""
import volterra_sym as vs
from volterra_sym.errors import ReadoutError
text = '''
[model]
kind = "OU"
A = 1
C = 1
sigma = 1
readout = "{HUGE}*h1"
'''
try:
    vs.derive(vs.loads_model(text, "m.toml"), 1)
    print("no error")
except Exception as exc:
    print(type(exc).__name__, exc)
for value in ("{HUGE}",):
    try:
        vs.OU("a", 1, 1, readout="h1", params={{"a": vs.parse_expr(value)}})
        print("no error")
    except Exception as exc:
        print(type(exc).__name__, exc)
"""


@pytest.mark.parametrize(
    "argument, call", COMPLEX_ENTRIES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(COMPLEX_ENTRIES)]
)
def test_complex_entries_are_refused_naming_the_argument(argument, call, fast):
    message = fast(call, vs.ModelError)
    assert message.startswith(argument), message
    assert "complex" in message


def test_complex_strings_are_refused_by_the_parser():
    for text in ("(-8)**(1/3)*h1", "sqrt(-1)*h1", "log(-1)*h1"):
        with pytest.raises(vs.ExpressionError, match="complex|imaginary"):
            vs.OU(1, 1, 1, readout=text)


def test_complex_kernel_no_longer_loses_its_imaginary_part():
    # issue: kernel(1) of OU(1+1j) returned only the real part of exp(-(1+i) tau); now the model is refused
    with pytest.raises(vs.ModelError, match="complex"):
        vs.derive(vs.OU(np.array([[1 + 1j]]), 1, 1, readout="h1"), 1)


def test_real_entries_still_accepted():
    m = vs.OU(np.array([[1.0]]), np.array([1.0]), 1, readout="h1", params=None)
    assert m.drift[0] == -H1  # the decimal typed, exact (issue 19 item 6), as in model files
    # a real value written with complex intermediates stays real
    assert vs.OU(sp.exp(sp.I * sp.pi), 1, 1, readout="h1").drift[0] == H1


# --------------------------------------------------------------------------- raw tracebacks


def test_predict_with_overflowing_eps_is_an_input_error(fast):
    resp = vs.derive(OU)
    message = fast(lambda: resp.predict(U, T, eps=1e300), vs.InputError)
    assert message.startswith("eps") and "overflow" in message
    taylor = vs.derive(vs.SRNN(1, 0.5, C=1, sigma=1, activation="tanh", readout="h1",
                               initial=vs.PointMass([0.0])), 3, method="taylor", lag_degree=2)  # fmt: skip
    assert fast(lambda: taylor.predict(U, T, eps=1e150), vs.InputError).startswith("eps")
    assert np.all(np.isfinite(resp.predict(U, T, eps=1e100)))  # eps**2 = 1e200 is still a float


@pytest.mark.slow  # subprocesses at several hash seeds (CI runs it)
def test_overflowing_numbers_fail_the_same_way_at_every_hash_seed():
    outputs = []
    for seed in ("0", "12345"):
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=str(ROOT))
        run = subprocess.run([sys.executable, "-c", SEED_SCRIPT], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        outputs.append(run.stdout)
    assert outputs[0] == outputs[1]
    assert outputs[0].startswith("ExpressionError") and "float64" in outputs[0]
    assert "Overflow" not in outputs[0]


def test_overflowing_parameter_values_are_model_errors(fast):
    big = sp.exp(sp.exp(sp.exp(sp.exp(1000))))
    for call in (
        lambda: vs.OU("a", 1, 1, readout="h1", params={"a": big}),
        lambda: vs.OU(big, 1, 1, readout="h1"),
        lambda: vs.OU(1, 1, 1, readout=big * H1),
    ):
        assert "float64" in fast(call, vs.ModelError)


def test_oracle_overflow_is_an_error_not_inf(fast):
    model = vs.OU(1.0, 1.0, 0.5, readout="h1**2")
    assert fast(lambda: vs.gaussian_oracle(model, np.ones(11), T, eps=1e300), vs.InputError).startswith("t")


def test_complex_inputs_to_features_and_expectations_are_refused(fast):
    assert fast(lambda: vs.response_feature(np.sin(T) * 1j, T, 1, 2), vs.InputError).startswith("u")
    assert fast(lambda: vs.response_feature(lambda s: 1j * s, T, 1, 2), vs.InputError).startswith("u")
    assert fast(lambda: vs.expectation(vs.OU(1, 1, 1, readout="h1"), sp.I * H1), vs.ArgumentError).startswith("g")


def test_complex_times_and_lags_are_refused_not_truncated():
    """NumPy's float conversion drops imaginary parts of complex arrays silently: every entry refuses them."""
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"))
    z = np.array([0.0, 0.5 + 0.1j, 1.0])
    for call, word in (
        (lambda: resp.predict(np.ones(3), z), "t"),
        (lambda: vs.simulate(OU, None, z, 10), "t"),
        (lambda: resp.kernel_values(1, 0, [0.5j]), "lags"),
        (lambda: resp.symmetric_kernel(2)(z, z), "theta"),
        (lambda: resp.lower("mpmath").kernel(1, (0,))(0.5j), "lags"),
        (lambda: vs.response_feature(np.ones(3), z, 1, 2), "t"),
    ):
        with pytest.raises(ValueError) as info:  # VolterraError is a ValueError (the generated module's too)
            call()
        assert "complex" in str(info.value) and str(info.value).startswith(word)
    with pytest.raises(ValueError, match="complex"):
        resp.lower().kernel(1, (0,))(np.array([0.5j]))


def test_verify_unknown_option_is_an_argument_error_not_a_type_error(fast):
    message = fast(lambda: vs.verify(OU, U, T, pathz=200), vs.ArgumentError)
    assert message.startswith("pathz") and "'paths'" in message


# --------------------------------------------------------------------------- issues 23 and 24: one row per cause


def test_ragged_lag_lists_are_input_errors():
    """Issue 24: check_lag_array inspected the array before its try block (NumPy's inhomogeneous-shape error)."""
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"), 2)
    model = OU1
    for call, name in (
        (lambda: resp.kernel_values(2, (0, 0), [[0.1, 0.2], [0.3]]), "lags"),
        (lambda: vs.estimate_kernels(model, lags={2: [[0, 0.5], [1]]}, paths=100), "lags[2]"),
        (lambda: resp.kernel_values(1, 0, [0.1, "a"]), "lags"),
    ):
        with pytest.raises(vs.InputError) as info:
            call()
        assert str(info.value).startswith(name + ":")


def test_ridge_readout_refuses_what_it_cannot_fit():
    """Issue 24: alpha=nan returned NaN weights silently, and a 1-D G raised IndexError."""
    learn = learn_module()
    G, y = np.eye(3), np.ones(3)
    for args, name in (((G, y, float("nan")), "alpha"), ((np.ones(3), y, 1.0), "G"), ((G, np.ones(2), 1.0), "y")):
        with pytest.raises(vs.VolterraError) as info:
            learn.ridge_readout(*args)
        assert str(info.value).startswith(name + ":")


@pytest.fixture(scope="module")
def readout_regression():
    learn = learn_module()
    model = OU1
    X = np.random.default_rng(1).normal(size=(6, 5))
    return learn, model, X, learn.ReadoutRegression(model, ["h1", "h1**2"], order=1).fit(X, X[:, -1])


@pytest.mark.parametrize(
    "change, argument",
    [
        ({"eps": "a"}, "eps"),
        ({"eps": float("inf")}, "eps"),
        ({"derive_options": {"order": 1}}, "derive_options"),
        ({"feature_degree": "a"}, "feature_degree"),
        ({"feature_degree": 2.7}, "feature_degree"),
        ({"alpha": float("nan")}, "alpha"),
        ({"fit_intercept": "yes"}, "fit_intercept"),
        ({"order": 10**6}, "order"),
    ],
)
def test_readout_regression_settings_are_checked_before_deriving(readout_regression, change, argument):
    """Issue 24: eps="a", derive_options={"order": 1} (order given twice), feature_degree="a" raised raw errors."""
    learn, model, X, _ = readout_regression
    est = learn.ReadoutRegression(model, ["h1"], order=1).set_params(**change)
    with pytest.raises(ReadoutError) as info:
        est.fit(X, X[:, -1])
    assert str(info.value).startswith(argument + ":")


@pytest.mark.parametrize(
    "X, y, argument",
    [
        ([["a", "b", "c"], ["d", "e", "f"]], [1.0, 2.0], "X[0]"),  # string samples
        ([(np.arange(3.0), np.ones(3), np.ones(3))], [1.0], "X[0]"),  # a 3-tuple sample
        ([(np.arange(3.0), ["a", "b", "c"])], [1.0], "X[0][1]"),
        (None, 1.0, "y"),  # fit(X, 1.0)
        (None, None, "y"),  # fit(X, None)
        (None, [1j] * 6, "y"),
    ],
)
def test_readout_regression_data_errors_name_the_argument(readout_regression, X, y, argument):
    """Issue 24: string samples, a 3-tuple sample, fit(X, 1.0) and fit(X, None) raised raw errors."""
    learn, model, X0, _ = readout_regression
    est = learn.ReadoutRegression(model, ["h1"], order=1)
    with pytest.raises(vs.InputError) as info:
        est.fit(X0 if X is None else X, y)
    assert str(info.value).startswith(argument + ":")


def test_kernel_machine_degree_and_level_are_checked(readout_regression):
    """Issue 24: kernel_machine("a") raised a raw TypeError."""
    fitted = readout_regression[3]
    for args, argument in ((("a",), "degree"), ((2.5,), "degree"), ((10**6,), "degree"), ((2, "x"), "level")):
        with pytest.raises(ReadoutError) as info:
            fitted.kernel_machine(*args)
        assert str(info.value).startswith(argument + ":")


def test_features_refuse_non_finite_results_naming_the_cause():
    """Issue 24: ResponseFeatures(time_scale=1e300) and inputs of size 1e200 gave NaN/inf with a NumPy warning."""
    learn = learn_module()
    X = np.random.default_rng(0).normal(size=(3, 5))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no NumPy RuntimeWarning on the way
        for est, data, argument in (
            (learn.ResponseFeatures(time_scale=1e300), X, "time_scale"),
            (learn.ResponseFeatures(), X * 1e200, "X"),
            (learn.ResponseKernel(time_scale=1e300, feature_scaling="none"), X, "time_scale"),
        ):
            with pytest.raises(vs.FeatureError) as info:
                est.fit_transform(data)
            assert str(info.value).startswith(argument + ":")


@pytest.mark.parametrize(
    "X, words, cls",
    [
        (np.ones((3, 4)) * 1j, "complex", ValueError),
        (1.0, "scalar", ValueError),
        (np.empty((0, 4)), "empty", ValueError),
        (np.array([["a", "b"], ["c", "d"]]), "strings", ValueError),
        (np.array([[{"a": 1}, 0.5]], dtype=object), "objects", TypeError),
    ],
)
def test_transformer_errors_name_what_was_wrong(X, words, cls):
    """Issue 23: bare scikit-learn errors for complex, scalar, empty or string X.  scikit-learn's classes and
    texts stay (check_estimator expects them); the message starts with X and says what was wrong."""
    learn = learn_module()
    for est in (learn.ResponseFeatures(), learn.ResponseKernel()):
        with pytest.raises(cls) as info:
            est.fit(X)
        assert str(info.value).startswith("X:") and words in str(info.value)


def test_galerkin_values_out_of_the_basis_reach_name_weight_or_initial():
    """Issue 24: weight=("gaussian", [0], [[1e300]]) or PointMass([1e200]) gave "zero-size array to reduction
    operation maximum" in the Galerkin error estimate."""
    for model, options, argument in (
        (vs.OU(1.0, 1.0, 0.5, readout="h1**3"), {"weight": ("gaussian", [0], [[1e300]])}, "weight"),
        (vs.OU(1.0, 1.0, 0.5, readout="h1**3", initial=vs.PointMass([1e200])), {}, "initial"),
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overflow inside the degenerate basis build
            with pytest.raises(vs.ArgumentError) as info:
                vs.derive(model, 1, method="galerkin", degree=4, **options).kernel_values(1, 0, [0.1])
        assert str(info.value).startswith(argument + ":") and "not finite" in str(info.value)


@pytest.mark.slow  # importing dask.distributed takes ~1.5 s
def test_dask_client_is_checked_once_before_any_work(monkeypatch):
    """Issues 23/24: client="nonsense" gave a clean error, then an "Exception ignored in Client.__del__" traceback
    and a 21 s exit; an unreachable address failed late.  Now: no Client is ever built for them."""
    distributed = pytest.importorskip("distributed")

    def no_client(*args, **kwargs):
        raise AssertionError("a Client was constructed for an address that cannot work")

    monkeypatch.setattr(distributed, "Client", no_client)
    model = OU1
    with pytest.raises(vs.ArgumentError, match="^client: 'nonsense'"):
        vs.estimate_kernels(model, lags={1: [0.0, 0.5]}, paths=100, client="nonsense")
    with pytest.raises(vs.SimulationError, match="^client: could not reach"):
        vs.simulate(model, np.zeros(3), np.linspace(0, 1, 3), 10, client="tcp://127.0.0.1:1")
    with pytest.raises(vs.ArgumentError, match="^client"):
        vs.verify(model, np.zeros(3), np.linspace(0, 1, 3), paths=100, client="tcp://host:notaport")


def test_standalone_modules_refuse_complex_lags_like_the_package(tmp_path):
    """Issue 23: generated modules raised a plain ValueError; now the package's class name and message."""
    import importlib.util

    resp = vs.derive(OU1, 1)
    path = resp.write_module(tmp_path / "kernels.py")
    spec = importlib.util.spec_from_file_location("kernels_guard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    kernel = next(iter(module.KERNELS.values()))
    with pytest.raises(ValueError) as generated:
        kernel(np.array([0.5j]))
    with pytest.raises(vs.InputError) as package:
        resp.kernel_values(1, 0, [0.5j])
    assert type(generated.value).__name__ == "InputError"
    assert str(generated.value).split(": ", 1)[1] == str(package.value).split(": ", 1)[1]


# --------------------------------------------------------------------------- models and derive requests
# (the former model-errors test file: bad input to models and derive() gives clear VolterraErrors)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: vs.OU([[1, 2, 3], [4, 5, 6]], [1, 0], 1, readout="h1"), "A"),
        (lambda: vs.OU([[1, 0], [0, 1]], [1, 0, 0], 1, readout="h1"), "C"),
        (lambda: vs.OU([[1, 0], [0, 1]], [1, 0], [[1, 0, 0]], readout="h1"), "diffusion"),
        (
            lambda: vs.SRNN([[1, 0], [0, 1]], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], None, [1, 0], 1, readout="h1"),
            "Gamma|W",
        ),
        (lambda: vs.SRNN(1, [[0.5, 0], [0, 0.5]], [0, 0, 0], [1, 0], 1, readout="h1"), "b"),
        (lambda: vs.OU(1, 1, 1, readout="h1 + q"), "readout"),
        (lambda: vs.OU(float("nan"), 1, 1, readout="h1"), "non-finite"),
        (lambda: vs.OU(1, math.inf, 1, readout="h1"), "non-finite"),
        (lambda: vs.OU(1, 1, 1, readout="__import__('os')"), "not allowed"),
        (lambda: vs.OU(1, 1, 1, readout="h1", initial="sideways"), "initial"),
        (lambda: vs.OU(1, 1, 1, readout="h1", initial=vs.PointMass([1, 2])), "dimension"),
        (lambda: vs.SRNN(1, 0.5, 0, 1, 1, activation="relu", readout="h1"), "activation"),
        (lambda: vs.OU(1, 1, 1), "readout"),
    ],
)
def test_model_construction_errors(build, match):
    with pytest.raises(vs.VolterraError, match=match):
        build()


def test_unstable_stationary_start():
    with pytest.raises(vs.UnstableError, match="PointMass"):
        vs.derive(vs.OU([[1, 0], [0, -0.5]], [1, 0], 1, readout="h1"))
    with pytest.raises(vs.UnstableError):
        vs.derive(vs.OU([[0]], [1], 1, readout="h1"))  # singular
    # an unstable model is fine from a point mass
    resp = vs.derive(vs.OU([[1, 0], [0, -0.5]], [1, 0], 1, readout="h1", initial=vs.PointMass([0, 0])))
    assert resp.order == 1


def test_symbolic_stability_checked_against_given_values():
    a = sp.Symbol("a")
    with pytest.raises(vs.UnstableError):
        vs.derive(vs.OU(a, 1, 1, readout="h1", params={"a": -1}))


@pytest.mark.parametrize("order", [0, -1, 1.5, "2", True])
def test_bad_order(order):
    with pytest.raises(vs.VolterraError, match="order"):
        vs.derive(vs.OU(1, 1, 1, readout="h1"), order=order)


def test_nonpolynomial_readout_needs_taylor_route():
    with pytest.raises(vs.NotLinearError, match="polynomial"):
        vs.derive(vs.OU(1, 1, 1, readout="tanh(h1)"))


def test_nonlinear_drift_points_to_taylor_route():
    with pytest.raises(vs.NotLinearError, match="taylor"):
        vs.derive(vs.SRNN(1, 0.5, 0, 1, 1, activation="tanh", readout="h1"))
    h = sp.Symbol("h1")
    with pytest.raises(vs.NotLinearError, match="noise"):
        vs.derive(vs.Diffusion([h], [-h], [[1 + h**2]], [[1]], h))


def test_bad_method_and_kernel_requests():
    resp = vs.derive(vs.OU([[1, 0], [0, 2]], [[1, 0], [0, 1]], 1, readout="h1*h2"))
    with pytest.raises(vs.VolterraError, match="k"):
        resp.kernel(1)
    with pytest.raises(vs.VolterraError, match="k"):
        resp.kernel(2, (0, 5))
    with pytest.raises(vs.VolterraError, match="n"):
        resp.kernel(3, (0, 0, 0))
    with pytest.raises(vs.VolterraError, match="method"):
        vs.derive(vs.OU(1, 1, 1, readout="h1"), method="magic")


def test_exact_numbers_stay_exact():
    resp = vs.derive(vs.OU(sp.Rational(1, 2), 1, sp.Rational(1, 3), readout="h1**2"))
    assert resp.mean0 == sp.Rational(1, 9)  # S_inf = (1/9)/(2*(1/2))
    assert all(isinstance(x, sp.Rational) for x in resp.kernel(1).atoms(sp.Number))
    assert resp.order == 2 and resp.kernel(2).has(sp.exp)


def test_declared_symbolic_parameter_only_in_readout():
    k = sp.Symbol("k")
    model = vs.OU(1, 1, 1, readout=k * sp.Symbol("h1") ** 2, params={"k": None})
    resp = vs.derive(model)
    assert resp.kernel(2).has(k)
    with pytest.raises(vs.VolterraError, match="params"):
        model.with_values()
    with pytest.raises(vs.ModelError, match="readout"):
        vs.OU(1, 1, 1, readout="k*h1")


def test_symbolic_kernels_singular_at_the_given_values_are_refused():
    a, b, d = sp.symbols("a b d")
    model = vs.OU([[a, b], [0, d]], [0, 1], 0.5, readout="h1**2", params={"a": 1, "b": 1, "d": 1})
    resp = vs.derive(model)
    with pytest.raises(vs.VolterraError, match="singular.*with_values"):
        resp.predict(np.ones(11), np.linspace(0, 1, 11))
    with pytest.raises(vs.VolterraError, match="singular"):
        resp.lower()
    # the numeric derivation finds the Jordan form and agrees with the Gaussian law
    t = np.linspace(0, 1, 201)
    got = vs.derive(model.with_values()).predict(np.ones(201), t)
    assert np.max(np.abs(got - vs.gaussian_oracle(model.with_values(), np.ones(201), t))) < 1e-10


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda r, t: r.lower(max_lag=-1), "max_lag"),
        (lambda r, t: r.lower(max_lag="x"), "max_lag"),
        (lambda r, t: r.predict(np.ones(11), t, by_order="yes"), "by_order"),
        (lambda r, t: r.kernel_taylor(1, 0, ("a",)), "p:"),
        (lambda r, t: r.write_latex("/tmp"), "folder"),
        (lambda r, t: r.fdt_kernel(3), "k:"),
        (lambda r, t: r.mean0_form(5), "component"),
        (lambda r, t: vs.volterra_quadrature([1, 2], np.ones(11), t), "mapping"),
        (lambda r, t: vs.Gaussian([0], [[-1]]), "positive semi-definite"),
    ],
)
def test_bad_arguments_to_response_methods(call, match):
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, c=0.2, readout="h1**2"))
    with pytest.raises(vs.VolterraError, match=match):
        call(resp, np.linspace(0, 1, 11))


# --------------------------------------------------------------------------- issue 19, item 5


def test_unstable_model_is_blamed_on_the_dynamics_not_the_galerkin_weight():
    unstable = vs.SRNN(-0.5, [[0.4, -1.0], [0.9, 0.2]], [0.1, -0.2], [1, 0.5], 0.5, activation="tanh", readout="h1")
    with pytest.raises(vs.UnstableError, match=r"^model: the unperturbed dynamics diverges") as info:
        vs.derive(unstable, 1, method="galerkin", degree=4)
    assert "no stationary law" in str(info.value) and "degree" not in str(info.value)


def test_a_flat_noise_vector_is_refused_with_both_meanings():
    with pytest.raises(vs.ModelError, match=r"^sigma: received a flat sequence of 2 amplitudes .* np\.diag"):
        vs.SRNN(1.0, [[0.4, -1.0], [0.9, 0.2]], None, [1, 0.5], [0.5, 0.3], readout="h1")
    with pytest.raises(vs.ModelError, match=r"^sigma: received a flat sequence"):
        vs.OU([[1.0, 0.0], [0.0, 1.0]], [1, 0.5], np.array([0.5, 0.3]), readout="h1")
    with pytest.raises(vs.ModelError, match=r"^diffusion: received a flat sequence"):
        vs.Diffusion(["x", "y"], ["-x", "-y"], [0.5, 0.3], [[1], [0]], "x")
    assert vs.SRNN(1.0, 0.5, None, 1.0, [0.5], readout="h1").r == 1  # 1-D: no ambiguity


def test_describe_prints_numpy_scalars_as_numbers():
    from volterra_sym.errors import describe

    assert describe(np.float64(0.015)) == "0.015 (type float64)"
    assert describe(np.int64(3)) == "3 (type int64)"

"""Guards on inputs: a bad value is refused with a project error naming it, never a wrong number.

Complex entries, overflowing numbers, ragged or mistyped collections, non-finite results: each is an
error of the argument that caused it (class from volterra_sym.errors), before any work.  Regrouped
from issue 14's hardening tests; the rows of issues 23 and 24 follow, one per cause.  Trusts: the
public API and the CLI entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs

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
    assert m.drift[0] == -1.0 * H1
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

"""Issue 14 (second hardening pass): nothing wrong, nothing hung, nothing raw.

Each test names its defect class; the examples of the issue come first, then members of
the class found while fixing it.  Limits come from ``vs.limits`` (docs/api.md, "Limits"), so
the tests follow them if they change.  Trusts: the public API, the CLI entry point, and for the
Taylor horizon the generator route (which shares no code with the Taylor kernels).
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import volterra_sym as vs
from volterra_sym import limits
from volterra_sym.cli import main
from volterra_sym.modelfile import loads_model, loads_run

ROOT = Path(__file__).resolve().parents[1]
H1, H2, H3 = sp.symbols("h1 h2 h3")
OU = vs.OU(1.0, 1.0, 0.5, readout="h1**2")
T = np.linspace(0, 1, 11)
U = np.sin(T)


def _fast(call, cls=vs.VolterraError):
    """``call`` must raise ``cls`` up front, before the work: the Python heap it allocates stays small
    (tracemalloc; the refused requests would need gigabytes or run for minutes); returns the message."""
    tracemalloc.start()
    try:
        with pytest.raises(cls) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"the refusal must come before the work (peak {peak / 2**20:.0f} MiB)"
    message = str(info.value)
    assert "\n" not in message and len(message) <= 1000
    return message


def _cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------- wrong numbers: complex models

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


@pytest.mark.parametrize(
    "argument, call", COMPLEX_ENTRIES, ids=[f"{a}-{i}" for i, (a, _) in enumerate(COMPLEX_ENTRIES)]
)
def test_complex_entries_are_refused_naming_the_argument(argument, call):
    message = _fast(call, vs.ModelError)
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


# --------------------------------------------------------------------------- wrong verdicts: verify


def _wrong_response():
    return vs.derive(vs.OU(2.0, 1.0, 0.5, readout="h1**2"))


def test_verify_with_one_path_cannot_pass():
    resp = vs.derive(OU)
    for paths in (1, 2, limits.MIN_VERIFY_PATHS - 1):
        message = _fast(lambda n=paths: vs.verify(OU, U, T, paths=n, response=resp), vs.ArgumentError)
        assert message.startswith("paths") and str(limits.MIN_VERIFY_PATHS) in message


def test_verify_refuses_a_response_of_another_model():
    message = _fast(lambda: vs.verify(OU, U, T, paths=200, response=_wrong_response()), vs.ModelError)
    assert message.startswith("response") and "drift" in message


def test_verify_compares_models_after_substituting_parameter_values():
    sym = vs.OU("a", 1.0, 0.5, readout="h1**2", params={"a": 1.0})
    other = vs.OU("a", 1.0, 0.5, readout="h1**2", params={"a": 2.0})
    with pytest.raises(vs.ModelError, match="response"):
        vs.verify(sym, U, T, paths=200, response=vs.derive(other))
    # the same model with its values substituted is the same model
    report = vs.verify(sym, U, T, paths=200, seed=1, response=vs.derive(sym.with_values()))
    assert report.paths == 200
    # a different initial law is a different model
    with pytest.raises(vs.ModelError, match="initial"):
        vs.verify(OU, U, T, paths=200, response=vs.derive(OU.replace(initial=vs.PointMass([0.0]))))


def test_verify_minimum_paths_is_shared_with_the_cli(capsys, tmp_path):
    code, _, err = _cli(capsys, "verify", str(ROOT / "examples/ou1d_cubic.toml"), "--paths", "1")
    assert code == 2 and "--paths" in err and str(limits.MIN_VERIFY_PATHS) in err


# --------------------------------------------------------------------------- wrong verdicts: Taylor horizon


def test_taylor_horizon_warning_is_not_later_than_the_true_horizon():
    """Issue example: double well, f = h, lag_degree 10, t in [0, 6]; the warning said 3.95, the true 1%
    horizon was 0.51.  The truth here: the generator route (no code shared with the Taylor kernels)."""
    model = vs.Diffusion(["h"], "h - h**3", 0.8, 1, "h")
    t = np.linspace(0, 6, 601)
    u = np.ones_like(t)
    taylor = vs.derive(model, 1, method="taylor", lag_degree=10)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        parts = taylor.predict(u, t, eps=0.1, by_order=True)
    messages = [str(w.message) for w in caught if issubclass(w.category, vs.TruncationWarning)]
    assert len(messages) == 1
    warned = float(re.search(r"beyond t ~ ([0-9.e+-]+)", messages[0]).group(1))
    truth = vs.derive(model, 1, method="generator").predict(u, t, eps=0.1, by_order=True)
    response_taylor, response_truth = parts[1:].sum(axis=0), truth[1:].sum(axis=0)
    scale = np.maximum.accumulate(np.abs(response_truth))
    bad = np.abs(response_taylor - response_truth) > limits_tolerance() * scale
    true_horizon = t[np.argmax(bad)]
    assert bad.any() and warned <= true_horizon, (warned, true_horizon)


def limits_tolerance() -> float:
    from volterra_sym.routes.taylor import HORIZON_TOLERANCE

    return HORIZON_TOLERANCE


# --------------------------------------------------------------------------- hangs: polynomial size


@pytest.mark.parametrize(
    "readout, n",
    [
        ("h1**1000", 1),
        ("(1+h1)**1000", 1),
        ("(h1**1000)**1000", 1),
        ("(h1+h2)**1000", 2),
        ("(h1**60)*(h1**60)", 1),
    ],
)
def test_large_powers_in_strings_are_refused_up_front(readout, n):
    message = _fast(lambda: vs.OU(np.eye(n), [1] * n, 1, readout=readout), vs.ExpressionError)
    assert str(limits.MAX_DEGREE) in message


@pytest.mark.parametrize(
    "readout, n, word",
    [
        (H1**1000, 1, "MAX_DEGREE"),  # built in SymPy: no parser involved
        ((1 + H1) ** 200, 1, "MAX_DEGREE"),
        ((H1 + H2) ** 1000, 2, "MAX_DEGREE"),
        ((1 + H1 + H2 + H3) ** 60, 3, "MAX_TERMS"),
        (sp.tanh((H1 + H2) ** 150), 2, "MAX_DEGREE"),
    ],
)
@pytest.mark.parametrize("method", ["exact", "taylor"])
def test_large_polynomials_are_refused_by_derive(readout, n, word, method):
    model = vs.OU(np.eye(n), [1] * n, 1, readout=readout)
    options = {"lag_degree": 2} if method == "taylor" else {}
    message = _fast(lambda: vs.derive(model, 2, method=method, **options), vs.ModelError)
    assert message.startswith("readout") and word in message and "vs.limits.configure" in message


def test_polynomial_limit_is_adjustable():
    model = vs.OU(1, 1, 1, readout=(1 + H1) ** 120)
    with pytest.raises(vs.ModelError, match="MAX_DEGREE"):
        vs.derive(model, 1)
    with limits.overridden(max_degree=200):
        assert vs.derive(model, 1).order == 1
        assert vs.parse_expr("h1**150") == H1**150  # the parser's exponent limit moves with it
    with pytest.raises(vs.ExpressionError):
        vs.parse_expr("h1**150")


# --------------------------------------------------------------------------- hangs: Taylor cost

TANH2 = vs.SRNN(1, [[0.5, 0.3], [0.3, 0.6]], C=[1, 1], sigma=0.5, activation="tanh", readout="h1",
                initial=vs.PointMass([0.1, 0.1]))  # fmt: skip


def test_taylor_order_12_lag_degree_50_is_refused_up_front():
    message = _fast(lambda: vs.derive(TANH2, 12, method="taylor", lag_degree=50), vs.ArgumentError)
    assert message.startswith("lag_degree") and str(limits.MAX_LAG_DEGREE) in message


def test_taylor_cost_estimate_refuses_with_the_estimate_and_a_remedy():
    message = _fast(lambda: vs.derive(TANH2, 12, method="taylor", lag_degree=20), vs.ArgumentError)
    assert "estimated" in message and "MAX_DERIVE_SECONDS" in message and "vs.limits.configure" in message
    smaller = int(re.search(r"lag_degree <= (\d+)", message).group(1))
    limits.check_taylor_cost(12, smaller, 1, 4, False, 1)  # the remedy it names is accepted
    with pytest.raises(vs.ArgumentError):
        limits.check_taylor_cost(12, smaller + 1, 1, 4, False, 1)
    # the remedy it gives is one that works (for the brief's 2-D tanh SRNN: lag_degree 10 at order 2 took 93 s)
    work, seconds = limits.taylor_estimate(2, 10, 1, 4, False)
    assert 10 < seconds < limits.MAX_DERIVE_SECONDS


def test_taylor_estimate_orders_the_measured_cost():
    # measured on the reference machine (2-D tanh SRNN, point-mass start): 0.08/0.24/3.3/19.5/93 s for 2..10
    estimates = [limits.taylor_estimate(2, p, 1, 4, False)[1] for p in (2, 4, 6, 8, 10)]
    assert estimates == sorted(estimates)
    assert estimates[-1] / estimates[0] > 100


def test_lag_degree_limit_agrees_between_api_model_files_and_cli(capsys, tmp_path):
    top = limits.MAX_LAG_DEGREE
    with pytest.raises(vs.ArgumentError, match=str(top)):
        vs.derive(TANH2, 1, method="taylor", lag_degree=top + 1)
    text = (ROOT / "examples/srnn_tanh.toml").read_text()
    text = re.sub(r"lag_degree\s*=\s*\d+", f"lag_degree = {top + 1}", text)
    if "lag_degree" not in text:
        text += f"\n[derive]\nlag_degree = {top + 1}\n"
    with pytest.raises(vs.VolterraError, match=str(top)):
        loads_run(text, "m.toml")
    code, _, err = _cli(capsys, "derive", str(ROOT / "examples/srnn_tanh.toml"), "--lag-degree", str(top + 1))
    assert code == 2 and str(top) in err


# --------------------------------------------------------------------------- hangs: Monte Carlo and grids


def test_simulate_and_verify_refuse_1e12_paths_up_front():
    for call in (
        lambda: vs.simulate(OU, U, T, 10**12),
        lambda: vs.simulate_response(OU, U, T, 10**12),
        lambda: vs.verify(OU, U, T, paths=10**12),
    ):
        message = _fast(call, vs.ArgumentError)
        assert message.startswith("paths") and "MAX_MC_WORK" in message and "estimated" in message


def test_cli_verify_refuses_1e12_paths(capsys):
    tracemalloc.start()
    try:
        code, _, err = _cli(capsys, "verify", str(ROOT / "examples/ou1d_cubic.toml"), "--paths", "1000000000000")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert code == 2 and "MAX_MC_WORK" in err and peak < 64 * 2**20


def test_grid_points_limit_is_shared(capsys):
    top = limits.MAX_GRID_POINTS
    text = (ROOT / "examples/ou1d_cubic.toml").read_text().replace("points = 161", "points = 10000000")
    with pytest.raises(vs.VolterraError, match="MAX_GRID_POINTS"):
        loads_run(text, "m.toml")
    code, _, err = _cli(capsys, "verify", str(ROOT / "examples/ou1d_cubic.toml"), "--points", "100000000")
    assert code == 2 and str(top) in err and "MemoryError" not in err
    with limits.overridden(max_grid_points=50):
        for call in (
            lambda: vs.derive(OU).predict(np.ones(51), np.linspace(0, 1, 51)),
            lambda: vs.simulate(OU, None, np.linspace(0, 1, 51), 10),
        ):
            assert "MAX_GRID_POINTS" in _fast(call, vs.InputError)


def test_simulation_memory_includes_the_per_grid_statistics():
    # with 20 000 grid times the per-block statistics dominate: they must fit in max_memory too
    t = np.linspace(0, 1, 20_001)
    with pytest.raises(vs.SimulationError, match="max_memory"):
        vs.simulate(OU, None, t, 64, max_memory=200_000)  # the statistics alone need 16 x 20 001 bytes
    tracemalloc.start()
    vs.simulate(OU, None, t, 640, max_memory=8_000_000)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 3 * 8_000_000


def test_quadrature_memory_is_proportional_to_the_request():
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1"))
    kernel = resp.lower().kernel(1, (0,))

    def peak(points):
        t = np.linspace(0, 1, points)
        tracemalloc.start()
        vs.volterra_quadrature({(1, (0,)): kernel}, np.ones(points), t)
        used = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return used

    small, large = peak(1000), peak(2000)
    assert large < 3 * small  # linear (2x), not quadratic (4x) as with the dense weight matrix


# --------------------------------------------------------------------------- raw tracebacks


def test_predict_with_overflowing_eps_is_an_input_error():
    resp = vs.derive(OU)
    message = _fast(lambda: resp.predict(U, T, eps=1e300), vs.InputError)
    assert message.startswith("eps") and "overflow" in message
    taylor = vs.derive(vs.SRNN(1, 0.5, C=1, sigma=1, activation="tanh", readout="h1",
                               initial=vs.PointMass([0.0])), 3, method="taylor", lag_degree=2)  # fmt: skip
    assert _fast(lambda: taylor.predict(U, T, eps=1e150), vs.InputError).startswith("eps")
    assert np.all(np.isfinite(resp.predict(U, T, eps=1e100)))  # eps**2 = 1e200 is still a float


@pytest.mark.parametrize("writer", ["write_module", "write_latex", "write_markdown"])
def test_writers_name_the_path_and_the_problem(writer, tmp_path):
    resp = vs.derive(OU)
    blocker = tmp_path / "hostname"
    blocker.write_text("x")
    suffix = ".py" if writer == "write_module" else ".tex"
    target = blocker / f"x{suffix}"  # a file in the way of the folder
    message = _fast(lambda: getattr(resp, writer)(str(target)), vs.OutputError)
    assert str(target) in message and "is a file, not a folder" in message
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    message = _fast(lambda: getattr(resp, writer)(str(folder)), vs.OutputError)
    assert str(folder) in message and "folder" in message
    impossible = "/proc/forbidden/x" + suffix
    message = _fast(lambda: getattr(resp, writer)(impossible), vs.OutputError)
    assert impossible in message and message.count("cannot write") == 1
    message = _fast(lambda: getattr(resp, writer)(str(tmp_path / f"a\x00b{suffix}")), vs.OutputError)
    assert "null" in message


def test_cli_demo_and_plot_name_the_path_they_cannot_write(capsys, tmp_path):
    blocker = tmp_path / "hostname"
    blocker.write_text("x")
    code, _, err = _cli(capsys, "demo", "--out", str(blocker / "out"), "--no-verify")
    assert code == 2 and str(blocker) in err
    pytest.importorskip("matplotlib")  # the 'plot' extra (installed by .ci/run)
    code, _, err = _cli(capsys, "verify", str(ROOT / "examples/ou1d_cubic.toml"), "--paths", "200", "--plot",
                        str(blocker / "x.png"))  # fmt: skip
    assert code == 2 and str(blocker / "x.png") in err


def test_cli_names_the_path_it_cannot_write(capsys, tmp_path):
    blocker = tmp_path / "hostname"
    blocker.write_text("x")
    for flag in ("--latex", "--markdown", "--module", "--json"):
        target = blocker / "x.py"
        code, _, err = _cli(capsys, "derive", str(ROOT / "examples/ou1d_cubic.toml"), "--quiet", flag, str(target))
        assert code == 2 and str(target) in err and "Traceback" not in err, (flag, err)


def test_quadrature_kernel_of_the_wrong_shape_is_named():
    message = _fast(lambda: vs.volterra_quadrature({(1, (0,)): lambda tau: np.zeros(3)}, U, T), vs.ArgumentError)
    assert "kernels[(1, (0,))]" in message and "(3,)" in message and "(2,)" in message
    message = _fast(lambda: vs.volterra_quadrature({(2, (0, 0)): lambda a, b: np.zeros(4)}, U, T), vs.ArgumentError)
    assert "kernels[(2, (0, 0))]" in message
    # scalars are broadcast (a constant kernel)
    out = vs.volterra_quadrature({(1, (0,)): lambda tau: 1.0}, np.ones(11), T)
    assert np.isclose(out[-1], 1.0)


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


def test_overflowing_parameter_values_are_model_errors():
    big = sp.exp(sp.exp(sp.exp(sp.exp(1000))))
    for call in (
        lambda: vs.OU("a", 1, 1, readout="h1", params={"a": big}),
        lambda: vs.OU(big, 1, 1, readout="h1"),
        lambda: vs.OU(1, 1, 1, readout=big * H1),
    ):
        assert "float64" in _fast(call, vs.ModelError)


# --------------------------------------------------------------------------- messages


@pytest.mark.parametrize(
    "argument, call",
    [
        ("A[0,1]", lambda: vs.OU([[1, "x y"]], 1, 1, readout="h1")),
        ("A[1,1]", lambda: vs.OU([[1, 2], [3, None]], [1, 1], 1, readout="h1")),
        ("A", lambda: vs.OU([[1, 2], [3]], [1, 1], 1, readout="h1")),
        ("c[1]", lambda: vs.OU(np.eye(2), [1, 1], 1, c=[0, None], readout="h1")),
        ("W[0,0]", lambda: vs.SRNN(1, [["1/0", 0], [0, 1]], C=[1, 1], sigma=1, readout="h1")),
        ("b", lambda: vs.SRNN(1, [[1, 0], [0, 1]], b=[[1, 2], [3]], C=[1, 1], sigma=1, readout="h1")),
        ("C[0,0]", lambda: vs.SRNN(1, 1, C=[[None]], sigma=1, readout="h1")),
    ],
)
def test_matrix_entry_errors_name_the_argument(argument, call):
    message = _fast(call)
    assert message.startswith(argument), message
    assert not message.startswith("shape")


def test_no_advice_that_cannot_be_followed():
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"))
    message = _fast(lambda: resp.feature_coefficients(2, limits.MAX_ORDER + 13))
    assert f">= {limits.MAX_ORDER + 13}" not in message and str(limits.MAX_ORDER) in message
    message = _fast(lambda: resp.feature_coefficients(2, 4))  # followable: order 4 <= MAX_ORDER
    assert "derive with order >= 4" in message
    taylor = vs.derive(vs.SRNN(1, 0.5, C=1, sigma=1, activation="tanh", readout="h1",
                               initial=vs.PointMass([0.0])), 1, method="taylor", lag_degree=2)  # fmt: skip
    message = _fast(lambda: taylor.taylor[0].coefficient(1, (0,), (40, 0)))
    assert "lag_degree >= 40" not in message and str(limits.MAX_LAG_DEGREE) in message


LOOKALIKE = """
[model]
kind = "OU"
A = "a"
C = 1
sigma = 1
readout = "h1"

[parameters]
"\u0430" = 1.0
"""


def test_lookalike_names_are_explained_with_code_points():
    with pytest.raises(vs.VolterraError) as info:
        loads_model(LOOKALIKE, "m.toml")
    message = str(info.value)
    assert "U+0061" in message and "U+0430" in message and "CYRILLIC" in message
    with pytest.raises(vs.ModelError) as info:
        vs.OU(1, 1, 1, readout="h1 + a", params={"\u0430": 1.0})
    assert "U+0430" in str(info.value) and "U+0061" in str(info.value)
    with pytest.raises(vs.ModelError) as info:
        vs.OU("a", 1, 1, readout="h1", params={"a": 1.0, "\u0430": 2.0})
    assert "U+0430" in str(info.value)


@pytest.mark.parametrize(
    "text",
    [
        "(" * 5000 + "h1" + ")" * 5000,
        "(" * 150 + "h1" + ")" * 150,
        "-" * 5000 + "h1",
        "+".join(["h1"] * 3000),
        "*".join(["h1"] * 2500),
        "exp(" * 120 + "h1" + ")" * 120,
    ],
)
def test_parser_failures_speak_about_the_input(text):
    message = _fast(lambda: vs.parse_expr(text, where="readout"), vs.ExpressionError)
    lower = message.lower()
    for internal in ("recursion", "memoryerror", "ast construction", "maximum"):
        assert internal not in lower, message
    assert any(word in lower for word in ("nested", "long", "characters")), message
    assert re.search(r"\d", message)  # the limit or the size


def test_echoed_input_is_truncated():
    long = "x" * 1_000_000
    for call in (
        lambda: vs.OU(1, 1, 1, readout="h1", params={long: 1.0}),
        lambda: vs.OU(1, 1, 1, readout=sp.Symbol(long) * H1),
        lambda: vs.Diffusion([long + "!"], "1", 1, 1, "1"),
        lambda: vs.parse_expr("1 +", where=long),
    ):
        message = _fast(call)
        assert len(message) <= 1000
    text = f'[model]\nkind = "OU"\nA = 1\nC = 1\nsigma = 1\nreadout = "h1"\n[parameters]\n{"y" * 100_000} = 1.0\n'
    with pytest.raises(vs.VolterraError) as info:
        loads_model(text, "m.toml")
    assert len(str(info.value)) <= 1000


def test_cli_order_has_one_rule_and_one_message(capsys):
    model = str(ROOT / "examples/ou1d_cubic.toml")
    messages = []
    for value in ("-1", "0", str(limits.MAX_ORDER + 1), "x"):
        code, _, err = _cli(capsys, "derive", model, "--order", value)
        assert code == 2
        messages.append(err.replace(repr(value), "<value>"))
    assert len(set(messages)) == 1, messages
    assert f"1..{limits.MAX_ORDER}" in messages[0]


# --------------------------------------------------------------------------- the limits themselves


def test_limits_are_documented_once_and_linked():
    api = (ROOT / "docs/api.md").read_text()
    section = api[api.index("## Limits") :]
    for name in limits.current():
        assert name in section, name
    assert "api.md#limits" in (ROOT / "docs/model_files.md").read_text()
    assert "api.md#limits" in (ROOT / "docs/cli.md").read_text()


def test_configure_validates_and_restores():
    with pytest.raises(vs.ArgumentError):
        limits.configure(max_grid_pointz=3)
    with pytest.raises(vs.ArgumentError):
        limits.configure(max_grid_points=-1)
    before = limits.current()
    with limits.overridden(max_order=3, max_mc_work=10):
        with pytest.raises(vs.ArgumentError, match="1..3"):
            vs.derive(OU, 4)
    assert limits.current() == before


# --------------------------------------------------------------------------- members found while fixing


def test_generator_cells_beyond_the_limit_are_refused_before_allocating():
    tanh = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
    message = _fast(lambda: vs.derive(tanh, 1, method="generator", cells=10**7), vs.GridError)
    assert message.startswith("cells") and "MAX_GENERATOR_CELLS" in message


def test_kernel_count_is_refused_up_front_with_a_followable_remedy():
    model = vs.OU(1, [[1, 1, 1, 1]], 1, readout="h1")
    message = _fast(lambda: vs.derive(model, 12), vs.ArgumentError)
    assert message.startswith("order") and "MAX_KERNELS" in message and "vanishes" in message
    fit = int(re.search(r"order <= (\d+)", message).group(1))
    assert 1 <= fit <= limits.MAX_ORDER
    assert vs.derive(model, fit).order == fit


def test_expectation_of_a_huge_polynomial_is_refused_not_a_recursion_error():
    message = _fast(lambda: vs.expectation(vs.OU(1, 1, 1, readout="h1"), H1**1000), vs.ArgumentError)
    assert message.startswith("g") and "MAX_DEGREE" in message


def test_burn_in_steps_are_checked_before_allocating():
    tanh = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
    message = _fast(lambda: vs.simulate(tanh, None, T, 100, burn_in=1e12), vs.ArgumentError)  # as burn_in=-1
    assert message.startswith("burn_in") and "burn_in_dt" in message
    message = _fast(lambda: vs.simulate(OU, None, T, 100, substeps=10**9), vs.InputError)
    assert "substeps" in message


def test_monte_carlo_advice_respects_the_minimum_paths_of_a_verdict():
    t = np.linspace(0, 1, 20_001)
    model = vs.OU(1, 1, 1, readout="h1")
    with limits.overridden(max_mc_work=10**6):  # 100 paths x 20 000 steps > 1e6 and even 50 paths would not fit
        message = _fast(lambda: vs.verify(model, None, t, paths=100, scheme="exact"), vs.ArgumentError)
        assert "paths <=" not in message and "coarser grid" in message
        message = _fast(lambda: vs.simulate(model, None, t, 100, scheme="exact"), vs.ArgumentError)
        assert "paths <= 50" in message


def test_overlong_number_literals_speak_about_the_input():
    message = _fast(lambda: vs.parse_expr("1" * 5000), vs.ExpressionError)
    assert "5000 digits" in message and "set_int_max_str_digits" not in message


def test_method_and_option_lookalikes_are_explained():
    message = _fast(lambda: vs.derive(OU, method="\u0435xact"), vs.ArgumentError)
    assert "U+0435" in message and "U+0065" in message
    tanh = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
    message = _fast(lambda: vs.derive(tanh, 1, method="taylor", **{"l\u0430g_degree": 2}), vs.ArgumentError)
    assert "U+0430" in message


def test_sigma_errors_name_sigma():
    assert _fast(lambda: vs.OU(1, 1, [[None]], readout="h1"), vs.ModelError).startswith("sigma")
    assert _fast(lambda: vs.SRNN(1, 0.5, C=1, sigma=1j, readout="h1"), vs.ModelError).startswith("sigma")


@pytest.mark.parametrize(
    "kernel, words",
    [
        (lambda tau: 1 / 0, "ZeroDivisionError"),
        (lambda tau: tau * 1j, "complex"),
        (lambda tau: tau * np.nan, "non-finite"),
        (lambda tau: "x", "real numbers"),
    ],
)
def test_quadrature_kernel_failures_are_named(kernel, words):
    message = _fast(lambda: vs.volterra_quadrature({(1, (0,)): kernel}, np.ones(11), T), vs.ArgumentError)
    assert message.startswith("kernels[(1, (0,))]") and words in message


def test_cli_truncates_echoed_arguments(capsys):
    code, _, err = _cli(capsys, "derive", str(ROOT / "examples/ou1d_cubic.toml"), "--order", "9" * 100_000)
    assert code == 2 and len(err) < 1100
    code, _, err = _cli(capsys, "derive", "x" * 100_000 + ".toml")
    assert code == 2 and len(err) < 1100


def test_verify_cannot_pass_where_the_standard_error_is_undefined():
    """The root of the verdict: a report whose Monte Carlo standard error is not finite (one path,
    overflowing statistics) does not pass there, whoever built it."""
    model = vs.OU(1.0, 1.0, 0.5, readout="h1")
    report = vs.verify(model, U, T, paths=200, seed=3)
    assert report.passed
    broken = dataclasses.replace(report, mc_stderr=np.full_like(report.mc_stderr, np.inf))
    assert not broken.passed and "inconclusive" in str(broken)
    with pytest.raises(vs.SimulationError, match="overflows"):
        vs.verify(model, np.ones(11), T, paths=200, eps=1e300)
    with pytest.raises(vs.SimulationError, match="overflows"):
        vs.simulate(model, np.ones(11), T, 200, eps=1e300)


def test_oracle_overflow_is_an_error_not_inf():
    model = vs.OU(1.0, 1.0, 0.5, readout="h1**2")
    assert _fast(lambda: vs.gaussian_oracle(model, np.ones(11), T, eps=1e300), vs.InputError).startswith("t")


def test_complex_inputs_to_features_and_expectations_are_refused():
    assert _fast(lambda: vs.response_feature(np.sin(T) * 1j, T, 1, 2), vs.InputError).startswith("u")
    assert _fast(lambda: vs.response_feature(lambda s: 1j * s, T, 1, 2), vs.InputError).startswith("u")
    assert _fast(lambda: vs.expectation(vs.OU(1, 1, 1, readout="h1"), sp.I * H1), vs.ArgumentError).startswith("g")


def test_deeply_nested_toml_speaks_about_the_file():
    text = '[model]\nkind="OU"\nA=' + "[" * 500 + "1" + "]" * 500 + '\nC=1\nsigma=1\nreadout="h1"\n'
    message = _fast(lambda: loads_model(text, "m.toml"), vs.ModelError)
    assert "nested too deeply" in message and "recursion" not in message


def test_model_file_lookalike_keys_and_tables_are_explained():
    for text, point in (
        ('[model]\nkind="OU"\n\u0410=1\n', "U+0410"),  # a bare key in Cyrillic: not even valid TOML
        ('["m\u043edel"]\nkind="OU"\n', "U+043E"),
        ('[model]\nkind="OU"\n"\u0410" = 1\nC=1\nsigma=1\nreadout="h1"\n', "U+0410"),
    ):
        with pytest.raises(vs.ModelError) as info:
            loads_model(text, "m.toml")
        assert point in str(info.value), str(info.value)


def test_max_order_is_read_through_from_validate():
    from volterra_sym import validate

    with limits.overridden(max_order=5):
        assert validate.MAX_ORDER == 5
    assert validate.MAX_ORDER == limits.MAX_ORDER


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


def test_exact_route_on_a_large_dense_model_is_refused_with_an_estimate():
    A = np.eye(25) * 2 + 0.1 * np.random.default_rng(0).standard_normal((25, 25))
    message = _fast(lambda: vs.derive(vs.OU(A, np.ones(25), 1, readout="h1"), 1), vs.ModelError)
    assert message.startswith("A") and "estimated" in message and "MAX_DERIVE_SECONDS" in message
    # a triangular (here diagonal) model of the same size has a rational spectrum and stays fast
    assert vs.derive(vs.OU(np.diag(np.arange(1.0, 26.0)), np.ones(25), 1, readout="h1"), 1).order == 1


def test_kernel_count_is_checked_when_the_order_comes_from_the_readout():
    model = vs.OU(1, [[1, 1, 1, 1]], 1, readout="h1**12")
    assert "MAX_KERNELS" in _fast(lambda: vs.derive(model), vs.ArgumentError)


def test_verify_refuses_impossible_requests_before_deriving():
    # the derive options are bad too: the refusal about paths comes first, so nothing was derived
    for paths in (1, 10**12):
        message = _fast(lambda n=paths: vs.verify(OU, U, T, paths=n, derive_options={"method": "exakt"}))
        assert message.startswith("paths")


def test_verify_unknown_option_is_an_argument_error_not_a_type_error():
    message = _fast(lambda: vs.verify(OU, U, T, pathz=200), vs.ArgumentError)
    assert message.startswith("pathz") and "'paths'" in message


def test_kernel_estimates_refuse_1e12_paths_up_front():
    model = vs.OU(1.0, 1.0, 0.5, readout="h1")
    message = _fast(lambda: vs.estimate_kernels(model, lags={1: np.linspace(0, 1, 11)}, paths=10**12))
    assert message.startswith("paths") and "MAX_MC_WORK" in message


def test_galerkin_degree_limit_agrees_between_api_model_files_and_cli(capsys):
    top = limits.MAX_GALERKIN_DEGREE
    tanh = vs.SRNN(1, 1.5, 0.3, 0.8, 0.7, activation="tanh", readout="h1")
    assert str(top) in _fast(lambda: vs.derive(tanh, 1, method="galerkin", degree=top + 1), vs.ArgumentError)
    text = '[model]\nkind="OU"\nA=1\nC=1\nsigma=1\nreadout="h1"\n[derive]\nmethod="galerkin"\ndegree=' + str(top + 1)
    with pytest.raises(vs.ModelError, match=str(top)):
        loads_run(text, "m.toml")
    code, _, err = _cli(capsys, "derive", str(ROOT / "examples/ou1d_cubic.toml"), "--degree", str(top + 1))
    assert code == 2 and str(top) in err


@pytest.mark.parametrize("change", [{"max_grid_points": 1.5}, {"max_order": 0.5}])
def test_count_limits_take_integers_only(change):
    """A fractional count used to be floored silently (max_order=0.5 made every derive fail)."""
    before = {k: getattr(vs.limits, k.upper()) for k in change}
    with pytest.raises(vs.ArgumentError, match="count; expected a positive integer"):
        vs.limits.configure(**change)
    assert {k: getattr(vs.limits, k.upper()) for k in change} == before


def test_count_limits_accept_numpy_integers():
    with vs.limits.overridden(max_feature_values=np.int64(10**8)):
        assert vs.limits.MAX_FEATURE_VALUES == 10**8


def test_kernel_values_refuses_lag_arrays_beyond_the_limit():
    """3e6 lag pairs used to end in a raw MemoryError after 15 s (numerical routes hold N values per point)."""
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"), 2)
    message = _fast(lambda: resp.kernel_values(2, (0, 0), np.zeros((3_000_000, 2))), vs.InputError)
    assert message.startswith("lags: 3000000 lag points") and "MAX_LAG_POINTS" in message

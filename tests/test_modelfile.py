"""Model files: each example loads into the model it describes; every error path is one located line.

Trusts: volterra_sym.model constructors (the reference models are built with them directly)
and the safe parser (tested in test_parsing.py).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp

import volterra_sym.model as vs
from volterra_sym.errors import ExpressionError, ModelError, VolterraError
from volterra_sym.modelfile import TIME, load_model, load_run, loads_model, loads_run

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
R = sp.Rational
h1, h2, x = sp.symbols("h1 h2 x")


def assert_same_model(got: vs.Diffusion, want: vs.Diffusion) -> None:
    assert got.state == want.state
    for field in ("drift", "diffusion", "coupling", "readout"):
        g, w = getattr(got, field), getattr(want, field)
        assert g.shape == w.shape, field
        assert (g - w).applyfunc(sp.simplify) == sp.zeros(*g.shape), (field, g, w)
    assert got.vector_readout == want.vector_readout
    assert repr(got.initial) == repr(want.initial)
    assert got.params == want.params
    assert got.m == want.m and got.r == want.r


# --------------------------------------------------------------------------- the examples


def test_ou1d_cubic():
    run = load_run(EXAMPLES / "ou1d_cubic.toml")
    want = vs.OU(1, R(1, 2), R(7, 10), c=R(3, 10), readout=h1**3)
    assert_same_model(run.model, want)
    assert run.model.name == "ou1d_cubic" and run.model.meta["source"].endswith("ou1d_cubic.toml")
    t = run.time_grid()
    assert t.shape == (161,) and t[0] == 0 and t[-1] == 8.0
    np.testing.assert_allclose(run.input_values()[:, 0], 0.5 * np.sin(2 * t), rtol=1e-14, atol=1e-15)
    assert (run.order, run.method, run.lag_degree) == (3, "exact", None)


def test_default_model_is_the_ou1d_cubic_example():
    default = load_model(ROOT / "volterra_sym" / "data" / "default_model.toml")
    assert_same_model(default, load_model(EXAMPLES / "ou1d_cubic.toml"))


def test_ou1d_symbolic_keeps_symbols_with_values():
    model = load_model(EXAMPLES / "ou1d_symbolic.toml")
    a, s = sp.Symbol("a", positive=True), sp.Symbol("s", positive=True)
    c, c0 = sp.symbols("c c0")
    values = {a: 1, c: R(1, 2), c0: R(3, 10), s: R(7, 10)}
    assert_same_model(model, vs.OU(a, c, s, c=c0, readout=h1**3, params=values))
    assert set(model.parameters) == {a, c, c0, s}  # the very same Symbol objects as the values' keys
    numeric = model.with_values()
    assert_same_model(numeric, load_model(EXAMPLES / "ou1d_cubic.toml").replace(name="ou1d_symbolic"))


def test_srnn2d_quadratic_two_inputs():
    run = load_run(EXAMPLES / "srnn2d_quadratic_two_inputs.toml")
    want = vs.SRNN(
        Gamma=[[1, 0], [0, R(3, 2)]],
        W=[[0, 2], [0, 0]],
        b=[R(1, 10), -R(1, 5)],
        C=[[1, 0], [R(1, 2), 1]],
        sigma=[[R(1, 2), 0], [0, R(1, 2)]],
        readout=h1**2 + h1 * h2,
    )
    assert_same_model(run.model, want)
    A = run.model.meta["Gamma"] - run.model.meta["W"]
    assert A * A.T != A.T * A  # non-normal
    assert run.inputs == (sp.sin(TIME) / 2, 3 * sp.cos(3 * TIME) / 10)
    assert run.input_values().shape == (121, 2)


def test_srnn_tanh():
    run = load_run(EXAMPLES / "srnn_tanh.toml")
    want = vs.SRNN(1, R(1, 2), R(1, 10), 1, R(3, 10), "tanh", readout=h1, initial=vs.PointMass([R(1, 5)]))
    assert_same_model(run.model, want)
    assert (run.method, run.lag_degree) == ("taylor", 4)


def test_ou2d_pointmass():
    model = load_model(EXAMPLES / "ou2d_pointmass.toml")
    want = vs.OU([[1, R(1, 2)], [0, 2]], [1, 1], R(1, 2), readout=h1 + h2**2, initial=vs.PointMass([1, -R(1, 2)]))
    assert_same_model(model, want)


def test_diffusion_double_well():
    model = load_model(EXAMPLES / "diffusion_double_well.toml")
    s = sp.Symbol("s")
    want = vs.Diffusion(
        [x], [x - x**3], s, 1, x, vs.Gaussian([R(1, 2)], [[R(1, 10)]]), {s: R(1, 2)}, name="double_well"
    )
    assert_same_model(model, want)


def test_every_example_has_input_and_grid():
    files = sorted(EXAMPLES.glob("*.toml"))
    assert len(files) >= 5
    for path in files:
        run = load_run(path)
        assert run.has_verification, path
        assert run.input_values().shape == (run.points, run.model.m)


# --------------------------------------------------------------------------- format details

BASE = """\
[model]
kind = "OU"
A = "a"
C = 1
sigma = 1
readout = "h1"

[parameters]
a = 1.0
"""


def test_vector_readout_and_explicit_state():
    model = loads_model(BASE.replace('readout = "h1"', 'readout = ["y", "y**2"]\nstate = ["y"]'))
    y = sp.Symbol("y")
    assert model.vector_readout and list(model.readout) == [y, y**2] and model.state == (y,)


def test_symbolic_parameter_without_value():
    model = loads_model(BASE.replace("a = 1.0", 'a = "symbol"'))
    assert model.params == {} and not model.is_numeric()


def test_parameter_value_expression_and_positive_table():
    model = loads_model(BASE.replace("a = 1.0", 'a = { value = "1/3", positive = true }'))
    (a,) = model.parameters
    assert a.is_positive and model.params == {a: R(1, 3)}


def test_gaussian_initial_law():
    text = BASE + '\n[initial]\nkind = "gaussian"\nmean = [0.5]\ncov = [[0.25]]\n'
    assert repr(loads_model(text).initial) == repr(vs.Gaussian([R(1, 2)], [[R(1, 4)]]))


def test_input_may_use_parameters_with_values():
    run = loads_run(BASE + '\n[input]\nexpr = "a*sin(t)"\n[grid]\nt_end = 1\npoints = 3\n')
    assert run.inputs == (sp.sin(TIME),)


def test_override_input_and_grid():
    run = loads_run(BASE).override(["cos(t)"], t_end=2.0, points=5)
    np.testing.assert_allclose(run.input_values()[:, 0], np.cos(np.linspace(0, 2, 5)))
    with pytest.raises(ModelError, match="--input"):
        loads_run(BASE).override(["1", "2"])


def test_no_grid_or_input_is_a_clear_error():
    run = loads_run(BASE)
    assert not run.has_verification
    with pytest.raises(ModelError, match=r"no \[grid\]"):
        run.time_grid()


# --------------------------------------------------------------------------- error paths

ERRORS: list[tuple[str, str, int, list[str]]] = [
    # (name, model file text, expected line, words the message must contain)
    ("toml syntax", BASE.replace("C = 1", "C = = 1"), 4, ["invalid TOML"]),
    ("toml unclosed string", BASE.replace('"h1"', '"h1'), 6, ["invalid TOML"]),
    ("unknown table", BASE + "\n[modle]\nx = 1\n", 11, ["'modle'", "[model]"]),
    ("missing model", "[parameters]\na = 1\n", 1, ["no [model] table"]),
    ("bad kind", BASE.replace('"OU"', '"LSTM"'), 2, ["kind", "'LSTM'"]),
    ("missing key", BASE.replace("sigma = 1\n", ""), 1, ["'sigma'"]),
    ("unknown key", BASE.replace("sigma = 1", "sigam = 1"), 5, ["'sigam'", "allowed keys"]),
    ("srnn key in OU", BASE.replace("sigma = 1", "sigma = 1\nW = 1"), 6, ["'W'"]),
    ("undeclared name", BASE.replace('A = "a"', 'A = [["a", "2*q"], [0, "a"]]'), 3, ["A[0][1]", "'q'", "declare"]),
    ("hostile readout", BASE.replace('"h1"', "\"__import__('os').system('touch SENTINEL')\""), 6, ["readout"]),
    ("attribute", BASE.replace('"h1"', '"h1.__class__"'), 6, ["__class__"]),
    ("state symbol in A", BASE.replace('A = "a"', 'A = "h1"'), 3, ["'h1'"]),
    ("wrong readout symbol", BASE.replace('"h1"', '"x1**2"'), 6, ["'x1'"]),
    ("bool entry", BASE.replace("C = 1", "C = true"), 4, ["C", "True"]),
    ("table entry", BASE.replace("C = 1", "C = { x = 1 }"), 4, ["C", "table"]),
    ("ragged", BASE.replace('A = "a"', "A = [[1, 0], [1]]"), 3, ["ragged"]),
    ("mixed", BASE.replace('A = "a"', "A = [1, [0]]"), 3, ["mixes"]),
    ("empty", BASE.replace('A = "a"', "A = []"), 3, ["empty"]),
    ("shape", BASE.replace('A = "a"', "A = [[1, 0], [0, 1]]").replace("C = 1", "C = [1, 1, 1]"), 4, ["C", "rows"]),
    ("non-square", BASE.replace('A = "a"', "A = [[1, 0]]"), 3, ["A", "square"]),
    ("param underscore", BASE.replace("a = 1.0", "a = 1.0\n_x = 2"), 10, ["_x", "underscore"]),
    ("param function", BASE.replace("a = 1.0", "a = 1.0\nexp = 2"), 10, ["'exp'"]),
    ("param t", BASE.replace("a = 1.0", "a = 1.0\nt = 2"), 10, ["'t'", "time"]),
    ("param reserved", BASE.replace("a = 1.0", "a = 1.0\neval = 2"), 10, ["'eval'", "reserved"]),
    ("param value symbolic", BASE.replace("a = 1.0", 'a = "2*b"'), 9, ["'b'"]),
    ("param value bool", BASE.replace("a = 1.0", "a = false"), 9, ["False"]),
    ("param bad field", BASE.replace("a = 1.0", "a = { value = 1, sign = 1 }"), 9, ["'sign'"]),
    ("param not positive", BASE.replace("a = 1.0", "a = { value = -1, positive = true }"), 9, ["positive"]),
    ("state clash", BASE.replace('readout = "h1"', 'readout = "a"\nstate = ["a"]'), 7, ["state", "parameters"]),
    ("state twice", BASE.replace('readout = "h1"', 'readout = "y"\nstate = ["y", "y"]'), 7, ["twice"]),
    ("state bad", BASE.replace('readout = "h1"', 'readout = "y"\nstate = ["1y"]'), 7, ["1y"]),
    (
        "activation",
        BASE.replace('"OU"', '"SRNN"').replace('A = "a"', 'Gamma = 1\nW = 1\nactivation = "relu"'),
        5,
        ["'relu'"],
    ),
    ("multi-line expression", BASE.replace('"h1"', '"""h1\n+ 1"""'), 6, ["one line"]),
    ("diffusion without state", '[model]\nkind = "diffusion"\ndrift = ["-x"]\n', 1, ["'state'"]),
    ("initial kind", BASE + '\n[initial]\nkind = "uniform"\n', 12, ["'uniform'"]),
    ("initial missing x0", BASE + '\n[initial]\nkind = "point"\n', 11, ["'x0'"]),
    ("initial wrong x0", BASE + '\n[initial]\nkind = "point"\nx0 = [1, 2]\n', 13, ["x0", "1 entries"]),
    ("initial stray key", BASE + '\n[initial]\nkind = "stationary"\nx0 = [1]\n', 13, ["x0", "not used"]),
    ("initial unknown key", BASE + '\n[initial]\nkind = "point"\nx1 = [1]\n', 13, ["'x1'"]),
    (
        "cov not symmetric",
        BASE.replace("C = 1", "C = [1, 0]").replace('A = "a"', "A = [[1, 0], [0, 1]]")
        + '\n[initial]\nkind = "gaussian"\nmean = [0, 0]\ncov = [[1, 2], [0, 1]]\n',
        14,
        ["symmetric"],
    ),
    ("input channels", BASE + '\n[input]\nexpr = ["sin(t)", "cos(t)"]\n', 12, ["1 input channel", "2 expr"]),
    ("input name", BASE + '\n[input]\nexpr = "sin(q*t)"\n', 12, ["'q'"]),
    ("input missing expr", BASE + "\n[input]\n", 11, ["'expr'"]),
    ("grid t_end", BASE + "\n[grid]\nt_end = -1\npoints = 3\n", 12, ["t_end", "-1"]),
    ("grid points", BASE + "\n[grid]\nt_end = 1\npoints = 1\n", 13, ["points"]),
    ("grid missing", BASE + "\n[grid]\nt_end = 1\n", 11, ["'points'"]),
    ("derive order", BASE + "\n[derive]\norder = 0\n", 12, ["order", "0"]),
    ("derive method", BASE + '\n[derive]\nmethod = "magic"\n', 12, ["'magic'"]),
    ("top-level key", "kind = 1\n" + BASE, 1, ["'kind'"]),
]


@pytest.mark.parametrize("name, text, line, words", ERRORS, ids=[e[0] for e in ERRORS])
def test_error_is_one_located_line(name, text, line, words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises((ModelError, ExpressionError)) as info:
        loads_run(text, source="m.toml")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"m.toml:{line}:"), message
    for word in words:
        assert word in message, (word, message)
    assert not list(tmp_path.iterdir())


def test_error_corpus_is_large():
    assert len(ERRORS) >= 40


def test_missing_file(tmp_path):
    with pytest.raises(ModelError, match="no such model file"):
        load_model(tmp_path / "nope.toml")


def test_directory_and_binary_file(tmp_path):
    with pytest.raises(ModelError, match="directory"):
        load_model(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"[model]\nname = '\xff\xfe'\n")
    with pytest.raises(ModelError, match="UTF-8"):
        load_model(bad)


def test_error_names_the_file_path(tmp_path):
    path = tmp_path / "m.toml"
    path.write_text(BASE.replace('"h1"', '"h1 +"'))
    with pytest.raises(ExpressionError) as info:
        load_model(path)
    assert re.match(rf"{re.escape(str(path))}:6: \[model\] readout", str(info.value))


@pytest.mark.parametrize("text", ["[model]\nA = " + "9" * 5000, "[model]\nA = " + "[" * 50_000 + "]" * 50_000])
def test_pathological_toml_is_a_model_error(text):
    with pytest.raises(ModelError) as info:
        loads_run(text, "x.toml")
    assert str(info.value).startswith("x.toml") and "\n" not in str(info.value)


def test_positive_symbol_without_value():
    model = loads_model(BASE.replace("a = 1.0", 'a = "positive"'))
    (a,) = model.parameters
    assert a.is_positive and model.params == {}


def test_errors_are_value_errors():
    with pytest.raises(ValueError):
        loads_model("[model]\n")
    assert issubclass(ModelError, VolterraError)


def test_symbol_only_in_readout():
    model = loads_model(BASE.replace('"h1"', '"k*h1"') + 'k = "symbol"\n')
    k = next(s for s in model.parameters if s.name == "k")
    assert model.readout[0].has(k)


def test_python_floats_are_the_decimals_typed_as_in_model_files():
    # issue 19 item 6: "-1.0 h_1", "0.500000000000000" from the API, rationals from files
    import volterra_sym as vsym

    api = vsym.OU(1.0, 0.5, np.float64(0.7), c=0.3, readout="h1**3")
    filed = vsym.load_model(EXAMPLES / "ou1d_cubic.toml")
    assert api.drift == filed.drift and api.diffusion == filed.diffusion and api.coupling == filed.coupling
    assert "3/10 - h1" in str(api) and "[[7/10]]" in str(api) and "1.0" not in str(api)
    srnn = vsym.SRNN(np.eye(3), np.zeros((3, 3)), None, [1, 0, 0], 0.5 * np.eye(3), readout="h1")
    assert "1.0" not in str(srnn.drift) and srnn.diffusion[0, 0] == sp.Rational(1, 2)
    # the shortest decimal that round-trips, not the binary fraction
    tenth = vsym.OU(0.1, 1, 1, readout="h1")
    assert tenth.drift[0].coeff(tenth.state[0]) == -sp.Rational(1, 10)

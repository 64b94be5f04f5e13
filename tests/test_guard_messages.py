"""Guards on messages: every failure speaks about the user's input (argument, value, remedy).

Paths that cannot be written, lookalike names, parser failures, echoed input: one line, the
argument first, truncated echoes.  Regrouped from issue 14's hardening tests; the rows of
issues 23 and 24 follow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
from models import OU1

import volterra_sym as vs
from volterra_sym import limits
from volterra_sym.modelfile import loads_model

ROOT = Path(__file__).resolve().parents[1]

H1, H2, H3 = sp.symbols("h1 h2 h3")

OU = vs.OU(1.0, 1.0, 0.5, readout="h1**2")

T = np.linspace(0, 1, 11)

U = np.sin(T)

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


@pytest.mark.parametrize("writer", ["write_module", "write_latex", "write_markdown"])
def test_writers_name_the_path_and_the_problem(writer, tmp_path, fast):
    resp = vs.derive(OU)
    blocker = tmp_path / "hostname"
    blocker.write_text("x")
    suffix = ".py" if writer == "write_module" else ".tex"
    target = blocker / f"x{suffix}"  # a file in the way of the folder
    message = fast(lambda: getattr(resp, writer)(str(target)), vs.OutputError)
    assert str(target) in message and "is a file, not a folder" in message
    folder = tmp_path / f"folder{suffix}"
    folder.mkdir()
    message = fast(lambda: getattr(resp, writer)(str(folder)), vs.OutputError)
    assert str(folder) in message and "folder" in message
    impossible = "/proc/forbidden/x" + suffix
    message = fast(lambda: getattr(resp, writer)(impossible), vs.OutputError)
    assert impossible in message and message.count("cannot write") == 1
    message = fast(lambda: getattr(resp, writer)(str(tmp_path / f"a\x00b{suffix}")), vs.OutputError)
    assert "null" in message


def test_cli_demo_and_plot_name_the_path_they_cannot_write(capsys, tmp_path, cli):
    blocker = tmp_path / "hostname"
    blocker.write_text("x")
    code, _, err = cli("demo", "--out", str(blocker / "out"), "--no-verify")
    assert code == 2 and str(blocker) in err
    pytest.importorskip("matplotlib")  # the 'plot' extra (installed by .ci/run)
    code, _, err = cli("verify", str(ROOT / "examples/ou1d_cubic.toml"), "--paths", "200", "--plot",
                        str(blocker / "x.png"))  # fmt: skip
    assert code == 2 and str(blocker / "x.png") in err


def test_cli_names_the_path_it_cannot_write(capsys, tmp_path, cli):
    blocker = tmp_path / "hostname"
    blocker.write_text("x")
    for flag in ("--latex", "--markdown", "--module", "--json"):
        target = blocker / "x.py"
        code, _, err = cli("derive", str(ROOT / "examples/ou1d_cubic.toml"), "--quiet", flag, str(target))
        assert code == 2 and str(target) in err and "Traceback" not in err, (flag, err)


def test_quadrature_kernel_of_the_wrong_shape_is_named(fast):
    message = fast(lambda: vs.volterra_quadrature({(1, (0,)): lambda tau: np.zeros(3)}, U, T), vs.ArgumentError)
    assert "kernels[(1, (0,))]" in message and "(3,)" in message and "(2,)" in message
    message = fast(lambda: vs.volterra_quadrature({(2, (0, 0)): lambda a, b: np.zeros(4)}, U, T), vs.ArgumentError)
    assert "kernels[(2, (0, 0))]" in message
    # scalars are broadcast (a constant kernel)
    out = vs.volterra_quadrature({(1, (0,)): lambda tau: 1.0}, np.ones(11), T)
    assert np.isclose(out[-1], 1.0)


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
def test_matrix_entry_errors_name_the_argument(argument, call, fast):
    message = fast(call)
    assert message.startswith(argument), message
    assert not message.startswith("shape")


def test_no_advice_that_cannot_be_followed(fast):
    resp = vs.derive(vs.OU(1.0, 1.0, 0.5, readout="h1**2"))
    message = fast(lambda: resp.feature_coefficients(2, limits.MAX_ORDER + 13))
    assert f">= {limits.MAX_ORDER + 13}" not in message and str(limits.MAX_ORDER) in message
    message = fast(lambda: resp.feature_coefficients(2, 4))  # followable: order 4 <= MAX_ORDER
    assert "derive with order >= 4" in message
    taylor = vs.derive(vs.SRNN(1, 0.5, C=1, sigma=1, activation="tanh", readout="h1",
                               initial=vs.PointMass([0.0])), 1, method="taylor", lag_degree=2)  # fmt: skip
    message = fast(lambda: taylor.taylor[0].coefficient(1, (0,), (40, 0)))
    assert "lag_degree >= 40" not in message and str(limits.MAX_LAG_DEGREE) in message


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
def test_parser_failures_speak_about_the_input(text, fast):
    message = fast(lambda: vs.parse_expr(text, where="readout"), vs.ExpressionError)
    lower = message.lower()
    for internal in ("recursion", "memoryerror", "ast construction", "maximum"):
        assert internal not in lower, message
    assert any(word in lower for word in ("nested", "long", "characters")), message
    assert re.search(r"\d", message)  # the limit or the size


def test_echoed_input_is_truncated(fast):
    long = "x" * 1_000_000
    for call in (
        lambda: vs.OU(1, 1, 1, readout="h1", params={long: 1.0}),
        lambda: vs.OU(1, 1, 1, readout=sp.Symbol(long) * H1),
        lambda: vs.Diffusion([long + "!"], "1", 1, 1, "1"),
        lambda: vs.parse_expr("1 +", where=long),
    ):
        message = fast(call)
        assert len(message) <= 1000
    text = f'[model]\nkind = "OU"\nA = 1\nC = 1\nsigma = 1\nreadout = "h1"\n[parameters]\n{"y" * 100_000} = 1.0\n'
    with pytest.raises(vs.VolterraError) as info:
        loads_model(text, "m.toml")
    assert len(str(info.value)) <= 1000


def test_cli_order_has_one_rule_and_one_message(capsys, cli):
    model = str(ROOT / "examples/ou1d_cubic.toml")
    messages = []
    for value in ("-1", "0", str(limits.MAX_ORDER + 1), "x"):
        code, _, err = cli("derive", model, "--order", value)
        assert code == 2
        messages.append(err.replace(repr(value), "<value>"))
    assert len(set(messages)) == 1, messages
    assert f"1..{limits.MAX_ORDER}" in messages[0]


def test_overlong_number_literals_speak_about_the_input(fast):
    message = fast(lambda: vs.parse_expr("1" * 5000), vs.ExpressionError)
    assert "5000 digits" in message and "set_int_max_str_digits" not in message


def test_method_and_option_lookalikes_are_explained(fast, tanh1):
    message = fast(lambda: vs.derive(OU, method="\u0435xact"), vs.ArgumentError)
    assert "U+0435" in message and "U+0065" in message
    tanh = tanh1
    message = fast(lambda: vs.derive(tanh, 1, method="taylor", **{"l\u0430g_degree": 2}), vs.ArgumentError)
    assert "U+0430" in message


def test_sigma_errors_name_sigma(fast):
    assert fast(lambda: vs.OU(1, 1, [[None]], readout="h1"), vs.ModelError).startswith("sigma")
    assert fast(lambda: vs.SRNN(1, 0.5, C=1, sigma=1j, readout="h1"), vs.ModelError).startswith("sigma")


@pytest.mark.parametrize(
    "kernel, words",
    [
        (lambda tau: 1 / 0, "ZeroDivisionError"),
        (lambda tau: tau * 1j, "complex"),
        (lambda tau: tau * np.nan, "non-finite"),
        (lambda tau: "x", "real numbers"),
    ],
)
def test_quadrature_kernel_failures_are_named(kernel, words, fast):
    message = fast(lambda: vs.volterra_quadrature({(1, (0,)): kernel}, np.ones(11), T), vs.ArgumentError)
    assert message.startswith("kernels[(1, (0,))]") and words in message


def test_cli_truncates_echoed_arguments(capsys, cli):
    code, _, err = cli("derive", str(ROOT / "examples/ou1d_cubic.toml"), "--order", "9" * 100_000)
    assert code == 2 and len(err) < 1100
    code, _, err = cli("derive", "x" * 100_000 + ".toml")
    assert code == 2 and len(err) < 1100


def test_deeply_nested_toml_speaks_about_the_file(fast):
    text = '[model]\nkind="OU"\nA=' + "[" * 500 + "1" + "]" * 500 + '\nC=1\nsigma=1\nreadout="h1"\n'
    message = fast(lambda: loads_model(text, "m.toml"), vs.ModelError)
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


# --------------------------------------------------------------------------- issues 23 and 24: one row per cause

VECTOR_OU = '[model]\nkind = "OU"\nA = 1\nC = 1\nsigma = 0.5\nreadout = ["h1", "h1**2"]\n'


def _strict(text):
    """Parse JSON refusing NaN / Infinity (RFC 8259)."""

    def refuse(token):
        raise AssertionError(f"not valid JSON: {token}")

    return json.loads(text, parse_constant=refuse)


def test_cli_checks_every_output_path_before_any_work(cli, tmp_path):
    """Issue 23: derive --json to an unwritable path failed only after printing the kernels."""
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    for option in ("--json", "--latex", "--markdown", "--module"):
        target = str(blocker / ("out.py" if option == "--module" else "out"))
        code, out, err = cli("derive", str(ROOT / "examples/ou1d_cubic.toml"), option, target)
        assert code == 2 and out == "" and "a_file" in err, (option, out, err)
    code, out, err = cli(
        "estimate", str(ROOT / "examples/ou1d_cubic.toml"), "--lags", "0,0.5", "--json", str(blocker / "e.json")
    )
    assert code == 2 and out == "" and "a_file" in err
    code, out, err = cli("verify", str(ROOT / "examples/ou1d_cubic.toml"), "--plot", str(blocker / "p.png"))
    assert code == 2 and out == "" and "a_file" in err


def test_cli_estimate_vector_readout_into_a_new_folder_writes_strict_json(cli, tmp_path):
    """Issue 24: estimate on a model file with a vector readout exited 3; --json into a missing folder failed where
    derive creates it; the JSON could hold Infinity."""
    model = tmp_path / "vector.toml"
    model.write_text(VECTOR_OU)
    target = tmp_path / "new" / "folder" / "est.json"
    code, out, err = cli("estimate", str(model), "--lags", "0,0.5", "--paths", "200", "--json", str(target))
    assert code == 0, err
    assert "f1" in out and "f2" in out  # one table per readout component
    data = _strict(target.read_text())
    assert len(data["kernels"][0]["mean"]) == 2 and len(data["kernels"][0]["mean"][0]) == 2


def test_json_is_strict_everywhere_null_with_a_reason():
    """Issue 24: to_json() and estimate --json wrote Infinity.  Non-finite numbers are null, and where they are
    is listed with the reason; an estimate without the bias check says why its bias is null."""
    from volterra_sym.validate import json_text

    data = _strict(json_text({"a": [1.0, float("inf")], "b": {"c": float("nan")}, "d": np.float64(2.0)}))
    assert data["a"] == [1.0, None] and data["b"]["c"] is None and data["d"] == 2.0
    assert data["null_values"]["at"] == ["a[1] (inf)", "b.c (nan)"] and "finite" in data["null_values"]["reason"]
    est = vs.estimate_kernels(OU1, lags={1: [0.0]}, paths=64, bias_check=False)
    kernel = _strict(json_text(est.to_json()))["kernels"][0]
    assert kernel["bias"] is None and "bias_check=False" in kernel["bias_note"]


def test_singular_readout_is_blamed_not_the_time_step():
    """Issue 23: a sqrt readout in estimate_kernels blamed the time step."""
    model = vs.OU(1.0, 1.0, 0.5, readout="sqrt(h1)")
    with pytest.raises(vs.SimulationError) as info:
        vs.estimate_kernels(model, lags={1: [0.0, 0.5]}, paths=64, bias_check=False)
    message = str(info.value)
    assert message.startswith("readout: sqrt(h1) is singular on states the paths reached") and "dt" not in message

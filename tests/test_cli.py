"""The volterra-sym command line: the happy paths write what they say, bad input is one line and exit 2.

Trusts: the library (kernels, export, verify); these tests check only the CLI's plumbing.
Most tests call :func:`volterra_sym.cli.main` in-process; a few run ``python -m volterra_sym``
as a subprocess to check the real entry point and exit codes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from volterra_sym.cli import main

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "volterra_sym", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def assert_one_line_error(err: str, *words: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("volterra-sym: error: "), err
    for word in words:
        assert word in lines[0], (word, err)


# --------------------------------------------------------------------------- subprocess (the real entry point)


def test_demo_writes_into_the_default_folder(tmp_path):
    proc = run_cli("demo", "--paths", "200", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "volterra_sym_demo"
    for name in ("derivation.tex", "derivation.md", "kernels.json"):
        assert (out / name).is_file(), proc.stdout
        assert str(Path("volterra_sym_demo") / name) in proc.stdout
    assert "K^(1)" in proc.stdout and "K^(3)" in proc.stdout
    assert "\\begin{document}" in (out / "derivation.tex").read_text()


def test_derive_writes_every_output(tmp_path):
    files = {
        flag: tmp_path / name
        for flag, name in [("--latex", "k.tex"), ("--markdown", "k.md"), ("--module", "k.py"), ("--json", "k.json")]
    }
    args = [a for flag, path in files.items() for a in (flag, str(path))]
    proc = run_cli("derive", str(EXAMPLES / "srnn2d_quadratic_two_inputs.toml"), "--order", "2", *args)
    assert proc.returncode == 0, proc.stderr
    for path in files.values():
        assert path.is_file() and str(path) in proc.stdout
    data = json.loads(files["--json"].read_text())
    assert data["order"] == 2 and len(data["kernels"]) == 2 + 4  # m = 2 inputs: 2 first-order, 4 second-order
    assert "K^(2)_[1,2]" in proc.stdout


def test_bad_input_exit_code_2_subprocess(tmp_path):
    proc = run_cli("derive", str(tmp_path / "missing.toml"))
    assert proc.returncode == 2
    assert_one_line_error(proc.stderr, "missing.toml", "no such model file")
    assert proc.stdout == ""


def test_verify_on_an_example(tmp_path):
    proc = run_cli("verify", str(EXAMPLES / "ou1d_cubic.toml"), "--paths", "400", "--seed", "1", "--points", "41")
    assert proc.returncode == 0, proc.stderr
    assert "PASSED" in proc.stdout


@pytest.mark.parametrize("name", ["srnn2d_quadratic_two_inputs", "ou1d_symbolic", "srnn_tanh"])
def test_verify_examples_in_process(name, capsys):
    assert main(["verify", str(EXAMPLES / f"{name}.toml"), "--paths", "300", "--points", "21"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_plot_without_matplotlib_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    argv = ["verify", str(EXAMPLES / "ou1d_cubic.toml"), "--paths", "200", "--points", "11"]
    assert main([*argv, "--plot", str(tmp_path / "p.png")]) == 2
    assert_one_line_error(capsys.readouterr().err, "matplotlib")


# --------------------------------------------------------------------------- in-process


def test_demo_into_tmp_path(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--no-verify"]) == 0
    printed = capsys.readouterr().out
    assert "skipped (--no-verify)" in printed
    assert (out / "derivation.md").read_text().startswith("# ")
    assert f"wrote 3 file(s) to {out}" in printed


def test_no_arguments_means_demo(monkeypatch):
    import volterra_sym.cli as cli

    seen = []
    monkeypatch.setattr(cli, "cmd_demo", lambda args: seen.append(args) or 0)
    assert main([]) == 0 and main(["--debug"]) == 0
    assert seen[0].command == "demo" and seen[0].out == "volterra_sym_demo"


def test_derive_symbolic_example(capsys):
    assert main(["derive", str(EXAMPLES / "ou1d_symbolic.toml"), "--order", "1"]) == 0
    printed = capsys.readouterr().out
    assert "exp(-a*tau1)" in printed


def test_derive_numeric_flag(capsys):
    assert main(["derive", str(EXAMPLES / "ou1d_symbolic.toml"), "--order", "1", "--numeric"]) == 0
    assert "201*exp(-tau1)/400" in capsys.readouterr().out  # the ou1d_cubic kernel


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "volterra-sym derive" in text and "demo" in text
    with pytest.raises(SystemExit):
        main(["derive", "--help"])
    assert "--lag-degree" in capsys.readouterr().out


BAD_FILE = '[model]\nkind = "OU"\nA = 1\nC = 1\nsigma = 1\nreadout = "{}"\n'


@pytest.mark.parametrize(
    "argv, content, words",
    [
        (["--bogus"], None, ["unrecognized arguments: --bogus"]),
        (["derive", "M", "--order", "x"], "ok", ["--order", "'x'"]),
        (["derive", "M", "--method", "magic"], "ok", ["--method", "magic"]),
        (["frobnicate"], None, ["frobnicate"]),
        (["derive"], None, ["MODEL"]),
        (["derive", "M"], "[model\nkind = 1", ["M.toml:1:", "invalid TOML"]),
        (["derive", "M"], BAD_FILE.format("__import__('os').system('touch SENTINEL')"), ["M.toml:6:", "__import__"]),
        (["derive", "M"], BAD_FILE.format("h1 +"), ["M.toml:6:", "readout"]),
        (["derive", "M"], BAD_FILE.format("q*h1"), ["'q'", "declare"]),
        (["verify", "M"], BAD_FILE.format("h1"), ["no [input] and [grid]"]),
        (["derive", "missing.toml"], None, ["missing.toml", "no such model file"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, content, words, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if content is not None:
        Path("M.toml").write_text(BAD_FILE.format("h1") if content == "ok" else content)
    argv = [("M.toml" if a == "M" else a) for a in argv]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert_one_line_error(captured.err, *words)
    assert not Path("SENTINEL").exists()


def test_debug_shows_the_traceback(tmp_path, capsys):
    assert main(["derive", str(tmp_path / "missing.toml"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().splitlines()[-1].startswith("volterra-sym: error:")


def test_demo_with_verification(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--paths", "300"]) == 0
    assert "PASSED" in capsys.readouterr().out


def test_output_folders_are_created_and_a_folder_target_is_a_one_line_error(tmp_path, capsys):
    target = tmp_path / "new" / "dir" / "k.tex"
    assert main(["derive", str(EXAMPLES / "ou1d_cubic.toml"), "--quiet", "--latex", str(target)]) == 0
    assert target.read_text().startswith("\\documentclass")
    assert main(["derive", str(EXAMPLES / "ou1d_cubic.toml"), "--quiet", "--latex", str(tmp_path)]) == 2
    assert_one_line_error(capsys.readouterr().err, "is a folder")


def test_method_override_drops_the_files_lag_degree(tmp_path, capsys):
    """srnn_tanh.toml has [derive] lag_degree; --method generator / exact must not receive it."""
    path = str(EXAMPLES / "srnn_tanh.toml")
    assert main(["derive", path, "--order", "2", "--method", "generator", "--json", str(tmp_path / "g.json")]) == 0
    assert main(["derive", path, "--order", "2", "--method", "exact"]) == 2
    err = capsys.readouterr().err
    assert_one_line_error(err, "--method taylor")


def test_estimate_prints_kernel_estimates_that_agree_with_the_exact_kernels(tmp_path, capsys):
    """K^(1)(0) = 3c(a s^2 + 2 c0^2)/(2 a^2) = 0.5025 and K^(2)(0, 0) = 6 c^2 c0 / a = 0.45 (MATH.md section 5)
    for ou1d_cubic.toml (a = 1, c = 1/2, c0 = 3/10, s = 7/10), within 4.5 standard errors plus the dt bias."""
    import json

    out = tmp_path / "est.json"
    argv = ["estimate", str(EXAMPLES / "ou1d_cubic.toml"), "--order", "2", "--lags", "0,0.5", "--paths", "2000"]
    assert main([*argv, "--json", str(out)]) == 0
    assert "K^(2)_[1,1]" in capsys.readouterr().out
    data = json.loads(out.read_text())
    assert data["paths"] == 2000
    # the CLI's own numbers (lag 0 of each order: the first row of each kernel), not a separate library call
    for kernel, exact in zip(sorted(data["kernels"], key=lambda k: k["order"]), (0.5025, 0.45)):
        mean, se, bias, bias_se = (kernel[key][0] for key in ("mean", "stderr", "bias", "bias_stderr"))
        assert abs(mean - exact) <= 4.5 * se + abs(bias) + 4.5 * bias_se, (kernel["order"], mean, se, bias)


@pytest.mark.parametrize("lags", ["0:a:1", "0:1e9:1e-9", "0:inf:1", "0,,1", "0,nan"])
def test_estimate_bad_lags_is_a_one_line_error_before_any_work(capsys, lags):
    assert main(["estimate", str(EXAMPLES / "ou1d_cubic.toml"), "--lags", lags]) == 2
    assert_one_line_error(capsys.readouterr().err, "--lags")


# --------------------------------------------------------------------------- verify flags, predict (issue 19)


@pytest.mark.slow
@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_verifies_with_paths_only(path, capsys):
    # stationary nonlinear models choose their burn-in (reported); nothing but --paths is needed
    code = main(["verify", str(path), "--paths", "2000"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "PASSED" in out


def test_verify_flags_eps_seed_dt_burn_in(capsys):
    model = str(EXAMPLES / "srnn_tanh.toml")  # a point start: Euler, --burn-in moot
    code = main(["verify", model, "--paths", "200", "--eps", "0.5", "--seed", "3", "--dt", "0.005", "--t-end", "1"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "eps 0.5" in out and "seed 3" in out and "Euler steps: 4 per grid interval (--dt 0.005)" in out
    code = main(["verify", model, "--paths", "200", "--burn-in", "soon"])
    out, err = capsys.readouterr()
    assert code == 2
    assert_one_line_error(err, "--burn-in", "positive time or 'auto'", "soon")
    code = main(["verify", model, "--paths", "200", "--eps", "nan"])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "--eps", "finite")


@pytest.mark.slow
def test_verify_auto_burn_in_is_reported_and_a_given_one_used(capsys):
    model = str(EXAMPLES / "srnn2d_tanh_nonequilibrium.toml")
    code = main(["verify", model, "--paths", "200", "--t-end", "0.5", "--points", "6"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "burn-in: " in out and "(auto: 20 / the slowest relaxation rate" in out and "rest point" in out
    code = main(["verify", model, "--paths", "200", "--t-end", "0.5", "--points", "6", "--burn-in", "3"])
    out, err = capsys.readouterr()
    assert code == 0 and "burn_in 3" in out and "auto" not in out, out + err


def test_predict_writes_csv_matching_the_library(tmp_path, capsys):
    import numpy as np

    import volterra_sym as vs

    target = tmp_path / "out" / "p.csv"
    code = main(["predict", str(EXAMPLES / "ou1d_cubic.toml"), "--eps", "0.5", "--by-order", "--csv", str(target)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert f"wrote {target}" in out
    lines = target.read_text().splitlines()
    assert lines[0] == "t,y,y_error,y_order0,y_order1,y_order2,y_order3"
    table = np.array([[float(x) for x in line.split(",")] for line in lines[1:]])
    spec = vs.load_run(EXAMPLES / "ou1d_cubic.toml")
    t = spec.time_grid()
    want = vs.derive(spec.model, 3).predict(spec.input_values(t), t, eps=0.5)
    np.testing.assert_array_equal(table[:, 0], t)
    np.testing.assert_allclose(table[:, 1], want, rtol=1e-15, atol=1e-15)
    np.testing.assert_allclose(table[:, 3:].sum(axis=1), table[:, 1], rtol=1e-12, atol=1e-15)
    # to standard output without --csv
    assert main(["predict", str(EXAMPLES / "ou1d_cubic.toml")]) == 0
    assert capsys.readouterr().out.startswith("t,y,y_error\n0.0,")


# --------------------------------------------------------------------------- errors up front, about the right argument


TANH_FILE = """[model]
kind = "SRNN"
Gamma = 1
W = 1.5
b = 0.3
C = 0.8
sigma = 0.7
activation = "tanh"
readout = "h1"
[derive]
order = 1
method = "galerkin"
degree = 6
"""


def test_derive_refuses_a_module_of_a_numerical_route_before_writing_anything(tmp_path, capsys):
    model = tmp_path / "tanh.toml"
    model.write_text(TANH_FILE)
    out = tmp_path / "out"
    code = main(["derive", str(model), "--quiet", "--latex", str(out / "x.tex"), "--module", str(out / "k.py")])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "write_module", "numerically")
    assert not (out / "x.tex").exists() and not (out / "k.py").exists()


def test_a_matrix_of_the_wrong_size_is_named(tmp_path, capsys):
    text = (EXAMPLES / "srnn2d_tanh_nonequilibrium.toml").read_text()
    three = text.replace("Gamma = [[1, 0], [0, 1]]", "Gamma = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]").replace(
        "b = [0.2, -0.1]", "b = [0.2, -0.1, 0.0]").replace("C = [1, 0.5]", "C = [1, 0.5, 0.1]").replace(
        'state = ["h1", "h2"]\n', "")  # fmt: skip
    path = tmp_path / "w2.toml"
    path.write_text(three)  # W stays 2 x 2 in a 3-D model
    code = main(["derive", str(path), "--quiet"])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "[model] W: expected shape 3 x 3", "received (2, 2)")


def test_messages_show_plain_numbers_not_numpy_reprs(capsys):
    code = main(["estimate", str(EXAMPLES / "ou1d_cubic.toml"), "--lags", "0.015", "--paths", "100"])
    err = capsys.readouterr().err
    assert code == 2 and "np.float64" not in err
    assert_one_line_error(err, "0.015 is not a multiple of dt = 0.01")


def test_a_flat_noise_vector_in_a_model_file_is_refused(tmp_path, capsys):
    path = tmp_path / "flat.toml"
    text = (EXAMPLES / "srnn2d_tanh_nonequilibrium.toml").read_text()
    path.write_text(text.replace("sigma = 0.6", "sigma = [0.6, 0.6]"))
    code = main(["derive", str(path), "--quiet"])
    assert code == 2
    assert_one_line_error(capsys.readouterr().err, "[model] sigma", "one Brownian motion driving all of them")


@pytest.mark.slow
def test_a_nonlinear_model_file_without_derive_settings_verifies_with_paths_only(tmp_path, capsys):
    # issue 19: the 3-D nonequilibrium tanh SRNN of the report, stationary start, no [derive] table
    path = tmp_path / "srnn3d.toml"
    path.write_text(
        '[model]\nkind = "SRNN"\nGamma = [[1, 0, 0], [0, 1, 0], [0, 0, 1]]\n'
        "W = [[0.4, -1, 0.3], [0.9, 0.2, -0.5], [-0.2, 0.6, 0.3]]\nb = [0.1, -0.2, 0.05]\nC = [1, 0.5, -0.3]\n"
        'sigma = [[0.5, 0, 0], [0, 0.5, 0], [0, 0, 0.5]]\nactivation = "tanh"\nreadout = "h1"\n'
        '[initial]\nkind = "stationary"\n[input]\nexpr = "0.3*sin(1.5*t)"\n[grid]\nt_end = 4.0\npoints = 41\n'
    )
    code = main(["verify", str(path), "--paths", "2000"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    assert "burn-in: " in out and "method 'galerkin'" not in err and "PASSED" in out

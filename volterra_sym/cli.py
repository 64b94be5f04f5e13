"""The ``volterra-sym`` command line: a thin layer over the library.

It parses arguments, loads a model file (:mod:`volterra_sym.modelfile`), calls
:func:`volterra_sym.derive.derive` and :func:`volterra_sym.workflows.verify`, and
prints or writes the results.  Exit codes: 0 success, 1 a verification that
ran but failed, 2 bad input (missing file, bad TOML, bad flag, bad expression,
a feature not available), 3 an internal error (rerun with ``--debug``).
Errors are one line on stderr: ``volterra-sym: error: ...``.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import traceback
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import replace
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from . import limits
from .checks.settings import DEFAULT_PATHS
from .checks.verify import VerifyReport, check_request
from .errors import MAX_MESSAGE, VolterraError
from .model.diffusion import Diffusion, Stationary
from .modelfile import RunSpec, load_run, loads_run
from .response import Response
from .routes import ROUTES
from .routes.options import Option
from .validate import json_text, output_path, write_text_file

PROG = "volterra-sym"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEFAULT_OUT = "volterra_sym_demo"
DEFAULT_ORDER = 2
MAX_CLI_LAGS = 1000  #: lags one 'estimate --lags' may list (order 2 uses every pair of them)
#: --paths of demo, verify and plot: a command-line check that returns in seconds (the API's verify uses
#: VERIFY_PATHS = 20000, checks/settings.py); estimate uses the API's DEFAULT_PATHS
CLI_CHECK_PATHS = 2000

_EXAMPLES = """\
examples:
  volterra-sym                                   run the demo on the built-in 1-D OU model
  volterra-sym demo --out results/               the same, writing into results/
  volterra-sym derive examples/ou1d_cubic.toml --order 3 --latex ou.tex --markdown ou.md
  volterra-sym derive examples/srnn_tanh.toml --order 2 --method taylor --lag-degree 4
  volterra-sym derive examples/ou1d_symbolic.toml --json kernels.json --module kernels.py
  volterra-sym derive examples/ou1d_symbolic.toml --numeric      (parameter values substituted first)
  volterra-sym verify examples/srnn2d_quadratic_two_inputs.toml --paths 4000 --seed 1
  volterra-sym verify examples/ou1d_cubic.toml --input "sin(t)" --t-end 5 --plot check.png
  volterra-sym verify examples/srnn2d_tanh_nonequilibrium.toml --eps 0.5 --burn-in 20 --dt 0.01
  volterra-sym predict examples/ou1d_cubic.toml --eps 0.5 --csv prediction.csv
  volterra-sym estimate examples/ou1d_cubic.toml --order 2 --lags 0:2:0.25 --paths 20000 --json est.json

Model files are TOML; see docs/model_files.md and the examples/ folder.
"""


class CLIError(Exception):
    """A one-line user error: printed as ``volterra-sym: error: ...`` with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are exceptions (turned into one-line messages by :func:`main`)."""

    def error(self, message: str) -> NoReturn:
        raise CLIError(f"{message} (see '{PROG} --help')")


# --------------------------------------------------------------------------- argument parsing


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``volterra-sym`` (subcommands demo, derive, verify)."""
    common = _Parser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")

    parser = _Parser(
        prog=PROG,
        description="Derive and verify the response (Volterra) kernels of stochastic RNNs. "
        "Without a command, runs the demo on the built-in 1-D Ornstein-Uhlenbeck model.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="{demo,derive,verify,predict,estimate}")

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="derive, print, verify and write the derivation of the built-in model",
        description="Derive the kernels of the built-in model (1-D OU, cubic readout), print them, run a short "
        "Monte Carlo verification and write the derivation as LaTeX and Markdown.",
    )
    demo.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help=f"output folder (default ./{DEFAULT_OUT}/)")
    demo.add_argument("--order", type=_order, metavar="N", help="highest kernel order (default: from the model)")
    demo.add_argument(
        "--paths", type=_paths, default=CLI_CHECK_PATHS, metavar="N",
        help=f"Monte Carlo paths (default {CLI_CHECK_PATHS})",
    )  # fmt: skip
    demo.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    demo.add_argument("--no-verify", action="store_true", help="skip the Monte Carlo verification")
    demo.set_defaults(func=cmd_demo)

    derive = sub.add_parser(
        "derive",
        parents=[common],
        help="derive the kernels of a model file",
        description="Derive the response kernels of MODEL (a TOML model file), print them and optionally "
        "write LaTeX, Markdown, a NumPy module and JSON.",
        epilog="example: volterra-sym derive examples/ou1d_cubic.toml --order 3 --latex ou.tex",
    )
    derive.add_argument("model", metavar="MODEL", help="model file (TOML)")
    _derive_options(derive)
    derive.add_argument("--latex", metavar="F", help="write the derivation as a standalone LaTeX document")
    derive.add_argument("--markdown", metavar="F", help="write the derivation as Markdown")
    derive.add_argument("--module", metavar="F", help="write the kernels as a Python module needing only NumPy")
    derive.add_argument("--json", metavar="F", help="write the kernels as JSON")
    derive.add_argument(
        "--numeric", action="store_true", help="substitute the parameter values of [parameters] before deriving"
    )
    derive.add_argument("--quiet", action="store_true", help="do not print the kernels")
    derive.set_defaults(func=cmd_derive)

    verify = sub.add_parser(
        "verify",
        parents=[common],
        help="check the kernels' prediction against independent references",
        description="Predict E f(h_t) from the kernels of MODEL for the input of its [input] table on its [grid] "
        "and compare with independent references (Gaussian oracle, Monte Carlo). Exit code 1 if the check fails.",
        epilog="example: volterra-sym verify examples/ou1d_cubic.toml --paths 4000 --seed 1 --plot check.png",
    )
    verify.add_argument("model", metavar="MODEL", help="model file (TOML)")
    _derive_options(verify)
    verify.add_argument(
        "--paths", type=_paths, default=CLI_CHECK_PATHS, metavar="N", help=f"Monte Carlo paths ({CLI_CHECK_PATHS})"
    )
    verify.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    verify.add_argument("--plot", metavar="F", help="save a plot of the comparison (needs matplotlib)")
    verify.add_argument(
        "--input", action="append", metavar="EXPR", help="input u(t) for a channel, overriding [input] (repeatable)"
    )
    verify.add_argument("--t-end", type=_positive_float, metavar="T", help="end time, overriding [grid]")
    verify.add_argument("--points", type=_points, metavar="K", help="grid points, overriding [grid]")
    _run_options(verify)
    verify.add_argument(
        "--dt",
        type=_positive_float,
        metavar="DT",
        help="largest Euler step of the coarse run (the Monte Carlo estimate runs DT/2; default: grid step / 4)",
    )
    verify.set_defaults(func=cmd_verify)

    predict = sub.add_parser(
        "predict",
        parents=[common],
        help="the kernels' prediction of E f(h_t) as CSV",
        description="Predict E f(h_t) from the kernels of MODEL for the input of its [input] table on its [grid] "
        "(or --input/--t-end/--points) and write it as CSV: t, the prediction per readout component, the "
        "route's error estimate where it states one, and with --by-order each order's part.",
        epilog="example: volterra-sym predict examples/ou1d_cubic.toml --eps 0.5 --csv prediction.csv",
    )
    predict.add_argument("model", metavar="MODEL", help="model file (TOML)")
    _derive_options(predict)
    predict.add_argument(
        "--input", action="append", metavar="EXPR", help="input u(t) for a channel, overriding [input] (repeatable)"
    )
    predict.add_argument("--t-end", type=_positive_float, metavar="T", help="end time, overriding [grid]")
    predict.add_argument("--points", type=_points, metavar="K", help="grid points, overriding [grid]")
    predict.add_argument("--eps", type=_eps, default=1.0, metavar="E", help="input amplitude eps (default 1)")
    predict.add_argument("--by-order", action="store_true", help="also write each order's part eps^n y^(n)")
    predict.add_argument("--csv", metavar="F", help="write the CSV to F (default: standard output)")
    predict.set_defaults(func=cmd_predict)

    estimate = sub.add_parser(
        "estimate",
        parents=[common],
        help="Monte Carlo estimates of the kernels (correlation functions) with standard errors",
        description="Estimate K^(1) (and K^(2) on all pairs of the given lags) of MODEL by the pathwise (tangent) "
        "Monte Carlo estimator, from unperturbed simulations, with standard errors and the time-step bias "
        "(docs/MATH.md section 9). With --scheduler the paths run on a dask cluster (docs/distributed.md).",
        epilog="example: volterra-sym estimate examples/srnn2d_tanh_nonequilibrium.toml --lags 0:2:0.25 --paths 20000",
    )
    estimate.add_argument("model", metavar="MODEL", help="model file (TOML)")
    estimate.add_argument("--order", type=_positive_int, default=1, metavar="N", help="1 or 2 (default 1)")
    estimate.add_argument(
        "--lags",
        required=True,
        metavar="L",
        help="lags: START:STOP:STEP (STOP included) or a comma list, multiples of --dt; order 2 uses every pair",
    )
    estimate.add_argument(
        "--paths", type=_positive_int, default=DEFAULT_PATHS, metavar="N", help=f"paths (default {DEFAULT_PATHS})"
    )
    estimate.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    estimate.add_argument("--dt", type=_positive_float, default=0.01, metavar="DT", help="time step (default 0.01)")
    estimate.add_argument(
        "--burn-in",
        type=_burn_in,
        metavar="T|auto",
        help="stationary start of a nonlinear model: the unperturbed dynamics run T from h = 0 first "
        "(default: chosen by estimate_kernels)",
    )
    estimate.add_argument("--scheduler", metavar="ADDRESS", help="dask scheduler address, e.g. tcp://host:8786")
    estimate.add_argument("--json", metavar="F", help="write the estimates as JSON")
    estimate.set_defaults(func=cmd_estimate)

    plot = sub.add_parser(
        "plot",
        parents=[common],
        help="draw a kernel, a transfer function or the verification (PNG, SVG, PDF)",
        description="Draw K1 against the lag (k1), K2 as a heat map (k2), the Bode plot of H1 (bode), |H2| as a heat "
        "map (h2) or the verification against Monte Carlo (verify) for MODEL; the format is --out's suffix "
        "(docs/frequency.md). Needs matplotlib.",
        epilog="example: volterra-sym plot examples/ou1d_cubic.toml --what bode --out bode.png",
    )
    plot.add_argument("model", metavar="MODEL", help="model file (TOML)")
    _derive_options(plot)
    plot.add_argument("--what", required=True, choices=("k1", "k2", "bode", "h2", "verify"), help="which figure")
    plot.add_argument("--out", required=True, metavar="F", help="output file: .png, .svg, .pdf, ...")
    plot.add_argument(
        "--paths", type=_paths, default=CLI_CHECK_PATHS, metavar="N",
        help=f"Monte Carlo paths of verify ({CLI_CHECK_PATHS})",
    )  # fmt: skip
    plot.add_argument("--seed", type=int, default=0, metavar="S", help="random seed of verify (default 0)")
    plot.set_defaults(func=cmd_plot)
    return parser


def _run_options(parser: argparse.ArgumentParser) -> None:
    """--eps and --burn-in of the Monte Carlo check."""
    parser.add_argument("--eps", type=_eps, default=1.0, metavar="E", help="input amplitude eps (default 1)")
    parser.add_argument(
        "--burn-in",
        type=_burn_in,
        default="auto",
        metavar="T|auto",
        help="stationary start of a nonlinear model: the unperturbed dynamics run T from h = 0 first; 'auto' "
        "(default): 20 / the slowest relaxation rate at the rest point (reported; checks/burn_in.py)",
    )


def _derive_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--order", type=_order, metavar="N", help="highest kernel order (default: [derive])")
    parser.add_argument(
        "--method",
        choices=tuple(ROUTES),
        help="derivation route (default: [derive], else exact for linear models and galerkin otherwise)",
    )
    for option, methods in route_options().items():  # one flag per option, from the routes' schemas
        flag = option.cli_flag
        if flag is None:
            continue
        where = f" (method {', '.join(methods)})"
        if option.kind == "flag":
            parser.add_argument(
                flag, dest=option.name, action=argparse.BooleanOptionalAction, help=option.help() + where
            )
        else:
            parser.add_argument(
                flag,
                dest=option.name,
                type=_option_type(option),
                metavar=option.name.upper(),
                help=option.help() + where,
            )


def route_options() -> dict[Option, list[str]]:
    """Every option of every registered route (one entry per name) -> the methods that take it.  Routes
    sharing an option name share its :class:`Option` (one flag, one rule), e.g. ``dps``."""
    out: dict[Option, list[str]] = {}
    by_name: dict[str, Option] = {}
    for route in ROUTES.values():
        for option in route.schema:
            if by_name.setdefault(option.name, option) is not option:
                raise AssertionError(f"option {option.name!r} is declared differently by two routes")
            out.setdefault(option, []).append(route.name)
    return out


def _option_type(option: Option) -> Any:
    """argparse's type for ``option``: its schema's parser and check, with the schema's message."""

    def convert(text: str) -> Any:
        if option.choices and option.kind == "value" and text not in option.choices:
            raise argparse.ArgumentTypeError(
                f"expected one of {', '.join(option.choices)} ({option.meaning}), received {text!r}"
            )
        try:
            return option.parse_text(text)
        except VolterraError as exc:
            raise argparse.ArgumentTypeError(str(exc).removeprefix(f"{option.name}: ")) from None

    convert.__name__ = option.name  # argparse names the type in its message
    return convert


def _integer(text: str, low: int, high: int | None, what: str) -> int:
    """One rule, one message per option: an integer in low..high (or >= low)."""
    rule = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {rule} ({what}), received {text!r}") from None
    if value < low or (high is not None and value > high):
        raise argparse.ArgumentTypeError(f"expected {rule} ({what}), received {text!r}")
    return value


def _positive_int(text: str) -> int:
    return _integer(text, 1, None, "a positive count")


def _order(text: str) -> int:
    return _integer(text, 1, limits.MAX_ORDER, "the highest kernel order, limit MAX_ORDER")


def _points(text: str) -> int:
    return _integer(text, 2, limits.MAX_GRID_POINTS, "grid points, limit MAX_GRID_POINTS")


def _paths(text: str) -> int:
    return _integer(text, limits.MIN_VERIFY_PATHS, None, "Monte Carlo paths for a verdict, MIN_VERIFY_PATHS")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, received {text!r}")
    return value


def _eps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number (the input amplitude), received {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number (the input amplitude), received {text!r}")
    return value


def _burn_in(text: str) -> float | str:
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return _positive_float(text)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(f"expected a positive time or 'auto', received {text!r}") from None


def _version() -> str:
    from ._version import __version__

    return __version__


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (also the entry point of ``volterra-sym``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if not debug:  # library warnings as one-line notes, not Python source excerpts
        warnings.formatwarning = lambda message, category, *_, **__: f"volterra-sym: warning: {message}\n"
    try:
        args = build_parser().parse_args(argv)
        if args.command is None:
            args = build_parser().parse_args([*argv, "demo"])
        return args.func(args)
    except (CLIError, VolterraError, OSError) as exc:
        if debug:
            traceback.print_exc()
        _error(_one_line(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except Exception as exc:  # a bug: say so, briefly
        if debug:
            traceback.print_exc()
        _error(f"internal error ({type(exc).__name__}: {_one_line(exc)}); rerun with --debug for the traceback")
        return EXIT_INTERNAL


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        other = f" ({exc.filename2})" if getattr(exc, "filename2", None) else ""
        return _shorten(f"{where}{exc.strerror}{other}")
    text = " ".join(str(exc).split())
    return _shorten(text + _cli_hint(exc, text)) if text else type(exc).__name__


def _shorten(text: str) -> str:
    """At most MAX_MESSAGE characters: echoed arguments (argparse, file names) are cut in the middle."""
    if len(text) <= MAX_MESSAGE:
        return text
    half = MAX_MESSAGE // 2 - 20
    return f"{text[:half]} ...[{len(text) - 2 * half} characters omitted]... {text[-half:]}"


def _cli_hint(exc: BaseException, text: str) -> str:
    """The command-line spelling of the remedy a library message gives in Python terms."""
    from .errors import NotLinearError

    if isinstance(exc, NotLinearError):
        return " (on the command line: --method taylor --lag-degree P, or --method generator for 1-D models)"
    if text.startswith("lag_degree:"):
        return " (on the command line: --lag-degree P)"
    if text.startswith("params:"):
        return " (in a model file: give the value in its [parameters] table)"
    if "to_json()" in text:
        return " (on the command line: --json F)"
    return ""


# --------------------------------------------------------------------------- commands


def cmd_demo(args: argparse.Namespace) -> int:
    """The main job on the built-in model: derive, print, verify, write .tex and .md."""
    text = resources.files("volterra_sym").joinpath("data/default_model.toml").read_text(encoding="utf-8")
    spec = loads_run(text, "<built-in default model>")
    model = spec.model
    print(f"volterra-sym demo: {describe_model(model)}")
    resp = _derive(spec, args.order, None)
    _print_kernels(resp)
    if args.no_verify:
        print("verification: skipped (--no-verify)")
    else:
        try:
            report = _verify(spec, resp, paths=args.paths, seed=args.seed)
        except CLIError as exc:  # not available: the demo goes on
            print(f"verification: skipped ({exc})")
        else:
            print(report)
    out = Path(args.out)
    output_path(out / "derivation.tex", "demo output")  # the folder can be created, or say why not
    written = []
    for suffix, method in ((".tex", "write_latex"), (".md", "write_markdown")):
        target = out / f"derivation{suffix}"
        try:
            _write(resp, method, target)
        except CLIError as exc:
            print(f"{target}: not written ({exc})")
        else:
            written.append(target)
    target = out / "kernels.json"
    write_text_file(target, json_text(_to_json(resp)), "JSON file")
    written.append(target)
    print(f"wrote {len(written)} file(s) to {out}/:")
    for path in written:
        print(f"  {path}")
    return EXIT_OK


def cmd_derive(args: argparse.Namespace) -> int:
    """Derive the kernels of a model file; print and write them."""
    spec = load_run(args.model)
    if args.numeric:
        spec = replace(spec, model=spec.model.with_values())
    outputs = [
        (args.module, "write_module"),  # first: the one a numerical route refuses, before anything is written
        (args.latex, "write_latex"),
        (args.markdown, "write_markdown"),
    ]
    for target, what in [*outputs, (args.json, "JSON file")]:
        if target:
            output_path(target, what.replace("write_", ""))  # every output path refused before any work
    resp = _derive(spec, args.order, args.method, _cli_route_options(args))
    if not args.quiet:
        print(f"{describe_model(spec.model)}")
        _print_kernels(resp)
    for target, method in outputs:
        if target:
            _write(resp, method, Path(target))
            print(f"wrote {target}")
    if args.json:
        write_text_file(args.json, json_text(_to_json(resp)), "JSON file")
        print(f"wrote {args.json}")
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    """Verify a model file's kernels on its input and grid."""
    spec = load_run(args.model).override(args.input, args.t_end, args.points)
    if args.plot:
        output_path(args.plot, "plot")  # before the derivation and the Monte Carlo
    if not spec.has_verification:
        raise CLIError(
            f"{spec.source}: no [input] and [grid] tables to verify on; add them to the file "
            "or pass --input EXPR --t-end T --points K"
        )
    report = _verify(
        spec,
        None,
        order=args.order,
        method=args.method,
        options=_cli_route_options(args),
        paths=args.paths,
        seed=args.seed,
        eps=args.eps,
        burn_in=args.burn_in,
        dt=args.dt,
    )
    print(report)
    if args.plot:
        os.environ.setdefault("MPLBACKEND", "Agg")
        try:
            report.plot(args.plot)
        except ImportError:
            raise CLIError("--plot needs matplotlib; install it with: pip install 'volterra_sym[plot]'") from None
        print(f"wrote {args.plot}")
    passed = report.passed
    if not passed:
        why = "not verified (see the verdict above)" if "not verified" in report.verdict else (
            "the kernels' prediction disagrees with the reference (see the table above)"
        )
        _error(f"verification failed: {why}")
        return EXIT_FAILED
    return EXIT_OK


def cmd_predict(args: argparse.Namespace) -> int:
    """The kernels' prediction of E f(h_t) on a model file's input and grid, as CSV."""
    spec = load_run(args.model).override(args.input, args.t_end, args.points)
    if not spec.has_verification:
        raise CLIError(
            f"{spec.source}: no [input] and [grid] tables to predict on; add them to the file "
            "or pass --input EXPR --t-end T --points K"
        )
    if args.csv:
        output_path(args.csv, "CSV file")  # refused before any work
    model = spec.model if spec.model.is_numeric() else spec.model.with_values()
    t = spec.time_grid()
    u = spec.input_values(t)
    resp = _derive(replace(spec, model=model), args.order, args.method, _cli_route_options(args))
    try:
        value, error = resp.predict(u, t, eps=args.eps, by_order=True, return_error=True)
    except (TypeError, VolterraError):  # a route that states no error
        value, error = resp.predict(u, t, eps=args.eps, by_order=True), None
    parts = np.asarray(value, dtype=float).reshape(resp.order + 1, t.size, -1)
    p = parts.shape[2]
    names = ["y"] if p == 1 else [f"y{k + 1}" for k in range(p)]
    header = ["t", *names]
    cols = [t[:, None], parts.sum(axis=0)]
    if error is not None:
        err = np.abs(np.asarray(error, dtype=float))
        err = err.reshape(-1, t.size, p).sum(axis=0)  # per order (Galerkin) or already summed (closed forms)
        header += [f"{name}_error" for name in names]
        cols.append(err)
    if args.by_order:
        for n in range(resp.order + 1):
            header += [f"{name}_order{n}" for name in names]
            cols.append(parts[n])
    table = np.concatenate(cols, axis=1)
    lines = [",".join(header)] + [",".join(repr(float(x)) for x in row) for row in table]
    text = "\n".join(lines) + "\n"
    if args.csv:
        write_text_file(args.csv, text, "CSV file")
        print(f"{describe_model(model)}; method {resp.method}, order {resp.order}, eps {args.eps:g}")
        print(f"wrote {args.csv} ({t.size} rows: {', '.join(header)})")
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _lag_list(text: str) -> list[float]:
    """``START:STOP:STEP`` (STOP included) or ``a,b,c``."""
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if not all(math.isfinite(x) for x in (start, stop, step)) or step <= 0 or stop < start:
                raise ValueError
            count = (stop - start) / step + 1
            if count > MAX_CLI_LAGS:
                raise CLIError(
                    f"--lags: {text!r} lists about {count:.3g} lags; at most {MAX_CLI_LAGS} on the command line "
                    "(use a larger STEP, or vs.estimate_kernels in Python)"
                )
            return [start + i * step for i in range(int(round(count - 1)) + 1)]
        items = [float(x) for x in text.split(",")]
        if not all(math.isfinite(x) for x in items) or len(items) > MAX_CLI_LAGS:
            raise ValueError
        return items
    except ValueError:
        raise CLIError(
            f"--lags: expected START:STOP:STEP (e.g. 0:2:0.25) or a comma list (e.g. 0.1,0.5,1), received {text!r}"
        ) from None


def cmd_estimate(args: argparse.Namespace) -> int:
    """Monte Carlo kernel estimates of a model file, printed as a table (and JSON)."""
    from .checks.kernel_estimates import estimate_kernels

    spec = load_run(args.model)
    model = spec.model if spec.model.is_numeric() else spec.model.with_values()
    taus = _lag_list(args.lags)
    if not taus:
        raise CLIError("--lags: give at least one lag")
    if args.order not in (1, 2):
        raise CLIError(f"--order: the Monte Carlo estimator gives orders 1 and 2, received {args.order}")
    lags: dict[int, Any] = {1: taus}
    if args.order == 2:
        lags[2] = [[a, b] for a in taus for b in taus]
    if not isinstance(model.initial, Stationary):  # non-stationary starts: the kernels also take s_n
        raise CLIError(
            f"{spec.source}: the command line estimates kernels for the stationary start; use "
            "vs.estimate_kernels in Python for point or Gaussian starts (lags with s_n)"
        )
    if args.json:
        output_path(args.json, "JSON file")  # before the Monte Carlo (its folders are created, as derive does)
    burn: dict[str, Any] = {} if args.burn_in in (None, "auto") else {"burn_in": args.burn_in}
    est = estimate_kernels(
        model, order=args.order, lags=lags, paths=args.paths, seed=args.seed, dt=args.dt, client=args.scheduler,
        **burn,
    )  # fmt: skip
    print(describe_model(model))
    print(f"Monte Carlo kernel estimates: {args.paths} paths, seed {args.seed}, dt {args.dt:g}")
    for n in range(1, args.order + 1):
        for ks in itertools.product(range(model.m), repeat=n):
            k = ks if model.m > 1 else None
            mean, se, bias = est.mean(n, k), est.stderr(n, k), est.bias(n, k)
            label = ",".join(str(i + 1) for i in ks)
            columns = [(mean, se, bias, "")] if mean.ndim == 1 else [
                (mean[:, c], se[:, c], bias[:, c], f" f{c + 1}") for c in range(mean.shape[1])
            ]  # a vector readout: one table per component
            for mc, sc, bc, comp in columns:
                print(f"  K^({n})_[{label}]{comp}     lags          estimate        SE      dt bias")
                for row, m_, s_, b_ in zip(lags[n], mc, sc, bc):
                    where = f"{row:g}" if n == 1 else ", ".join(f"{x:g}" for x in row)
                    print(f"  {where:>22}  {float(m_):>14.6g}  {float(s_):>8.2g}  {float(b_):>9.2g}")
    if args.json:
        write_text_file(args.json, json_text(est.to_json()), "JSON file")
        print(f"wrote {args.json}")
    return EXIT_OK


# --------------------------------------------------------------------------- library calls


def _cli_route_options(args: argparse.Namespace) -> dict[str, Any]:
    """The route options given on the command line (name -> checked value)."""
    return {o.name: getattr(args, o.name) for o in route_options() if getattr(args, o.name, None) is not None}


def _derive(
    spec: RunSpec, order: int | None, method: str | None, options: Mapping[str, Any] | None = None
) -> Response:
    from .derive import derive
    from .routes import get_route

    # default: closed forms for linear models, the Galerkin route (degree chosen to meet its tol) otherwise
    method = method or spec.method or ("galerkin" if _nonlinear(spec.model) else "exact")
    route = get_route(method)
    order = order or spec.order or (None if route.default_order else DEFAULT_ORDER)
    settings = {**spec.options, **(options or {})}  # the command line over the file's [derive]
    # a file's (or flag's) option is moot for routes that do not take it (e.g. lag_degree with --method exact)
    options = {k: v for k, v in settings.items() if v is not None and route.accepts(k)}
    return derive(spec.model, order, method=method, **options)


def _verify(
    spec: RunSpec,
    resp: Response | None,
    *,
    order: int | None = None,
    method: str | None = None,
    options: Mapping[str, Any] | None = None,
    paths: int | None = None,
    seed: int | None = None,
    eps: float = 1.0,
    burn_in: float | str | None = "auto",
    dt: float | None = None,
) -> VerifyReport:
    from .workflows import verify

    model = spec.model if spec.model.is_numeric() else spec.model.with_values()
    t = spec.time_grid()
    u = spec.input_values(t)
    run: dict[str, Any] = {k: v for k, v in (("paths", paths), ("seed", seed)) if v is not None}
    run["eps"] = eps
    if dt is not None:  # Euler steps per grid interval of the coarse run, from the largest step allowed
        run["substeps"] = max(1, math.ceil(float(np.max(np.diff(t))) / dt - 1e-9))
    check_request(model, u, t, **run)  # paths, grid and Monte Carlo work: refused before deriving
    if resp is None or not spec.model.is_numeric():
        resp = _derive(replace(spec, model=model), order, method, options)
    if burn_in == "auto":
        burn_in = _auto_burn_in(model, resp)
    elif burn_in is not None and not _needs_burn_in(model):
        burn_in = None  # a known initial law: nothing to burn in
    if burn_in is not None:
        run["burn_in"] = burn_in
    if dt is not None and _is_euler(model):
        print(f"Euler steps: {run['substeps']} per grid interval (--dt {dt:g}), Monte Carlo at twice that")
    return verify(model, u, t, response=resp, **run)


def _is_euler(model: Diffusion) -> bool:
    from .checks.oracle import linear_arrays
    from .errors import NotLinearError

    try:
        linear_arrays(model)
    except NotLinearError:
        return True
    return False


def _nonlinear(model: Diffusion) -> bool:
    """Not a linear SRNN: a drift not affine in the state, or a noise or coupling that depends on it (read off
    the expressions; parameters may stay symbolic)."""
    import sympy as sp

    state = set(model.state)
    J = model.drift.jacobian(sp.Matrix(model.state))
    return any(e.free_symbols & state for e in [*J, *model.diffusion, *model.coupling])


def _needs_burn_in(model: Diffusion) -> bool:
    """A stationary start whose law is not known in closed form (a nonlinear model)."""
    return isinstance(model.initial, Stationary) and _is_euler(model)


def _auto_burn_in(model: Diffusion, resp: Response) -> float | None:
    """The library's one burn-in rule (checks/burn_in.py: RELAXATION_TIMES / the slowest relaxation rate at
    the rest point the deterministic flow reaches from h = 0), printed; None when the start needs none."""
    if not _needs_burn_in(model):
        return None
    from .checks.burn_in import RELAXATION_TIMES, relaxation_burn_in

    try:
        burn, rate, _ = relaxation_burn_in(model, 0.01)
    except VolterraError as exc:
        raise CLIError(
            f"--burn-in: no automatic burn-in for this model ({exc}); give --burn-in T (the time the unperturbed "
            "dynamics run from h = 0 first)"
        ) from None
    why = f"auto: {RELAXATION_TIMES:g} / the slowest relaxation rate {rate:.3g} at the rest point"
    print(f"burn-in: {burn:.3g} ({why})")
    return burn

def _write(resp: Response, method: str, target: Path) -> None:
    writer = getattr(resp, method, None)
    what = {"write_latex": "LaTeX export", "write_markdown": "Markdown export", "write_module": "module export"}[method]
    if writer is None:
        raise CLIError(f"{what} is not available in this version of volterra_sym")
    if target.exists() and target.is_dir():
        raise CLIError(f"{target}: is a folder; give a file name")
    try:  # like the library (and demo --out), missing parent folders are created
        writer(str(target))
    except ImportError as exc:
        raise CLIError(f"{what} is not available in this version of volterra_sym ({exc})") from None


def _to_json(resp: Response) -> dict[str, Any]:
    return resp.to_json()


def _print_kernels(resp: Response) -> None:
    print(resp.summary())


def describe_model(model: Diffusion) -> str:
    """A one-paragraph description of a model: its SDE, readout and initial law."""
    state = ", ".join(map(str, model.state))
    drift = ", ".join(map(str, model.drift))
    readout = list(model.readout) if model.vector_readout else model.readout[0]
    return (
        f"{model.name}\n  state ({state}), dh = [({drift}) + eps*{model.coupling.tolist()} u] dt "
        f"+ {model.diffusion.tolist()} dW\n  y = {readout}, h_0 ~ {model.initial!r}"
        + (f"\n  parameter values: {dict(model.params)}" if model.params else "")
    )


def cmd_plot(args: argparse.Namespace) -> int:
    """One figure of a model file (volterra_sym.plots) written to --out."""
    os.environ.setdefault("MPLBACKEND", "Agg")
    from . import plots

    target = output_path(args.out, "plot")
    suffix = target.suffix.lower().lstrip(".")
    if suffix not in ("png", "svg", "pdf", "eps", "ps", "jpg", "jpeg", "tif", "tiff", "webp", "pgf"):
        raise CLIError(f"--out: {args.out!r} needs a figure suffix such as .png, .svg or .pdf")
    spec = load_run(args.model)
    if args.what == "verify":
        if suffix not in ("png", "svg", "pdf"):
            raise CLIError(f"--out: the verify plot is written as PNG, SVG or PDF; received {args.out!r}")
        spec = spec.override(None, None, None)
        if not spec.has_verification:
            raise CLIError(f"{spec.source}: no [input] and [grid] tables to verify on; add them to the file")
        report = _verify(
            spec, None, order=args.order, method=args.method, options=_cli_route_options(args),
            paths=args.paths, seed=args.seed,
        )
        report.plot(target)
    else:
        order = args.order or (2 if args.what in ("k2", "h2") else None)
        resp = _derive(spec, order, args.method, _cli_route_options(args))
        draw: dict[str, Any] = {
            "k1": plots.plot_kernel1, "k2": plots.plot_kernel2, "bode": plots.plot_bode, "h2": plots.plot_transfer2
        }
        plots.save_figure(draw[args.what](resp), target)
    print(f"wrote {target}")
    return EXIT_OK

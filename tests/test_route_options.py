"""Route options declared once (volterra_sym/routes/options.py): the API, the command line and model files
all read the routes' schemas, so an option and its range exist in one place.

Trusts: the published limits (vs.limits) and argparse; the expected messages and ranges below are written
from the limits, not read back from the schemas under test.
"""

from __future__ import annotations

from typing import Any

import pytest

import volterra_sym as vs
from volterra_sym import limits
from volterra_sym.cli import main
from volterra_sym.modelfile import loads_run
from volterra_sym.routes import ROUTES
from volterra_sym.routes.base import Route
from volterra_sym.routes.exact import ExactResponse
from volterra_sym.routes.options import Option

OU_FILE = '[model]\nkind="OU"\nA=1\nC=1\nsigma=1\nreadout="h1^2"\n'


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _help(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("COLUMNS", "400")  # one line per flag
    with pytest.raises(SystemExit) as exc:
        main(["derive", "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


def test_every_option_has_one_flag_and_one_file_key(capsys, monkeypatch):
    out = _help(capsys, monkeypatch)
    names: dict[str, Option] = {}
    for route in ROUTES.values():
        assert route.response.method == route.name  # one source of the name
        for opt in route.schema:
            assert names.setdefault(opt.name, opt) is opt, f"{opt.name} declared twice, differently"
            if opt.cli_flag:
                assert opt.cli_flag in out
    for name in ("lag_degree", "degree", "dps", "cells", "tol", "stationary_degree", "max_memory"):
        assert name in names
        loads_run(OU_FILE + f"[derive]\n{name} = 20\n", "m.toml")  # a valid value in every case


@pytest.mark.parametrize(
    ("method", "option", "limit", "low"),
    [("taylor", "lag_degree", "MAX_LAG_DEGREE", 0), ("galerkin", "degree", "MAX_GALERKIN_DEGREE", 1)],
)
def test_limits_are_the_same_in_api_model_files_and_cli(capsys, method, option, limit, low):
    top = getattr(limits, limit)
    ou = vs.OU(1.0, 1.0, 1.0, readout="h1")
    for bad in (top + 1, low - 1):
        with pytest.raises(vs.ArgumentError, match=rf"^{option}: .*{low}\.\.{top}"):
            vs.derive(ou, 1, method=method, **{option: bad})
        with pytest.raises(vs.ModelError, match=rf"{option}.*{low}\.\.{top}"):
            loads_run(OU_FILE + f'[derive]\nmethod="{method}"\n{option} = {bad}\n', "m.toml")
    flag = "--" + option.replace("_", "-")
    code, _, err = _cli(capsys, "derive", "examples/ou1d_cubic.toml", "--method", method, flag, str(top + 1))
    assert code == 2 and f"{low}..{top}" in err
    with limits.overridden(**{limit.lower(): top + 5}):  # one constant moves all three
        assert loads_run(OU_FILE + f"[derive]\n{option} = {top + 1}\n", "m.toml").options[option] == top + 1


def test_wrong_types_are_refused_by_every_route_with_the_option_named():
    ou = vs.OU(1.0, 1.0, 1.0, readout="h1")
    cases: dict[str, dict[str, Any]] = {
        "exact": {"dps": 10, "simplify": "yes"},
        "taylor": {"dps": 2.5, "stationary_degree": 0},
        "galerkin": {"tol": float("nan"), "seed": -1, "max_memory": True},
    }
    for method, bad in cases.items():
        required = {"taylor": {"lag_degree": 2}, "galerkin": {"degree": 4}}.get(method, {})
        for name, value in bad.items():
            with pytest.raises(vs.ArgumentError, match=f"^{name}: expected"):
                vs.derive(ou, 1, method=method, **required, **{name: value})


def test_a_new_route_option_reaches_api_cli_and_files_by_one_declaration(monkeypatch, capsys):
    """A route declaring demo_order (0 or 2, default 2) once (small_noise declares noise_order the same way):
    derive checks it, the CLI offers --demo-order and model files take demo_order, with no other change."""
    seen: dict[str, Any] = {}

    class Response(ExactResponse):
        pass

    class NoiseRoute(Route):
        name = "noise_demo"
        summary = "a route of this test"
        schema = (Option("demo_order", "int", "an order of this test route", default=2, choices=(0, 2)),)
        default_order = True
        response = Response

        def _derive(self, model: vs.Diffusion, order: int | None, **options: Any) -> vs.Response:
            seen.update(options)
            return vs.derive(model, order)

    monkeypatch.setitem(ROUTES, "noise_demo", NoiseRoute())
    assert Response.method == "noise_demo"
    ou = vs.OU(1.0, 1.0, 1.0, readout="h1")
    vs.derive(ou, 1, method="noise_demo")
    assert seen == {"demo_order": 2}
    vs.derive(ou, 1, method="noise_demo", demo_order=0)
    assert seen == {"demo_order": 0}
    with pytest.raises(vs.ArgumentError, match="^demo_order: expected one of 0, 2"):
        vs.derive(ou, 1, method="noise_demo", demo_order=1)
    assert loads_run(OU_FILE + "[derive]\ndemo_order = 0\n", "m.toml").options == {"demo_order": 0}
    with pytest.raises(vs.ModelError, match="demo_order"):
        loads_run(OU_FILE + "[derive]\ndemo_order = 1\n", "m.toml")
    out = _help(capsys, monkeypatch)
    assert "--demo-order" in out and "(method noise_demo)" in out


def test_every_derive_path_goes_through_the_limits_of_derive():
    """vs.derive_generator and vs.taylor_kernels refuse what vs.derive refuses, before any work."""
    wide = vs.OU(1.0, [[1.0, 1.0, 1.0, 1.0]], 1.0, readout="h1")  # 4 inputs: 4^12 kernels at order 12
    for call in (
        lambda: vs.derive(wide, 12, method="generator"),
        lambda: vs.derive_generator(wide, 12),
        lambda: vs.taylor_kernels(wide, 12, 1),
    ):
        with pytest.raises(vs.ArgumentError, match="^order: .*MAX_KERNELS"):
            call()
    with limits.overridden(max_terms=3):
        big = vs.OU(1.0, 1.0, 1.0, readout="h1 + h1**2 + h1**3 + h1**4")
        for call in (lambda: vs.derive_generator(big, 1), lambda: vs.taylor_kernels(big, 1, 1)):
            with pytest.raises(vs.VolterraError, match="MAX_TERMS"):
                call()

"""The Response contract on every registered route (volterra_sym/response.py, its module docstring).

For each route of ``routes.ROUTES`` the route's own small contract model (``Route.contract_case()``,
declared beside the route) is derived once; every member of the contract then either works (finite values
of the documented shapes) or refuses in its one documented sentence (``ContractCase.refuses``), and the
validation rows (one mistake, one class, the argument named first) run on every route.  A route registered
without a contract model fails here.

Trusts: the public API only; values are checked for shape, finiteness and agreement between members of
the same Response (kernel vs kernel_values, predict by order vs total), not for correctness (each route
is checked against an independent reference in its own test file).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import volterra_sym as vs
from volterra_sym.routes import ROUTES
from volterra_sym.routes.base import ContractCase

pytestmark = pytest.mark.filterwarnings("ignore::volterra_sym.TruncationWarning")  # Taylor: documented
T = np.linspace(0.0, 0.3, 16)
NAMES = sorted(ROUTES)
_CACHE: dict[str, tuple[ContractCase, vs.Response]] = {}


def _derived(name: str) -> tuple[ContractCase, vs.Response]:
    if name not in _CACHE:
        case = ROUTES[name].contract_case()
        assert case is not None, f"route {name!r} declares no contract model (Route.contract_case)"
        _CACHE[name] = (case, vs.derive(case.model, case.order, method=name, **case.options))
    return _CACHE[name]


def _u(resp: vs.Response) -> np.ndarray:
    return np.stack([np.sin((k + 1) * T) for k in range(resp.model.m)], axis=-1).reshape(T.size, -1)


def _lags(resp: vs.Response, n: int) -> np.ndarray:
    width = n if resp.stationary else n + 1
    return np.full((3, width), 0.2) * np.arange(1, 4)[:, None]


#: each member of the contract, called on a Response with small arguments; returns something to check
MEMBERS: dict[str, Callable[[vs.Response, Any], Any]] = {
    "kernel": lambda r, tmp: r.kernel(1, 0),
    "kernel_values": lambda r, tmp: r.kernel_values(1, 0, _lags(r, 1)),
    "mean0": lambda r, tmp: r.mean0,
    "predict": lambda r, tmp: r.predict(_u(r), T, 0.1, by_order=True),
    "lower": lambda r, tmp: r.lower("numpy").kernel(1, (0,))(*_lags(r, 1).T),
    "kernel_taylor": lambda r, tmp: r.kernel_taylor(1, (0,), (0,)),
    "feature_coefficients": lambda r, tmp: r.feature_coefficients(1, 1),
    # Galerkin refuses a P below e |lambda_max| t (its series in P cannot have converged): P = 8 there
    "predict_features": lambda r, tmp: r.predict_features(_u(r), T, 8 if r.method == "galerkin" else 1, 1),
    "lags": lambda r, tmp: r.lags(1),
    "stationary": lambda r, tmp: str(r.stationary),
    "symmetric_kernel": lambda r, tmp: r.symmetric_kernel(1, (0,))(np.array([0.2, 0.4])),
    "summary": lambda r, tmp: r.summary(),
    "to_json": lambda r, tmp: json.dumps(r.to_json(), default=str),
    "write_module": lambda r, tmp: r.write_module(str(tmp / "kernels.py")),
}
#: the document members (0.2-0.9 s each per route: the slow run)
DOCUMENTS: dict[str, Callable[[vs.Response, Any], Any]] = {
    "derivation": lambda r, tmp: r.derivation,
    "to_latex": lambda r, tmp: r.to_latex(),
    "to_markdown": lambda r, tmp: r.to_markdown(),
}


def test_every_route_declares_a_contract_model():
    missing = [name for name, route in ROUTES.items() if route.contract_case() is None]
    assert not missing, f"routes without a contract model (Route.contract_case): {missing}"
    for name, route in ROUTES.items():
        assert route.response.method == name


def _members(name: str, members: dict[str, Callable[[vs.Response, Any], Any]], tmp: Any) -> None:
    case, resp = _derived(name)
    assert set(case.refuses) <= set(MEMBERS) | set(DOCUMENTS), f"{name}: refuses members outside the contract"
    assert resp.method == name and resp.order == case.order
    for member, call in members.items():
        if member in case.refuses:
            with pytest.raises(vs.ArgumentError) as info:
                call(resp, tmp)
            assert str(info.value).startswith(case.refuses[member]), f"{name}.{member}: {info.value}"
            continue
        value = call(resp, tmp)
        assert value is not None, f"{name}.{member} returned None"
        if isinstance(value, str):
            assert value.strip(), f"{name}.{member} is empty"
        elif isinstance(value, np.ndarray):
            assert np.all(np.isfinite(value)), f"{name}.{member}: non-finite values"


@pytest.mark.parametrize("name", NAMES)
def test_every_member_works_or_refuses_in_its_documented_sentence(name, tmp_path):
    _members(name, MEMBERS, tmp_path)
    case, resp = _derived(name)
    # members agree with each other: kernel(1, 0) at the lags = kernel_values; predict's orders sum up
    lags = _lags(resp, 1)
    kv = np.asarray(resp.kernel_values(1, 0, lags), dtype=float)
    assert kv.shape == (3,)
    parts = resp.predict(_u(resp), T, 0.1, by_order=True)
    total = resp.predict(_u(resp), T, 0.1)
    assert parts.shape == (case.order + 1, T.size) and total.shape == (T.size,)
    np.testing.assert_allclose(parts.sum(axis=0), total, rtol=1e-12, atol=1e-14)
    low = np.asarray(resp.lower("numpy").kernel(1, (0,))(*lags.T), dtype=float)
    np.testing.assert_allclose(low, kv, rtol=1e-8, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_route_writes_its_documents(name, tmp_path):
    _members(name, DOCUMENTS, tmp_path)
    _, resp = _derived(name)
    assert resp.derivation.steps[0].key == "model" and len(resp.derivation.steps) > 4
    assert "\\begin{document}" in resp.to_latex() and resp.to_markdown().startswith("#")


def _bad_rows(resp: vs.Response) -> list[tuple[str, Callable[[], Any], type[vs.VolterraError], str]]:
    u, bad_t = _u(resp), np.array([0.0, 0.5, 0.4, 1.0])
    nan_u = u.copy()
    nan_u[3] = np.nan
    return [
        ("bad grid", lambda: resp.predict(np.ones((4, resp.model.m)), bad_t), vs.InputError, "t"),
        ("NaN input", lambda: resp.predict(nan_u, T), vs.InputError, "u"),
        ("eps as text", lambda: resp.predict(u, T, eps="0.5"), vs.InputError, "eps"),
        ("by_order", lambda: resp.predict(u, T, by_order="yes"), vs.ArgumentError, "by_order"),
        ("k", lambda: resp.kernel_values(1, (resp.model.m + 3,), [[0.1] * _lags(resp, 1).shape[1]]),
         vs.ArgumentError, "k"),
        ("n", lambda: resp.kernel_values(resp.order + 1, 0, _lags(resp, resp.order + 1)), vs.ArgumentError, "n"),
        ("component", lambda: resp.kernel_values(1, 0, _lags(resp, 1), component=3), vs.ArgumentError,
         "component"),
        ("lags", lambda: resp.kernel_values(1, 0, np.full((2, 7), 0.1)), vs.InputError, "lags"),
    ]


@pytest.mark.parametrize("name", NAMES)
def test_validation_rows_run_on_every_route(name):
    case, resp = _derived(name)
    route = ROUTES[name]
    rows = _bad_rows(resp) + [
        ("unknown option", lambda: vs.derive(case.model, case.order, method=name, lag_degre=2), vs.ArgumentError,
         "lag_degre"),
        ("order 0", lambda: vs.derive(case.model, 0, method=name, **case.options), vs.ArgumentError, "order"),
    ]
    if not route.default_order:
        rows.append(("no order", lambda: vs.derive(case.model, method=name, **case.options), vs.ArgumentError,
                     "order"))
    for opt in route.schema:
        if opt.kind in ("int", "number", "flag"):
            rows.append((f"option {opt.name}", lambda o=opt: vs.derive(
                case.model, case.order, method=name, **{**case.options, o.name: "text"}), (opt.error), opt.name))
        if opt.required:
            rest = {k: v for k, v in case.options.items() if k != opt.name}
            rows.append((f"missing {opt.name}", lambda r=rest: vs.derive(case.model, case.order, method=name, **r),
                         vs.ArgumentError, opt.name))
    for what, call, cls, word in rows:
        with pytest.raises(vs.VolterraError) as info:
            call()
        message = str(info.value)
        assert type(info.value) is cls, f"{name} {what}: {type(info.value).__name__}: {message}"
        assert re.match(rf"{re.escape(word)}(\(.*?\))?(\[.*?\])?: ", message), f"{name} {what}: {message}"

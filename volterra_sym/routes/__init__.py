"""Derivation routes: one module per route, registered here by name.

:func:`get_route` is the only place a ``method`` name is resolved; see
:mod:`volterra_sym.routes.base` for the interface and docs/architecture.md for
how to add a route.
"""

from __future__ import annotations

from ..errors import ArgumentError, describe
from ..model.parsing import lookalike_note
from .base import Route
from .exact import ExactRoute
from .galerkin import GalerkinRoute
from .generator import GeneratorRoute
from .small_noise import SmallNoiseRoute
from .taylor import TaylorRoute

#: every route, by its ``method=`` name (adding a route: one line here)
ROUTES: dict[str, Route] = {
    route.name: route for route in (ExactRoute(), TaylorRoute(), GeneratorRoute(), GalerkinRoute(), SmallNoiseRoute())
}


def get_route(method: object) -> Route:
    """The route registered as ``method`` (clear error listing the names otherwise)."""
    if isinstance(method, str) and method in ROUTES:
        return ROUTES[method]
    note = lookalike_note(method, ROUTES) if isinstance(method, str) else ""
    raise ArgumentError(f"method: expected one of {tuple(ROUTES)}, received {describe(method)}{note}")


__all__ = ["ROUTES", "Route", "get_route"]

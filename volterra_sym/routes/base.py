"""The route interface: what every derivation route provides.

A *route* turns a :class:`~volterra_sym.model.Diffusion` into a
:class:`~volterra_sym.response.Response` (kernels, zeroth-order term, derivation
record, prediction).  :func:`volterra_sym.derive` looks the route up by name once
(:func:`volterra_sym.routes.get_route`); nothing else in the package compares
``method`` strings.  Adding a route = one module with a :class:`Route` subclass
and its :class:`Response` subclass, plus one line in ``routes/__init__.py``
(docs/architecture.md walks through it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ArgumentError
from ..model.parsing import lookalike_note


def _cut(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."

if TYPE_CHECKING:
    from ..model.diffusion import Diffusion
    from ..response import Response


class Route(ABC):
    """A derivation route.

    Class attributes
    ----------------
    name : the ``method=`` name.
    summary : one line for listings (CLI help, docs).
    options : keyword options the route accepts, name -> one-line meaning.
    default_order : True when the route can choose the order itself (``order=None``).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    options: ClassVar[Mapping[str, str]] = {}
    default_order: ClassVar[bool] = False

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Refuse options this route does not take (one message for every route)."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(sorted(self.options)) or "no options"
            note = "".join(lookalike_note(u, self.options) for u in unknown)
            raise ArgumentError(
                f"{_cut(unknown[0])}: method={self.name!r} does not take {', '.join(_cut(u) for u in unknown)} "
                f"(it takes: {takes}); drop it or choose another method{note}"
            )

    def accepts(self, option: str) -> bool:
        """Whether ``option`` is meaningful for this route (e.g. the CLI's ``--lag-degree``)."""
        return option in self.options

    @abstractmethod
    def derive(self, model: Diffusion, order: int | None, **options: Any) -> Response:
        """Kernels of ``model`` up to ``order`` (validated by :func:`volterra_sym.derive`)."""

    def __repr__(self) -> str:
        return f"<route {self.name!r}: {self.summary}>"

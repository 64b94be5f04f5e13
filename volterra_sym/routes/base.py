"""The route interface: what every derivation route provides.

A *route* turns a :class:`~volterra_sym.model.Diffusion` into a
:class:`~volterra_sym.response.Response` (kernels, zeroth-order term, derivation
record, prediction).  :func:`volterra_sym.derive` looks the route up by name once
(:func:`volterra_sym.routes.get_route`); nothing else in the package compares
``method`` strings.  Adding a route = one folder with a :class:`Route` subclass
(its options one :class:`~volterra_sym.routes.options.Option` each) and its :class:`Response`
subclass, one line in ``routes/__init__.py`` and one contract model (:meth:`Route.contract_case`)
(docs/architecture.md walks through it).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import ArgumentError
from ..model.parsing import lookalike_note
from ..validate import check_order
from .options import Option, check_schema


def _cut(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."

if TYPE_CHECKING:
    from ..model.diffusion import Diffusion
    from ..response import Response


@dataclass(frozen=True)
class ContractCase:
    """The small model a route's contract test runs on (tests/test_route_contract.py).

    model, order, options : what ``derive`` is called with (seconds at most).
    refuses : Response members the route does not provide -> the start of the one documented sentence
        it refuses them with (an ArgumentError), e.g. ``{"write_module": "write_module: method='generator'
        computes its kernels numerically"}``; every other member must work.
    """

    model: Diffusion
    order: int
    options: Mapping[str, object] = field(default_factory=dict)
    refuses: Mapping[str, str] = field(default_factory=dict)


class Route(ABC):
    """A derivation route.

    Class attributes
    ----------------
    name : the ``method=`` name (also the ``method`` of the route's Response: written once, here).
    summary : one line for listings (CLI help, docs).
    schema : the keyword options, one :class:`~volterra_sym.routes.options.Option` each (type, range,
        default, help, CLI flag); ``options`` is the same as a name -> Option mapping.
    default_order : True when the route can choose the order itself (``order=None``).
    response : the route's Response class (its ``method`` is set to ``name``).

    :meth:`derive` checks the options and the order once, for every route, then calls :meth:`_derive`
    with every option present (defaults filled in, values checked).
    """

    name: ClassVar[str]
    summary: ClassVar[str]
    schema: ClassVar[tuple[Option, ...]] = ()
    options: ClassVar[Mapping[str, Option]] = {}
    default_order: ClassVar[bool] = False
    response: ClassVar[type[Response]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.options = check_schema(cls.schema)
        if "response" in cls.__dict__ and "name" in cls.__dict__:
            cls.response.method = cls.name

    def refuse_unknown(self, options: Mapping[str, Any]) -> None:
        """Refuse options this route does not take (one message for every route)."""
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            takes = ", ".join(sorted(self.options)) or "no options"
            note = "".join(lookalike_note(u, self.options) for u in unknown)
            raise ArgumentError(
                f"{_cut(unknown[0])}: method={self.name!r} does not take {', '.join(_cut(u) for u in unknown)} "
                f"(it takes: {takes}); drop it or choose another method{note}"
            )

    def check_options(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """Unknown options refused, then each value checked against its :class:`Option`; returns every
        option of the schema (its default where not given; a required one missing is refused)."""
        self.refuse_unknown(options)
        checked: dict[str, Any] = {}
        for opt in self.schema:
            value = options.get(opt.name)
            if value is None:
                if opt.required:
                    raise ArgumentError(f"{opt.name}: method={self.name!r} needs {opt.required}")
                checked[opt.name] = opt.default
            else:
                checked[opt.name] = opt.validate(value)
        return checked

    def accepts(self, option: str) -> bool:
        """Whether ``option`` is meaningful for this route (e.g. the CLI's ``--lag-degree``)."""
        return option in self.options

    def derive(self, model: Diffusion, order: int | None, **options: Any) -> Response:
        """Kernels of ``model`` up to ``order`` (the model is validated by :func:`volterra_sym.derive`):
        options checked, the order required unless ``default_order``, then the route's :meth:`_derive`."""
        self.refuse_unknown(options)
        if order is None and not self.default_order:
            raise ArgumentError(f"order: method={self.name!r} needs an explicit order, e.g. order=2")
        checked = self.check_options(options)
        return self._derive(model, None if order is None else check_order(order), **checked)

    @abstractmethod
    def _derive(self, model: Diffusion, order: int | None, **options: Any) -> Response:
        """The route's work; ``options`` holds every option of the schema, checked (None: not given)."""

    def contract_case(self) -> ContractCase | None:
        """The route's contract model (every registered route declares one beside it; None fails the test)."""
        return None

    def __repr__(self) -> str:
        return f"<route {self.name!r}: {self.summary}>"

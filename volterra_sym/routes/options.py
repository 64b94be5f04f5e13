"""A route's options, declared once: :class:`Option` (type, range, default, help, CLI flag).

Each route lists its options as a tuple of :class:`Option` (``Route.schema``).  From that one
declaration

* the route base class checks the keyword options of ``derive`` (unknown names, required options,
  types and ranges; defaults filled in) before the route's ``_derive`` runs;
* the command line builds one flag per option name over every registered route (``--lag-degree``,
  ``--degree``, ``--dps``, ...) and parses its text with :meth:`Option.parse`;
* model files read the same names in their ``[derive]`` table through :meth:`Option.validate`.

Ranges that are resource limits name the constant of :mod:`volterra_sym.limits` (``limit=``) and
read it when checking, so ``vs.limits.configure`` moves API, CLI and model files together.  An option
of the same name in two routes must be declared by the same :class:`Option` object (tested).

Example (a new route's option, the whole declaration)::

    NOISE_ORDER = Option("noise_order", "int", "order of the small-noise expansion (0 or 2)",
                         default=2, choices=(0, 2))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import limits
from ..errors import ArgumentError, VolterraError, describe
from ..validate import check_flag, check_int

#: option kinds: an integer, a positive finite number, True/False, or a value checked by ``check``
KINDS = ("int", "number", "flag", "value")


@dataclass(frozen=True)
class Option:
    """One keyword option of a route.

    name : the keyword (``lag_degree``); the CLI flag is ``--`` + name with ``-`` for ``_`` unless ``flag``.
    kind : ``"int"`` (``minimum`` .. the ``limit`` constant of vs.limits, or ``choices``), ``"number"``
        (positive and finite), ``"flag"`` (True/False) or ``"value"`` (checked by ``check``).
    meaning : one line of help (also the hint of error messages).
    default : the value when the option is not given (None: the route decides, or ``required``).
    required : when not None, the option must be given; the text says what it is, with an example,
        e.g. ``"the Taylor degree in the lags, e.g. lag_degree=6"``.
    flag : the CLI flag ("" = no CLI flag: the option is not expressible as text).
    in_files : whether a model file's ``[derive]`` table may set it.
    check : for ``"value"`` options, a function value -> checked value (raises ArgumentError).
    parse : for ``"value"`` options on the CLI, a function text -> value.
    choices : allowed values (``"int"``) or the CLI's choices (``"value"`` options that take names).
    error : the error class of a bad value (ArgumentError; GridError for the generator's cells).
    form : for ``"value"`` options, what a valid value looks like (help and messages).
    """

    name: str
    kind: str
    meaning: str
    default: Any = None
    minimum: int = 0
    limit: str | None = None
    required: str | None = None
    flag: str | None = None
    in_files: bool = True
    check: Callable[[Any], Any] | None = None
    parse: Callable[[str], Any] | None = None
    choices: tuple[Any, ...] = ()
    error: type[VolterraError] = ArgumentError
    form: str = "a value"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Option {self.name!r}: kind must be one of {KINDS}")
        if self.limit is not None and not hasattr(limits, self.limit):
            raise ValueError(f"Option {self.name!r}: vs.limits has no {self.limit}")

    # ---- the flag and the help ------------------------------------------------------
    @property
    def cli_flag(self) -> str | None:
        """``--lag-degree`` for ``lag_degree``; None when the option has no CLI form."""
        if self.flag == "":
            return None
        return self.flag or "--" + self.name.replace("_", "-")

    @property
    def maximum(self) -> int | None:
        """The current upper bound (the vs.limits constant named by ``limit``)."""
        return None if self.limit is None else int(getattr(limits, self.limit))

    def rule(self) -> str:
        """What a valid value is, in words (used by every message about this option)."""
        if self.kind == "int":
            if self.choices:
                return "one of " + ", ".join(str(c) for c in self.choices)
            top = self.maximum
            rng = f"an integer >= {self.minimum}" if top is None else f"an integer in {self.minimum}..{top}"
            return rng + (f", limit {self.limit}" if self.limit else "")
        if self.kind == "number":
            return "a positive number"
        if self.kind == "flag":
            return "True or False"
        return "one of " + ", ".join(repr(c) for c in self.choices) if self.choices else self.form

    def help(self) -> str:
        """One line for listings and ``--help``: the meaning, the rule and the default."""
        default = "" if self.default is None else f"; default {self.default!r}"
        need = "; required" if self.required else default
        return f"{self.meaning} ({self.rule()}{need})"

    # ---- checking --------------------------------------------------------------------
    def validate(self, value: Any, *, bounded: bool = True) -> Any:
        """The checked value (ArgumentError naming the option otherwise).  ``bounded=False`` skips the
        vs.limits bound (a route's core may build above it, e.g. the Galerkin degree p + 2)."""
        try:
            return self._validate(value, bounded)
        except ArgumentError as exc:
            if self.error is ArgumentError:
                raise
            raise self.error(str(exc)) from None

    def _validate(self, value: Any, bounded: bool) -> Any:
        hint = f" ({self.meaning}" + (f", limit {self.limit})" if self.limit and bounded else ")")
        if self.kind == "int":
            if self.choices:
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value not in self.choices:
                    raise ArgumentError(f"{self.name}: expected {self.rule()}{hint}, received {describe(value)}")
                return int(value)
            top = self.maximum if bounded else None
            if top is not None and isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value > top:
                raise ArgumentError(
                    f"{self.name}: expected an integer in {self.minimum}..{top}{hint}, received {value}; ask for at "
                    f"most {top}, or raise the limit with vs.limits.configure({str(self.limit).lower()}=...)"
                )
            return check_int(value, self.name, minimum=self.minimum, maximum=top, hint=hint)
        if self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not (
                math.isfinite(float(value)) and float(value) > 0
            ):
                raise ArgumentError(f"{self.name}: expected a positive number{hint}, received {describe(value)}")
            return float(value)
        if self.kind == "flag":
            return check_flag(value, self.name)
        return value if self.check is None else self.check(value)

    def parse_text(self, text: str) -> Any:
        """A CLI argument -> the checked value (ArgumentError without the option's name otherwise)."""
        value: Any
        try:
            if self.kind == "int":
                value = int(text)
            elif self.kind == "number":
                value = float(text)
            elif self.parse is not None:
                value = self.parse(text)
            else:
                value = text
        except ValueError:
            raise ArgumentError(f"{self.name}: expected {self.rule()} ({self.meaning}), received {text!r}") from None
        return self.validate(value)


def check_schema(options: tuple[Option, ...]) -> dict[str, Option]:
    """The schema as a name -> Option mapping (duplicate names refused when a route is defined)."""
    out: dict[str, Option] = {}
    for opt in options:
        if opt.name in out:
            raise ValueError(f"option {opt.name!r} declared twice")
        out[opt.name] = opt
    return out


# ---- options two routes share (one object, so one flag and one rule) ---------------------------

#: seed of a route's pilot simulation (the Galerkin weight, the small-noise guard)
PILOT_SEED = Option(
    "seed",
    "int",
    "seed of the route's pilot simulation (galerkin: the weight; small_noise: the guard)",
    default=0,
    flag="--pilot-seed",
)

#: working precision of the exact and Taylor routes
DPS = Option(
    "dps",
    "int",
    "working precision in digits where numbers cannot be kept exact",
    default=limits.DEFAULT_DPS,
    minimum=15,
    limit="MAX_DPS",
)

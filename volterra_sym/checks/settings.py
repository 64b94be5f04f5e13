"""Monte Carlo settings as one object: :class:`MonteCarlo`, shared by :func:`~volterra_sym.simulate`,
:func:`~volterra_sym.simulate_response`, :func:`~volterra_sym.verify` and :func:`~volterra_sym.estimate_kernels`.

Each of those functions takes ``mc=MonteCarlo(...)`` and keeps its keyword arguments (``paths=``,
``seed=``, ...); :func:`resolve` joins the two: a keyword left at the function's default yields to
``mc``, a keyword fills a field ``mc`` leaves None, and a keyword with another value than a field ``mc``
sets is an ArgumentError (one value per setting; a keyword given explicitly at its default value cannot
be told from one not given, so it yields too).  The object is validated once, when it is built
(:mod:`volterra_sym.validate`).

``paths`` has one default, :data:`DEFAULT_PATHS` = 10000.  :func:`~volterra_sym.verify` uses
:data:`VERIFY_PATHS` = 20000 instead (its verdict compares the prediction with z = 5 standard errors,
and halving the standard error against a plain simulation keeps kernel errors of a few 1e-3 visible).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np

from ..errors import describe
from ..validate import check_choice, check_flag, check_int, check_positive, refusal
from .burn_in import check_burn_in

__all__ = ["DEFAULT_PATHS", "VERIFY_PATHS", "DEFAULT_DT", "SCHEMES", "MonteCarlo", "resolve"]

#: the number of Monte Carlo paths when none is given (simulate, simulate_response, estimate_kernels)
DEFAULT_PATHS = 10000
#: verify's number of paths: a verdict at z = 5 standard errors needs a smaller standard error than a plain run
VERIFY_PATHS = 20000
#: estimate_kernels' Euler step when none is given
DEFAULT_DT = 0.01
#: the simulation schemes (checks/simulate.py)
SCHEMES = ("euler", "exact")


@dataclass(frozen=True)
class MonteCarlo:
    """How a Monte Carlo run is made; every field is checked when the object is built.

    Every field defaults to None: "the default of the function the object is given to", named below.

    ========== =================================== =========================================================
    field      default                             meaning (unit)
    ========== =================================== =========================================================
    paths      None: DEFAULT_PATHS = 10000         independent paths (count >= 1); verify: VERIFY_PATHS = 20000
    seed       None: 0                             non-negative integer; results are a deterministic function
                                                   of it, whatever ``chunk``, ``max_memory`` or ``client``
    scheme     None: "euler" (verify: "exact" for  "euler" (Euler-Maruyama, any model) or "exact" (exact
               linear SRNNs, "euler" otherwise)    Gaussian transitions of a linear SRNN); not estimate_kernels
    substeps   None: 1 (verify: 4)                 Euler steps per grid interval (count >= 1); not
                                                   estimate_kernels
    dt         None: DEFAULT_DT = 0.01             estimate_kernels' Euler step (model time units); only
                                                   estimate_kernels
    burn_in    None: "auto"                        time run from h = 0 before t = 0 for a Stationary() start
                                                   without a closed form (model time units), or "auto"
                                                   (20 relaxation times, checks/burn_in.py)
    burn_in_dt None: the smallest simulation step  step of that burn-in (model time units); simulate only
    chunk      None: as many as max_memory allows  paths per chunk (rounded up to a multiple of 64)
    max_memory None: vs.limits.MC_MEMORY (256 MiB) bound on the working arrays (bytes)
    progress   None: a bar on a terminal for runs  True / False / None (auto); tqdm, when installed
               longer than 2 s
    client     None: run locally                   a dask.distributed Client or scheduler address: the seed
                                                   blocks run as dask tasks (bit-identical numbers)
    ========== =================================== =========================================================
    """

    paths: int | None = None
    seed: int | None = None
    scheme: str | None = None
    substeps: int | None = None
    dt: float | None = None
    burn_in: float | str | None = None
    burn_in_dt: float | None = None
    chunk: int | None = None
    max_memory: int | float | None = None
    progress: bool | None = None
    client: Any = None

    def __post_init__(self) -> None:
        if self.paths is not None:
            paths = check_int(
                self.paths, "paths", minimum=1, remedy="give the number of Monte Carlo paths, e.g. paths=10000"
            )
            object.__setattr__(self, "paths", paths)
        if self.seed is not None:
            seed = check_int(self.seed, "seed", minimum=0, remedy="give a non-negative integer seed, e.g. seed=0")
            object.__setattr__(self, "seed", seed)
        if self.scheme is not None:
            object.__setattr__(self, "scheme", check_choice(self.scheme, "scheme", SCHEMES, lower=True))
        if self.substeps is not None:
            steps = check_int(
                self.substeps, "substeps", minimum=1, remedy="give the number of Euler steps per grid interval"
            )
            object.__setattr__(self, "substeps", steps)
        object.__setattr__(self, "dt", check_positive(self.dt, "dt", allow_none=True))
        if self.burn_in is not None:
            check_burn_in(self.burn_in)
        object.__setattr__(self, "burn_in_dt", check_positive(self.burn_in_dt, "burn_in_dt", allow_none=True))
        if self.chunk is not None:
            chunk = check_int(
                self.chunk, "chunk", minimum=1, remedy="give a number of paths per chunk, or None for automatic"
            )
            object.__setattr__(self, "chunk", chunk)
        object.__setattr__(self, "max_memory", check_positive(self.max_memory, "max_memory", allow_none=True))
        check_flag(self.progress, "progress", allow_none=True)

    def with_defaults(self, **defaults: Any) -> MonteCarlo:
        """This object with its None fields set to ``defaults`` (a function's own defaults)."""
        return replace(self, **{k: v for k, v in defaults.items() if getattr(self, k) is None})


#: the fields of MonteCarlo, in order
FIELDS = tuple(f.name for f in fields(MonteCarlo))


def resolve(mc: Any, where: str, defaults: dict[str, Any], given: dict[str, Any]) -> MonteCarlo:
    """The settings of one call of ``where``: ``mc`` (a MonteCarlo or None) joined with the keyword
    arguments ``given`` (field -> value as passed), whose defaults in ``where``'s signature are ``defaults``;
    the fields still None then take ``defaults``.

    A keyword equal to its default yields to ``mc``; one that differs fills a field ``mc`` leaves None,
    and is an ArgumentError when ``mc`` sets that field to another value.  Fields ``where`` does not use
    (not in ``defaults``) must stay None in ``mc``."""
    if mc is None:
        mc = MonteCarlo()
    elif not isinstance(mc, MonteCarlo):
        raise refusal("mc", f"expected a vs.MonteCarlo(paths=..., seed=..., ...), received {describe(mc)}")
    updates: dict[str, Any] = {}
    for name, value in given.items():
        current = getattr(mc, name)
        if value is None or _same(value, defaults.get(name)) or _same(value, current):  # None: not given
            continue
        if current is not None:
            raise refusal(
                name,
                f"given as {describe(value)} and as mc.{name} = {describe(current)}",
                f"give it once (drop {name}=, or pass mc=dataclasses.replace(mc, {name}=...))",
            )
        updates[name] = value
    unused = [f for f in FIELDS if f not in defaults and getattr(mc, f) is not None]
    if unused:
        used = f"{where} does not use mc.{unused[0]} (= {describe(getattr(mc, unused[0]))})"
        raise refusal("mc", used, "leave it None")
    out = replace(mc, **updates) if updates else mc
    return out.with_defaults(**defaults)


def _same(a: Any, b: Any) -> bool:
    """The same setting: identical, or equal values of one kind (numbers compared as numbers)."""
    if a is b:
        return True
    if _number(a) and _number(b):
        return float(a) == float(b)
    try:
        return bool(type(a) is type(b) and a == b)
    except Exception:  # objects whose == is not a bool (arrays, clients)
        return False


def _number(x: Any) -> bool:
    return isinstance(x, numbers.Real) and not isinstance(x, (bool, np.bool_))

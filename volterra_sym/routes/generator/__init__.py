"""The discretised-generator route, ``method="generator"``: numerical kernels of 1-D models (docs/generator.md).

What is inside:

* ``route.py``       -- :class:`GeneratorRoute` (options, ``derive``), :func:`derive_generator`, the
  finite-volume :class:`~.route.Grid` and :class:`GeneratorResponse`;
* ``derivation.py``  -- the route's step of the derivation record.
"""

from __future__ import annotations

from ...errors import GridError, InputError, NotNormalisableError
from .route import GeneratorResponse, GeneratorRoute, Grid, derive_generator

__all__ = [
    "GeneratorResponse",
    "GeneratorRoute",
    "Grid",
    "GridError",
    "InputError",
    "NotNormalisableError",
    "derive_generator",
]

"""The single entry point from a model to its response kernels: :func:`derive`."""

from __future__ import annotations

from typing import Any

from . import limits
from .model.diffusion import Diffusion
from .response import Response
from .routes import get_route
from .validate import check_model, check_order


def derive(model: Diffusion, order: int | None = None, *, method: str = "exact", **options: Any) -> Response:
    """Derive the response kernels of ``model`` up to ``order`` by the route ``method``.

    Parameters
    ----------
    model : Diffusion (vs.OU, vs.SRNN, vs.Diffusion, vs.load_model(...)).
    order : highest kernel order N, 1..12 (``method="exact"`` may omit it: the readout's degree,
        beyond which all kernels vanish).
    method : the route (``volterra_sym.routes.ROUTES``): ``"exact"`` (closed forms, linear SRNNs),
        ``"taylor"`` (short-lag Taylor kernels, any analytic model; needs ``lag_degree``) or
        ``"generator"`` (numerical kernels at any lag, 1-D models).
    options : the route's options (``vs.routes.ROUTES[method].options`` lists them), e.g.
        ``dps``/``simplify`` (exact), ``lag_degree``/``dps`` (taylor), ``cells``/``domain`` (generator).

    Returns
    -------
    Response (the subclass of the route: ExactResponse, TaylorResponse, GeneratorResponse).
    """
    check_model(model)
    route = get_route(method)
    if order is not None:
        order = check_order(order)
    limits.check_model_size(model)  # degree and number of terms, before any expansion
    if order is not None:
        limits.check_kernel_count(order, model.m, model.p, limits.readout_degree(model))
    response = route.derive(model, order, **options)
    response.derive_options = {"method": method, **options}  # how to derive order N + 1 (verify's truncation)
    return response

"""The single entry point from a model to its response kernels: :func:`derive`."""

from __future__ import annotations

from typing import Any

from . import limits
from .model.diffusion import Diffusion
from .model.input_channels import channel_model as expand_channels
from .response import Response
from .routes import Route, get_route
from .routes.input_channels import wrap as wrap_channels
from .validate import check_derive_request, check_model, refusal


def derive(model: Diffusion, order: int | None = None, *, method: str = "exact", **options: Any) -> Response:
    """Derive the response kernels of ``model`` up to ``order`` by the route ``method``.

    Parameters
    ----------
    model : Diffusion (vs.OU, vs.SRNN, vs.Diffusion, vs.load_model(...)).
    order : highest kernel order N, 1..12 (``method="exact"`` may omit it: the readout's degree,
        beyond which all kernels vanish).
    method : the route (``volterra_sym.routes.ROUTES``): ``"exact"`` (closed forms, linear SRNNs),
        ``"taylor"`` (short-lag Taylor kernels, any analytic model; needs ``lag_degree``),
        ``"generator"`` (numerical kernels at any lag, 1-D models) or ``"galerkin"`` (numerical kernels
        at any lag with error estimates, any dimension; needs ``degree``).
    options : the route's options (``vs.routes.ROUTES[method].options`` maps each name to its
        declaration: type, range, default, help), e.g. ``dps``/``simplify`` (exact),
        ``lag_degree``/``dps`` (taylor), ``cells``/``domain`` (generator), ``degree``/``tol`` (galerkin);
        checked by the route before any work.

    Returns
    -------
    Response (the route's subclass: ExactResponse, TaylorResponse, GeneratorResponse, GalerkinResponse).
    """
    check_model(model)
    route = get_route(method)
    order = check_derive_request(model, order)  # size limits, before any work (shared by every derive path)
    if model.general_input:
        response = _derive_channels(model, order, route, options)
    else:
        response = route.derive(model, order, **options)
    response.derive_options = {"method": method, **options}  # how to derive order N + 1 (verify's truncation)
    return response


def _derive_channels(model: Diffusion, order: int | None, route: Route, options: dict[str, Any]) -> Response:
    """A model with the input inside the drift: the route derives its input channels (MATH.md section 11)."""
    if order is None:
        raise refusal(
            "order", "a model whose drift depends on the input nonlinearly has kernels at every order", "give order="
        )
    limits.check_kernel_count(order, limits.channel_count(model.m, order), model.p, None)
    channel_model, channels = expand_channels(model, order)
    return wrap_channels(model, channels, route.derive(channel_model, order, **options))

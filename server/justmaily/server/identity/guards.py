"""Least privilege: every route declares the permission it needs; the guard enforces it.

A route declares `opt={"permission": Permission.X}`, `opt={"permission": SIGNED_IN}` (any
principal of the workspace) or `opt={"public": True}`. `check_route_policies` refuses to start
an app with a route that declares none, so a new route cannot be open by accident.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.routes import BaseRoute

from justmaily.server.http.policy import PERMISSION, PUBLIC, SIGNED_IN, TICKET, is_generated_options
from justmaily.server.identity.principal import Principal
from justmaily.shared.roles import Permission


def permission_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    if handler.opt.get(PUBLIC) or is_generated_options(handler):
        # Litestar's OPTIONS answer says only which methods the path has (the API's shape, no
        # data), and authentication skips OPTIONS (browsers' preflights carry no credentials).
        return
    required = handler.opt.get(PERMISSION)
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise PermissionDeniedException("no principal")
    if required == SIGNED_IN:
        return
    if not isinstance(required, Permission) or required not in principal.permissions:
        raise PermissionDeniedException(f"this needs the {required} permission")


def route_policy(handler: BaseRouteHandler) -> str:
    """What a route asks of its caller, as written in docs/security.md."""
    if handler.opt.get(TICKET):
        return "ticket"
    if handler.opt.get(PUBLIC):
        return "public"
    return str(handler.opt.get(PERMISSION, "undeclared"))


def check_route_policies(app: Litestar) -> None:
    undeclared = [
        f"{sorted(route.methods)} {route.path}"
        for route in app.routes
        for handler in handlers_of(route)
        if route_policy(handler) == "undeclared" and not is_generated_options(handler)
    ]
    if undeclared:
        raise RuntimeError(f"routes without a permission policy: {undeclared}")


def handlers_of(route: BaseRoute) -> list[BaseRouteHandler]:
    """The handlers behind a route (HTTP routes have several, WebSocket and ASGI routes one)."""
    handlers = getattr(route, "route_handlers", None)
    return list(handlers) if handlers is not None else [route.route_handler]  # type: ignore[attr-defined]

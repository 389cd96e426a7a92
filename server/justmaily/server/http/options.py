"""OPTIONS answers: the Allow header names every method of the path.

Litestar 2 makes a path's OPTIONS answer when the first of its handlers is registered and keeps it
when the others join, so its Allow header named that first method only (`OPTIONS /u/{token}`
answered `OPTIONS, POST`, without GET; fixed in Litestar 3, litestar#4169). This before_send hook
sets the header from the route the request was routed to.
"""

from __future__ import annotations

from litestar.datastructures import MutableScopeHeaders
from litestar.routes import HTTPRoute
from litestar.types import Message, Scope

from justmaily.server.http.policy import is_generated_options


async def complete_allow_header(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    if not is_generated_options(scope.get("route_handler")):
        return
    template = scope.get("path_template")
    for route in scope["litestar_app"].routes:
        if isinstance(route, HTTPRoute) and route.path_format == template:
            MutableScopeHeaders.from_message(message)["allow"] = ", ".join(sorted(route.methods))
            return

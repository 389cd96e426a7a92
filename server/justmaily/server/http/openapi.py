"""OpenAPI 3.1: the document, and the error responses every route documents."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import msgspec
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import Components, Example, SecurityScheme
from litestar.params import Body
from litestar.router import Router

from justmaily.server.http import policy
from justmaily.server.http.problems import code_for
from justmaily.shared.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem

_EXAMPLE_DETAIL = {
    400: "request body: Expected `str`, got `int` - at `$.name`",
    401: "sign in: send 'Authorization: Bearer <token>'",
    403: "this needs the campaigns:write permission",
    404: "campaign not found",
    409: "cannot approve a campaign that is draft",
    412: "campaign changed since revision 3 (now 4)",
    413: "Request Entity Too Large",
    422: "The email address is not valid.",
    429: "too many requests: the limit is 600 per 1 minute; retry in 12 s",
    500: "The server failed; the request id is in the log.",
    503: "database unreachable",
}

SIGNED_IN_ERRORS = (401, 403, 429, 500)


def problems(*statuses: int, signed_in: bool = True) -> dict[int, ResponseSpec]:
    """Response specs for the given error statuses (plus the ones any signed-in route can give)."""
    wanted = sorted({*statuses, *(SIGNED_IN_ERRORS if signed_in else (429, 500))})
    return {status: _problem_spec(status) for status in wanted}


def _problem_spec(status: int) -> ResponseSpec:
    code = "validation_error" if status == 400 else code_for(status)
    example = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        code=code,
        detail=_EXAMPLE_DETAIL.get(status),
        instance="/api/campaigns/0b5c3c52-4d2c-4a51-9d3e-6a0f0f7c2b1e",
        request_id="6f1c0a9b2d7e4f3a8b5c1d2e3f4a5b6c",
        errors=[FieldError(field="name", message="Expected `str`, got `int`")] if status == 400 else [],
    )
    return ResponseSpec(
        data_container=Problem,
        description=f"{HTTPStatus(status).phrase} (problem+json, code `{code}`)",
        media_type=PROBLEM_MEDIA_TYPE,
        examples=[Example(summary=code, value=example)],
    )


def ok(model: Any, example: Any, status: int = 200, description: str = "Success") -> dict[int, ResponseSpec]:
    """The success response with a worked example (Litestar alone documents only the type)."""
    return {
        status: ResponseSpec(
            data_container=model,
            description=description,
            examples=[Example(summary="example", value=msgspec.to_builtins(example))],
        )
    }


def body(summary: str, value: dict[str, Any]) -> Any:
    """A request body parameter with one worked example."""
    return Body(examples=[Example(summary=summary, value=value)])


def openapi_config(public: bool) -> OpenAPIConfig:
    # The docs router carries the same policy marks as any route (see identity/guards.py).
    opt = policy.public() if public else policy.requires(policy.SIGNED_IN)
    return OpenAPIConfig(
        title="JustMaily API",
        version="0.1.0",
        description="Collaborative e-mail campaigns. Errors are RFC 9457 problem+json with a stable `code`.",
        path="/schema",
        render_plugins=[ScalarRenderPlugin()],
        openapi_router=Router(path="/schema", route_handlers=[], opt=opt, include_in_schema=False),
        components=Components(
            security_schemes={
                "BearerToken": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
                "ApiKey": SecurityScheme(type="apiKey", name="X-API-Key", security_scheme_in="header"),
            }
        ),
        security=[{"BearerToken": []}, {"ApiKey": []}],
    )

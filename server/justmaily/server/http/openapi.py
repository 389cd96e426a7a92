"""OpenAPI 3.1: the document, and the error responses every route documents.

What a route's policy mark (`http/policy.py`) and its signature imply is documented here, once
for every route, not by each route: the credentials it takes (none when public), the errors any
such route can answer, and request bodies that are closed when their Struct forbids unknown
fields. A route states only its own extra answers (`problems(409, 422)`).
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from typing import Any

import msgspec
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.plugins import ScalarRenderPlugin
from litestar.openapi.spec import (
    Components,
    Example,
    OpenAPIType,
    Reference,
    Schema,
    SecurityRequirement,
    SecurityScheme,
)
from litestar.params import Body
from litestar.plugins import ReceiveRoutePlugin
from litestar.router import Router
from litestar.routes import BaseRoute, HTTPRoute
from litestar.typing import FieldDefinition

from justmaily.server.http import policy
from justmaily.server.http.policy import is_generated_options
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
# What a signed-in route takes: a Bearer JWT or an API key (identity/middleware.py).
CREDENTIALS: list[SecurityRequirement] = [{"BearerToken": []}, {"ApiKey": []}]


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


class RoutePolicyDocs(ReceiveRoutePlugin):
    """Documents, for each route as it is registered, what its policy and signature imply.

    Signed-in routes name the credentials they take and answer 401 and 403; public routes take
    none (health probes, sign-in, the links in sent messages, webhooks), so a client or a fuzzer
    knows they need no token. Every route can answer 429 and 500, a route with path parameters
    404 (unknown ids, and other workspaces' ids, are not found), a route with parameters or a
    body 400. A route's own `responses` keep their examples and add to these.
    """

    def receive_route(self, route: BaseRoute) -> None:
        if not isinstance(route, HTTPRoute):
            return
        for handler, kwargs in route.route_handler_map.values():
            if is_generated_options(handler) or not handler.resolve_include_in_schema():
                continue
            public = bool(handler.opt.get(policy.PUBLIC))
            if not public:
                handler.security = CREDENTIALS
            takes_input = "data" in kwargs.expected_reserved_kwargs or any(
                (kwargs.expected_query_params, kwargs.expected_header_params, kwargs.expected_cookie_params)
            )
            statuses = [*([404, 400] if kwargs.expected_path_params else []), *([400] if takes_input else [])]
            handler.responses = problems(*statuses, signed_in=not public) | dict(handler.responses or {})


class WireStructSchemaPlugin(StructSchemaPlugin):
    """A Struct of the wire contract, documented as msgspec reads it.

    One that forbids unknown fields is closed (`additionalProperties: false`): the server answers
    400 to any other field, and Litestar left it open. A union that admits both `int` and
    `float` is `anyOf`: Litestar writes every union as `oneOf` (exactly one branch), and a whole
    number matches both `integer` and `number`, so the document refused every `12` that msgspec
    takes (contact attributes). Text holds no NUL character (the server refuses it, see
    `http/bodies.py`): free text says so with a pattern, and so do a map's keys.
    """

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        if field_definition.type_.__struct_config__.forbid_unknown_fields:
            schema.additional_properties = False
        for each in _schemas_within(schema):
            _overlapping_unions_as_any_of(each)
            _text_without_nul(each)
        return schema


NO_NUL = "^[^\\u0000]*$"  # as JSON Schema (ECMA-262) reads it: any text without U+0000


def _schemas_within(schema: Schema | Reference | bool | None) -> Iterator[Schema]:
    """A Struct's schema and every schema inline in it (references are documented on their own)."""
    if not isinstance(schema, Schema):
        return
    yield schema  # before its branches are read: a visit may move `one_of` to `any_of`
    nested = [*(schema.one_of or []), *(schema.any_of or []), *(schema.properties or {}).values()]
    for inner in [*nested, schema.additional_properties, schema.items]:
        yield from _schemas_within(inner)


def _text_without_nul(schema: Schema) -> None:
    if schema.type == OpenAPIType.STRING and not (
        schema.pattern or schema.format or schema.enum or schema.const
    ):
        schema.pattern = NO_NUL
    if isinstance(schema.additional_properties, Schema) and schema.property_names is None:
        schema.property_names = Schema(type=OpenAPIType.STRING, pattern=NO_NUL)


def _overlapping_unions_as_any_of(schema: Schema) -> None:
    if schema.one_of and {"integer", "number"} <= {getattr(branch, "type", None) for branch in schema.one_of}:
        schema.any_of, schema.one_of = schema.one_of, None


_BOUNDS = (("ge", "minimum"), ("gt", "exclusive_minimum"), ("le", "maximum"), ("lt", "exclusive_maximum"))


def _keep_zero_bounds() -> None:
    """Document a bound of 0 (`ge=0`) like any other.

    Litestar copies a parameter's or field's constraints into its schema only when they are
    truthy, so an optional number with `ge=0` (`tree_size`, `variant`) lost its minimum: clients
    and fuzzers sent negative numbers the server refuses. Upstream fixed plain fields only
    (litestar#3999); this wraps the one step that copies constraints, once per process.
    """
    copy = SchemaCreator._apply_kwarg_definition_metadata
    if getattr(copy, "keeps_zero_bounds", False):
        return

    def copy_with_zero_bounds(creator: SchemaCreator, field: FieldDefinition, schema: Schema) -> None:
        copy(creator, field, schema)
        for constraint, key in _BOUNDS:
            if getattr(field.kwarg_definition, constraint, None) == 0 and getattr(schema, key) is None:
                setattr(schema, key, 0)

    copy_with_zero_bounds.keeps_zero_bounds = True  # type: ignore[attr-defined]
    SchemaCreator._apply_kwarg_definition_metadata = copy_with_zero_bounds  # type: ignore[method-assign,assignment]


def openapi_plugins() -> list[Any]:
    """The Litestar plugins that document what routes and Structs imply (see above)."""
    _keep_zero_bounds()
    return [RoutePolicyDocs(), WireStructSchemaPlugin()]


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
        # No document-wide requirement: each operation states its own (RoutePolicyDocs).
    )

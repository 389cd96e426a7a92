"""What every request passes before a handler sees it: JSON that decodes, and no NUL character.

Litestar decodes a JSON body once (`Request.json`) for every route that takes `data`, so the
checks live in a Request subclass: msgspec raises RecursionError for deeply nested JSON and
UnicodeDecodeError for bytes that are not UTF-8 inside a string, neither of which is a decode
error Litestar turns into a 400. PostgreSQL's text types cannot hold U+0000 (asyncpg raises,
which would be a 500 with the statement in the log), so NUL is refused here for every body, and
in `refuse_nul` for paths and query strings, before anything reaches the database.

Litestar converts a decoded body to the handler's type leniently (`strict=False`, so `0` is
accepted as `false` and `"3"` as `3`), which the OpenAPI document cannot state; a body is held
here to its type as msgspec decodes JSON: strictly.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Receive, Scope, Send

from justmaily.server.http.problems import ApiError
from justmaily.shared.problems import FieldError

_NUL = "\x00"


def nul_refused(where: str) -> ApiError:
    message = "text may not contain the NUL character (U+0000)"
    return ApiError(
        400, "nul_character", f"{where}: {message}", errors=[FieldError(field=where, message=message)]
    )


def find_nul(value: Any) -> str | None:
    """The JSON path of the first string (or object key) holding NUL, else None. Iterative: the
    depth is the client's choice."""
    pending: list[tuple[str, Any]] = [("$", value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, str):
            if _NUL in item:
                return path
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and _NUL in key:
                    return path
                pending.append((f"{path}.{key}", child))
        elif isinstance(item, list):
            pending.extend((f"{path}[{index}]", child) for index, child in enumerate(item))
    return None


class CheckedRequest(Request[Any, Any, Any]):
    """The app's request class: JSON bodies that cannot be used are a 400 problem, never a 500."""

    async def json(self) -> Any:
        try:
            value = await super().json()
        except RecursionError:
            raise ApiError(400, "bad_request", "JSON is malformed: nested too deeply") from None
        except UnicodeDecodeError:
            raise ApiError(400, "bad_request", "JSON is malformed: the body is not UTF-8") from None
        where = find_nul(value)
        if where is not None:
            raise nul_refused(where.removeprefix("$.") if where != "$" else "body")
        data = self.route_handler.parsed_data_field
        if data is not None:
            try:
                _hold_to_type(value, data.annotation)
            except msgspec.ValidationError as exc:
                message, _, where = str(exc).partition(" - at `$")
                field = where.rstrip("`").removeprefix(".") or None
                raise ApiError(
                    400,
                    "validation_error",
                    f"the body does not match its schema: {exc}",
                    errors=[FieldError(field=field, message=message)],
                ) from None
        return value


def _hold_to_type(value: Any, annotation: Any) -> None:
    """Raise ValidationError unless `value` is of `annotation`, strictly, as JSON Schema reads
    JSON: a whole number written with a fraction (`268.0`) is an integer there, which msgspec's
    strict mode refuses; so a failed check is tried once more with those as ints."""
    try:
        msgspec.convert(value, annotation, strict=True, str_keys=True)
    except msgspec.ValidationError as refused:
        try:
            msgspec.convert(_whole_numbers_as_ints(value), annotation, strict=True, str_keys=True)
        except (msgspec.ValidationError, RecursionError):
            raise refused from None


def _whole_numbers_as_ints(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _whole_numbers_as_ints(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_whole_numbers_as_ints(item) for item in value]
    return value


def refuse_nul(app: ASGIApp) -> ASGIApp:
    """Refuses a path or query string holding NUL (`%00`), as bodies are refused above."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            if _NUL in scope["path"]:
                raise nul_refused("path")
            if b"%00" in scope.get("query_string", b"") or b"\x00" in scope.get("query_string", b""):
                raise nul_refused("query")
        await app(scope, receive, send)

    return middleware

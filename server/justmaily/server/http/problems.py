"""Every error leaves as RFC 9457 `application/problem+json` with a stable `code`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from justmaily.server.http.request_context import request_id_of
from justmaily.server.logging import redact_url_secrets
from justmaily.shared.problems import PROBLEM_MEDIA_TYPE, FieldError, Problem

log = structlog.get_logger(__name__)

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """A refusal the client can act on: raise it from services and handlers."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors or []
        self.headers = headers or {}


def not_found(what: str) -> ApiError:
    return ApiError(404, "not_found", f"{what} not found")


def code_for(status: int) -> str:
    return _CODES.get(status, "error")


def problem_response(
    request: Request[Any, Any, Any],
    status: int,
    code: str,
    detail: str | None,
    errors: list[FieldError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Problem]:
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer", **(headers or {})}
    problem = Problem(
        title=HTTPStatus(status).phrase,
        status=status,
        code=code,
        detail=detail,
        instance=request.url.path,
        request_id=request_id_of(request.scope),
        errors=errors or [],
    )
    return Response(problem, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _api_error(request: Request[Any, Any, Any], exc: ApiError) -> Response[Problem]:
    return problem_response(request, exc.status, exc.code, exc.detail, exc.errors, exc.headers)


def _field_errors(extra: Any) -> list[FieldError]:
    if not isinstance(extra, list):
        return []
    return [
        FieldError(message=str(item.get("message", "")), field=item.get("key") or None)
        for item in extra
        if isinstance(item, dict)
    ]


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Problem]:
    status = exc.status_code
    if status >= 500:
        log.error(
            "server_error",
            path=redact_url_secrets(request.url.path),
            detail=exc.detail,
            request_id=request_id_of(request.scope),
            exc_info=exc,
        )
    code = "validation_error" if isinstance(exc, ValidationException) else code_for(status)
    return problem_response(request, status, code, exc.detail, _field_errors(exc.extra), exc.headers)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Problem]:
    log.exception(
        "unhandled_error",
        path=redact_url_secrets(request.url.path),
        error_type=type(exc).__name__,
        request_id=request_id_of(request.scope),
    )
    return problem_response(
        request, 500, "internal_error", "The server failed; the request id is in the log."
    )


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiError: _api_error,
    HTTPException: _http_exception,
    Exception: _unexpected,
}

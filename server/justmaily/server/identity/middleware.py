"""Authentication on every route not marked public: a Bearer JWT (a person's, or a service's
signed with its CA credential), or an API key."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from justmaily.server.http.problems import ApiError
from justmaily.server.identity.auth import API_KEY_PREFIX, AuthService
from justmaily.server.trust.service_credentials import authenticate as authenticate_service
from justmaily.server.trust.service_credentials import is_service_token


def presented_credential(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.headers.get("x-api-key") or None


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        credential = presented_credential(connection)
        if credential is None:
            raise ApiError(
                401,
                "not_authenticated",
                "sign in: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        state = connection.app.state
        async with state.database.session(read_only=True) as session:
            service = AuthService(session, state.signer, state.settings, state.limiter)
            if is_service_token(credential):  # a JWT carrying a CA certificate (x5c)
                audience = state.settings.public_url.rstrip("/")
                principal = await authenticate_service(session, state.ca, credential, audience)
            elif credential.startswith(API_KEY_PREFIX):
                principal = await service.principal_from_api_key(credential)
            else:
                principal = await service.principal_from_access_token(credential)
        return AuthenticationResult(user=principal, auth=credential)

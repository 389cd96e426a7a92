"""Authentication on every route not marked public: a Bearer JWT (a person's, or a service's
signed with its CA credential), or an API key.

The credentials are checked by `Authenticator`s that the composition root hands over (in
`app.state.authenticators`, the first that accepts a credential decides): identity's own for
people and API keys, trust's for services, which identity does not import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.http.problems import ApiError
from justmaily.server.http.rate_limit import RateLimiter
from justmaily.server.identity.auth import API_KEY_PREFIX, AuthService
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.settings import Settings


class Authenticator(Protocol):
    def accepts(self, credential: str) -> bool:
        """Whether the credential is of this authenticator's kind."""

    async def principal(self, session: AsyncSession, credential: str) -> Principal:
        """Who it stands for; a 401 problem if it is not good."""


class PeoplesCredentials:
    """A person's access token, or an API key (a person's, scoped): any credential is one."""

    def __init__(self, signer: TokenSigner, settings: Settings, limiter: RateLimiter) -> None:
        self.signer, self.settings, self.limiter = signer, settings, limiter

    def accepts(self, credential: str) -> bool:
        return True

    async def principal(self, session: AsyncSession, credential: str) -> Principal:
        service = AuthService(session, self.signer, self.settings, self.limiter)
        if credential.startswith(API_KEY_PREFIX):
            return await service.principal_from_api_key(credential)
        return await service.principal_from_access_token(credential)


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
        authenticators: Sequence[Authenticator] = state.authenticators
        authenticator = next(a for a in authenticators if a.accepts(credential))
        async with state.database.session(read_only=True) as session:
            principal = await authenticator.principal(session, credential)
        return AuthenticationResult(user=principal, auth=credential)

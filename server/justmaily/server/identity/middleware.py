"""Authentication on every route not marked public: a Bearer JWT (a person's, or a service's
signed with its CA credential), or an API key.

The credentials are checked by `Authenticator`s that the composition root hands over when the
app starts (`Credentials.start`; the first that accepts a credential decides): identity's own
for people and API keys, trust's for services, which identity does not import."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.types import ASGIApp
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database
from justmaily.server.http.problems import ApiError
from justmaily.server.http.rate_limit import RateLimiter
from justmaily.server.identity.auth import API_KEY_PREFIX, AuthService
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.settings import IdentitySettings


class Authenticator(Protocol):
    def accepts(self, credential: str) -> bool:
        """Whether the credential is of this authenticator's kind."""

    async def principal(self, session: AsyncSession, credential: str) -> Principal:
        """Who it stands for; a 401 problem if it is not good."""


class PeoplesCredentials:
    """A person's access token, or an API key (a person's, scoped): any credential is one."""

    def __init__(self, signer: TokenSigner, settings: IdentitySettings, limiter: RateLimiter) -> None:
        self.signer, self.settings, self.limiter = signer, settings, limiter

    def accepts(self, credential: str) -> bool:
        return True

    async def principal(self, session: AsyncSession, credential: str) -> Principal:
        service = AuthService(session, self.signer, self.settings, self.limiter)
        if credential.startswith(API_KEY_PREFIX):
            return await service.principal_from_api_key(credential)
        return await service.principal_from_access_token(credential)


class Credentials:
    """Who checks a presented credential, and the database they look it up in. Made with the
    app (its middleware holds it), started with it: the keys and the database are made then."""

    def __init__(self) -> None:
        self._database: Database | None = None
        self._authenticators: Sequence[Authenticator] = ()

    def start(self, database: Database, authenticators: Sequence[Authenticator]) -> None:
        self._database, self._authenticators = database, authenticators

    async def principal(self, credential: str) -> Principal:
        if self._database is None:
            raise RuntimeError("the app has not started")
        authenticator = next(a for a in self._authenticators if a.accepts(credential))
        async with self._database.session(read_only=True) as session:
            return await authenticator.principal(session, credential)


def presented_credential(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.headers.get("x-api-key") or None


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, credentials: Credentials, **options: Any) -> None:
        super().__init__(app, **options)
        self.credentials = credentials

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
        principal = await self.credentials.principal(credential)
        return AuthenticationResult(user=principal, auth=credential)

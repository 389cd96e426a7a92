"""Authentication on every route not marked public: a Bearer JWT (a person's, or a service's
signed with its CA credential), or an API key.

The credentials are checked by `Authenticator`s that the composition root hands over when the
app starts (`Credentials.start`; the first that accepts a credential decides): identity's own
for people and API keys, trust's for services, which identity does not import.

A read (GET, HEAD) whose handler works in the request's session (`db_session`) is authenticated
in that session: the credential's lookup and the handler's queries are one read transaction
(`db/session.lend_session`), not two. Nothing is remembered between requests, so a revoked
member or key is refused on the very next one, whichever process serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.middleware._utils import should_bypass_middleware
from litestar.types import ASGIApp, Receive, Scope, Send
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.engine import Database
from justmaily.server.db.session import READ_METHODS, SESSION_DEPENDENCY, lend_session
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

    async def principal(self, credential: str, session: AsyncSession | None = None) -> Principal:
        """Who the credential stands for, looked up in `session`, else in a read of its own."""
        if session is not None:
            return await self._authenticator(credential).principal(session, credential)
        async with self.reading() as own:
            return await self._authenticator(credential).principal(own, credential)

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        if self._database is None:
            raise RuntimeError("the app has not started")
        async with self._database.session(read_only=True) as session:
            yield session

    def _authenticator(self, credential: str) -> Authenticator:
        return next(a for a in self._authenticators if a.accepts(credential))


def presented_credential(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return connection.headers.get("x-api-key") or None


def works_in_request_session(handler: BaseRouteHandler) -> bool:
    """Whether the handler, or any dependency it asks for, takes the request's `db_session`."""
    provided = handler.resolve_dependencies()
    wanted, seen = list(handler.parsed_fn_signature.parameters), set()
    while wanted:
        name = wanted.pop()
        if name == SESSION_DEPENDENCY:
            return True
        if name in seen or name not in provided:
            continue
        seen.add(name)
        wanted.extend(provided[name].parsed_fn_signature.parameters)
    return False


class AuthenticationMiddleware(AbstractAuthenticationMiddleware):
    def __init__(self, app: ASGIApp, credentials: Credentials, **options: Any) -> None:
        super().__init__(app, **options)
        self.credentials = credentials
        self._shares: dict[int, bool] = {}  # by id of the route handler: one middleware per route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if should_bypass_middleware(
            exclude_http_methods=self.exclude_http_methods,
            exclude_opt_key=self.exclude_opt_key,
            exclude_path_pattern=self.exclude,
            scope=scope,
            scopes=self.scopes,
        ):
            await self.app(scope, receive, send)
            return
        if not self._shares_session(scope):
            await self._authenticated(scope, None)
            await self.app(scope, receive, send)
            return
        # The handler's db_session takes this session over and commits it before the response
        # is sent; closing it here only matters when the handler never ran (a 403, a 429).
        async with self.credentials.reading() as session:
            await self._authenticated(scope, session)
            lend_session(scope, session)
            await self.app(scope, receive, send)

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        return await self._authenticate(connection, None)

    async def _authenticated(self, scope: Scope, session: AsyncSession | None) -> None:
        result = await self._authenticate(ASGIConnection(scope), session)
        scope["user"], scope["auth"] = result.user, result.auth

    async def _authenticate(
        self, connection: ASGIConnection[Any, Any, Any, Any], session: AsyncSession | None
    ) -> AuthenticationResult:
        credential = presented_credential(connection)
        if credential is None:
            raise ApiError(
                401,
                "not_authenticated",
                "sign in: send 'Authorization: Bearer <token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = await self.credentials.principal(credential, session)
        return AuthenticationResult(user=principal, auth=credential)

    def _shares_session(self, scope: Scope) -> bool:
        if scope["type"] != ScopeType.HTTP or scope.get("method") not in READ_METHODS:
            return False
        handler = scope["route_handler"]
        shares = self._shares.get(id(handler))
        if shares is None:
            shares = self._shares[id(handler)] = works_in_request_session(handler)
        return shares

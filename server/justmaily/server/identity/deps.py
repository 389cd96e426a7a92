"""Providers of the identity domain's services, from the app's (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.http.rate_limit import RateLimiter
from justmaily.server.identity.accounts import AccountService
from justmaily.server.identity.api_keys import ApiKeyService
from justmaily.server.identity.auth import AuthService
from justmaily.server.identity.invitations import InvitationService
from justmaily.server.identity.tokens import TokenSigner
from justmaily.server.settings import Settings


def provide_auth(
    db_session: NamedDependency[AsyncSession],
    signer: NamedDependency[TokenSigner],
    settings: NamedDependency[Settings],
    limiter: NamedDependency[RateLimiter],
) -> AuthService:
    return AuthService(db_session, signer, settings.identity, limiter)


def provide_accounts(db_session: NamedDependency[AsyncSession]) -> AccountService:
    return AccountService(db_session)


def provide_invitations(
    db_session: NamedDependency[AsyncSession], settings: NamedDependency[Settings]
) -> InvitationService:
    return InvitationService(db_session, settings.identity)


def provide_api_keys(db_session: NamedDependency[AsyncSession]) -> ApiKeyService:
    return ApiKeyService(db_session)

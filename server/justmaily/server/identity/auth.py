"""Sign-in, token refresh and revocation, and turning credentials into a Principal."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError
from justmaily.server.http.rate_limit import RateLimiter, rates
from justmaily.server.identity.models import ApiKey, Membership, RefreshToken, User, Workspace
from justmaily.server.identity.passwords import verify_password
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.tokens import InvalidTokenError, TokenSigner
from justmaily.server.settings import IdentitySettings
from justmaily.shared.auth import TokenPair, WorkspaceMembership
from justmaily.shared.roles import Permission, permissions_of

API_KEY_PREFIX = "jm_"
_BAD_CREDENTIALS = "e-mail or password is wrong"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def hash_api_secret(secret: str) -> str:
    # API secrets are 256 random bits: a fast hash is enough, unlike for passwords.
    return hashlib.sha256(secret.encode()).hexdigest()


class AuthService:
    def __init__(
        self, session: AsyncSession, signer: TokenSigner, settings: IdentitySettings, limiter: RateLimiter
    ) -> None:
        self.session = session
        self.signer = signer
        self.settings = settings
        self.limiter = limiter

    async def login(self, email: str, password: str, workspace: str | None, client_ip: str) -> TokenPair:
        user = await self.authenticate(email, password, client_ip)
        memberships = await self._memberships(user.id)
        if not memberships:
            raise ApiError(403, "no_workspace", "this account belongs to no workspace")
        chosen = (
            memberships[0]
            if workspace is None
            else next((m for m in memberships if m[1].slug == workspace), None)
        )
        if chosen is None:
            raise ApiError(403, "not_a_member", f"you are not a member of workspace {workspace!r}")
        return await self._issue(user, chosen[0], chosen[1], memberships, family=uuid.uuid4())

    async def authenticate(self, email: str, password: str, client_ip: str) -> User:
        """The account whose password this is, or 401; 429 once the source has failed too often.

        Failures lock the source, never the account itself: they count per (account, client
        address) and per client address, so someone guessing from elsewhere does not lock the
        owner out (docs/security.md).
        """
        email = normalise_email(email)
        budgets = (
            (rates(self.settings.login_failures_per_account_and_ip), ("login", email, client_ip)),
            (rates(self.settings.login_failures_per_ip), ("login-ip", client_ip)),
        )
        for budget, key in budgets:
            await self.limiter.check(budget, *key)
        user = await self.session.scalar(select(User).where(User.email == email))
        valid = await verify_password(user.password_hash if user else None, password)
        if not valid or user is None or user.disabled_at is not None:
            for budget, key in budgets:
                await self.limiter.count(budget, *key)
            raise ApiError(401, "invalid_credentials", _BAD_CREDENTIALS)
        return user

    async def sign_in_to(self, user: User, workspace_id: uuid.UUID) -> TokenPair:
        """A new sign-in of `user` to a workspace they are a member of."""
        memberships = await self._memberships(user.id)
        membership, workspace = next((m, w) for m, w in memberships if w.id == workspace_id)
        return await self._issue(user, membership, workspace, memberships, family=uuid.uuid4())

    async def refresh(self, refresh_token: str) -> TokenPair:
        try:
            claims = self.signer.verify(refresh_token, "refresh")
        except InvalidTokenError as exc:
            raise ApiError(401, "invalid_token", f"refresh token refused: {exc}") from exc
        stored = await self.session.get(RefreshToken, uuid.UUID(claims["jti"]), with_for_update=True)
        if stored is None:
            raise ApiError(401, "invalid_token", "refresh token refused: unknown")
        if stored.revoked_at is not None:
            # A rotated token came back: it was stolen or replayed. End the whole sign-in.
            await self._revoke_family(stored.family_id)
            await self.session.commit()  # the refusal below rolls back; the revocation must stay
            raise ApiError(401, "token_reused", "refresh token was already used; sign in again")
        stored.revoked_at = utcnow()
        user = await self.session.get(User, stored.user_id)
        memberships = await self._memberships(stored.user_id)
        chosen = next((m for m in memberships if m[1].id == stored.workspace_id), None)
        if user is None or user.disabled_at is not None or chosen is None:
            raise ApiError(401, "invalid_token", "refresh token refused: access was revoked")
        return await self._issue(user, chosen[0], chosen[1], memberships, family=stored.family_id)

    async def logout(self, refresh_token: str, principal: Principal) -> None:
        try:
            claims = self.signer.verify(refresh_token, "refresh")
        except InvalidTokenError as exc:
            raise ApiError(422, "invalid_token", f"not a refresh token: {exc}") from exc
        stored = await self.session.get(RefreshToken, uuid.UUID(claims["jti"]))
        if stored is None or stored.user_id != principal.id:
            raise ApiError(422, "invalid_token", "not one of your refresh tokens")
        await self._revoke_family(stored.family_id)

    async def revoke_user_tokens(self, user_id: uuid.UUID, workspace_id: uuid.UUID) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.user_id == user_id,
                RefreshToken.workspace_id == workspace_id,
                RefreshToken.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )

    async def principal_from_access_token(self, token: str) -> Principal:
        try:
            claims = self.signer.verify(token, "access")
            user_id, workspace_id = uuid.UUID(claims["sub"]), uuid.UUID(claims["wsp"])
        except (InvalidTokenError, KeyError, ValueError) as exc:
            raise ApiError(401, "invalid_token", f"access token refused: {exc}") from exc
        return await self.principal_for_member(user_id, workspace_id)

    async def principal_for_member(self, user_id: uuid.UUID, workspace_id: uuid.UUID) -> Principal:
        # Looked up on every request, so removing a member or changing a role acts at once: one
        # statement over three primary keys, read as plain columns (no ORM entities to build).
        row = (
            await self.session.execute(
                select(Membership.role, Workspace.slug, User.email, User.display_name)
                .join(Membership, Membership.user_id == User.id)
                .join(Workspace, Workspace.id == Membership.workspace_id)
                .where(
                    User.id == user_id,
                    Membership.workspace_id == workspace_id,
                    User.disabled_at.is_(None),
                )
            )
        ).one_or_none()
        if row is None:
            raise ApiError(401, "invalid_token", "access token refused: access was revoked")
        role, slug, email, display_name = row
        return Principal(
            kind="user",
            id=user_id,
            user_id=user_id,
            workspace_id=workspace_id,
            workspace_slug=slug,
            permissions=permissions_of(role),
            role=role,
            email=email,
            display_name=display_name,
        )

    async def principal_from_api_key(self, presented: str, now: datetime | None = None) -> Principal:
        prefix, _, secret = presented.removeprefix(API_KEY_PREFIX).partition("_")
        row = await self._api_key(ApiKey.prefix == prefix)
        if row is None or not secret or not hmac.compare_digest(row[0].secret_hash, hash_api_secret(secret)):
            raise ApiError(401, "invalid_api_key", "API key refused")
        return self._key_principal(*row, now or utcnow())

    async def principal_for_api_key_id(self, key_id: uuid.UUID, workspace_id: uuid.UUID) -> Principal:
        row = await self._api_key(ApiKey.id == key_id, ApiKey.workspace_id == workspace_id)
        if row is None:
            raise ApiError(401, "invalid_api_key", "API key refused")
        return self._key_principal(*row, utcnow())

    async def _api_key(self, *where: ColumnElement[bool]) -> tuple[ApiKey, Workspace, Membership] | None:
        row = (
            await self.session.execute(
                select(ApiKey, Workspace, Membership)
                .join(Workspace, Workspace.id == ApiKey.workspace_id)
                .join(
                    Membership,
                    (Membership.user_id == ApiKey.created_by)
                    & (Membership.workspace_id == ApiKey.workspace_id),
                )
                .where(*where)
            )
        ).one_or_none()
        if row is None:
            return None
        key, workspace, creator = row
        return key, workspace, creator

    @staticmethod
    def _key_principal(key: ApiKey, workspace: Workspace, creator: Membership, now: datetime) -> Principal:
        if key.revoked_at is not None or (key.expires_at is not None and key.expires_at <= now):
            raise ApiError(401, "invalid_api_key", "API key revoked or expired")
        # A key never holds more than its creator does today.
        scopes = frozenset(Permission(s) for s in key.scopes) & permissions_of(creator.role)
        return Principal(
            kind="api_key",
            id=key.id,
            user_id=key.created_by,
            workspace_id=workspace.id,
            workspace_slug=workspace.slug,
            permissions=scopes,
        )

    async def _memberships(self, user_id: uuid.UUID) -> list[tuple[Membership, Workspace]]:
        rows = await self.session.execute(
            select(Membership, Workspace)
            .join(Workspace, Workspace.id == Membership.workspace_id)
            .where(Membership.user_id == user_id)
            .order_by(Membership.created_at, Workspace.slug)
        )
        return [(m, w) for m, w in rows]

    async def _issue(
        self,
        user: User,
        membership: Membership,
        workspace: Workspace,
        memberships: list[tuple[Membership, Workspace]],
        family: uuid.UUID,
    ) -> TokenPair:
        now = utcnow()
        access_ttl = timedelta(seconds=self.settings.access_token_ttl_seconds)
        refresh_ttl = timedelta(seconds=self.settings.refresh_token_ttl_seconds)
        access, _ = self.signer.issue("access", user.id, now, access_ttl, wsp=str(workspace.id))
        refresh, jti = self.signer.issue("refresh", user.id, now, refresh_ttl, wsp=str(workspace.id))
        self.session.add(
            RefreshToken(
                id=jti,
                family_id=family,
                user_id=user.id,
                workspace_id=workspace.id,
                expires_at=now + refresh_ttl,
            )
        )
        await self.session.flush()
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=self.settings.access_token_ttl_seconds,
            workspace=workspace.slug,
            role=membership.role,
            workspaces=[
                WorkspaceMembership(workspace=w.slug, workspace_name=w.name, role=m.role)
                for m, w in memberships
            ],
        )

    async def _revoke_family(self, family_id: uuid.UUID) -> None:
        await self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

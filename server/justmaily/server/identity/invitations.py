"""Invitations: a person joins a workspace by redeeming a token themselves, never by fiat.

Making an invitation looks up no account, so its answer is the same whether the address has one
or not, and it names no account. The token is shown once, to the inviter, who passes it on; the
server keeps its SHA-256. Redeeming it proves who is joining: with an account, its password (the
same check and failure budgets as sign-in); without one, the new account's password. Why the
token is not e-mailed, and what its holder can learn: docs/security.md.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

import msgspec
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.accounts import AccountService, checked_email, may_grant
from justmaily.server.identity.auth import AuthService, hash_api_secret
from justmaily.server.identity.models import Invitation, Membership, User
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.views import to_wire
from justmaily.server.settings import IdentitySettings
from justmaily.shared import auth as wire
from justmaily.shared.problems import FieldError
from justmaily.shared.roles import OWNER_ONLY_ROLES, Permission, Role, permissions_of

TOKEN_PREFIX = "jmi_"  # noqa: S105 - marks a token as an invitation's, not a secret


class InvitationService:
    def __init__(self, session: AsyncSession, settings: IdentitySettings) -> None:
        self.session, self.settings = session, settings

    async def invite(self, principal: Principal, email: str, role: Role) -> wire.InvitationCreated:
        may_grant(principal, role)
        email = checked_email(email)
        # Only this workspace's members are looked at: its admins list them anyway.
        member = await self.session.scalar(
            select(User.id)
            .join(Membership, Membership.user_id == User.id)
            .where(User.email == email, Membership.workspace_id == principal.workspace_id)
        )
        if member is not None:
            raise ApiError(409, "already_member", f"{email} is already a member")
        now = utcnow()
        # A new invitation replaces a pending one to the same address: only the newest token works.
        await self.session.execute(
            update(Invitation)
            .where(*_pending(), Invitation.workspace_id == principal.workspace_id, Invitation.email == email)
            .values(revoked_at=now)
        )
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = Invitation(
            workspace_id=principal.workspace_id,
            email=email,
            role=role,
            token_hash=hash_api_secret(token),
            invited_by=principal.user_id,
            created_at=now,
            expires_at=now + timedelta(seconds=self.settings.invitation_ttl_seconds),
        )
        self.session.add(row)
        await self.session.flush()
        return wire.InvitationCreated(invitation=to_wire(row), token=token)

    async def pending(self, principal: Principal) -> list[wire.Invitation]:
        rows = await self.session.scalars(
            select(Invitation)
            .where(*_pending(), Invitation.workspace_id == principal.workspace_id)
            .order_by(Invitation.created_at, Invitation.id)
        )
        return [to_wire(row) for row in rows]

    async def revoke(self, principal: Principal, invitation_id: uuid.UUID) -> None:
        row = await self.session.scalar(
            select(Invitation).where(
                *_pending(), Invitation.id == invitation_id, Invitation.workspace_id == principal.workspace_id
            )
        )
        if row is None:
            raise not_found("invitation")
        may_grant(principal, row.role)
        row.revoked_at = utcnow()
        await self.session.flush()

    async def accept(self, data: wire.InvitationAccept, client_ip: str, auth: AuthService) -> wire.TokenPair:
        row = await self.session.scalar(
            select(Invitation).where(Invitation.token_hash == hash_api_secret(data.token)).with_for_update()
        )
        if row is None or row.accepted_at is not None or row.revoked_at is not None:
            raise ApiError(404, "not_found", "invitation not found: it was used or revoked, or never issued")
        if row.expires_at <= utcnow():
            raise ApiError(410, "invitation_expired", "this invitation has expired: ask for a new one")
        await self._inviter_may_still_grant(row)
        user = await self.session.scalar(select(User).where(User.email == row.email))
        if user is None:
            _check_new_password(data.password)
            user, _ = await AccountService(self.session).ensure_user(
                row.email, data.password, data.display_name
            )
        else:
            user = await auth.authenticate(row.email, data.password, client_ip)
        if await self.session.get(Membership, (row.workspace_id, user.id)) is None:
            self.session.add(Membership(workspace_id=row.workspace_id, user_id=user.id, role=row.role))
        row.accepted_at, row.accepted_by = utcnow(), user.id
        await self.session.flush()
        return await auth.sign_in_to(user, row.workspace_id)

    async def _inviter_may_still_grant(self, row: Invitation) -> None:
        """An invitation is worth what its sender may grant now: a removed or demoted admin's
        pending invitations die with their rights."""
        inviter = (
            await self.session.get(Membership, (row.workspace_id, row.invited_by))
            if row.invited_by is not None
            else None
        )
        allowed = (
            inviter is not None
            and Permission.MEMBERS_MANAGE in permissions_of(inviter.role)
            and (row.role not in OWNER_ONLY_ROLES or inviter.role == Role.OWNER)
        )
        if not allowed:
            raise ApiError(
                410,
                "invitation_void",
                "whoever sent this invitation may no longer grant it: ask for a new one",
            )


def _pending() -> tuple[ColumnElement[bool], ...]:
    return (Invitation.accepted_at.is_(None), Invitation.revoked_at.is_(None))


def _check_new_password(password: str) -> None:
    try:
        msgspec.convert(password, wire.NewPassword)
    except msgspec.ValidationError:
        message = "a new account's password needs at least 12 characters"
        raise ApiError(
            422, "weak_password", message, errors=[FieldError(field="password", message=message)]
        ) from None

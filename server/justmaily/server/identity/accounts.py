"""Workspaces, accounts and memberships."""

from __future__ import annotations

import uuid

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.auth import normalise_email
from justmaily.server.identity.models import Membership, RefreshToken, User, Workspace
from justmaily.server.identity.passwords import hash_password
from justmaily.server.identity.principal import Principal
from justmaily.server.identity.views import to_wire
from justmaily.shared.auth import Member
from justmaily.shared.problems import FieldError
from justmaily.shared.roles import OWNER_ONLY_ROLES, Role


def checked_email(email: str) -> str:
    try:
        # Deliverability (DNS) is not checked: accounts may be created offline.
        return normalise_email(validate_email(email.strip(), check_deliverability=False).normalized)
    except EmailNotValidError as exc:
        raise ApiError(
            422, "invalid_email", str(exc), errors=[FieldError(field="email", message=str(exc))]
        ) from exc


class AccountService:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def ensure_workspace(self, slug: str, name: str | None = None) -> Workspace:
        workspace = await self.session.scalar(select(Workspace).where(Workspace.slug == slug))
        if workspace is None:
            workspace = Workspace(slug=slug, name=name or slug)
            self.session.add(workspace)
            await self.session.flush()
        return workspace

    async def ensure_user(
        self, email: str, password: str | None, display_name: str = ""
    ) -> tuple[User, bool]:
        """The account for `email`, created when new (which needs a password). True when created."""
        email = checked_email(email)
        user = await self.session.scalar(select(User).where(User.email == email))
        if user is not None:
            return user, False
        if not password:
            raise ApiError(
                422,
                "password_required",
                "a new account needs a password",
                errors=[FieldError(field="password", message="required for a new account")],
            )
        user = User(
            email=email,
            display_name=display_name or email.split("@")[0],
            password_hash=await hash_password(password),
        )
        self.session.add(user)
        await self.session.flush()
        return user, True

    async def set_password(self, user: User, password: str) -> None:
        user.password_hash = await hash_password(password)

    async def set_membership(self, workspace: Workspace, user: User, role: Role) -> Membership:
        membership = await self.session.get(Membership, (workspace.id, user.id))
        if membership is None:
            membership = Membership(workspace_id=workspace.id, user_id=user.id, role=role)
            self.session.add(membership)
        else:
            membership.role = role
        await self.session.flush()
        return membership

    async def list_members(self, principal: Principal) -> list[Member]:
        rows = await self.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.workspace_id == principal.workspace_id)
            .order_by(User.email)
        )
        return [to_wire(m, u) for m, u in rows]

    async def change_role(self, principal: Principal, user_id: uuid.UUID, role: Role) -> Member:
        membership, user = await self._membership(principal, user_id)
        may_grant(principal, membership.role)
        may_grant(principal, role)
        if membership.role == Role.OWNER and role != Role.OWNER:
            await self._keep_an_owner(principal.workspace_id)
        membership.role = role
        await self.session.flush()
        return to_wire(membership, user)

    async def remove_member(self, principal: Principal, user_id: uuid.UUID) -> None:
        membership, _ = await self._membership(principal, user_id)
        may_grant(principal, membership.role)
        if membership.role == Role.OWNER:
            await self._keep_an_owner(principal.workspace_id)
        await self.session.delete(membership)
        # Their access tokens stop at once (membership is checked per request); end refreshes too.
        tokens = await self.session.scalars(
            select(RefreshToken).where(
                RefreshToken.user_id == user_id, RefreshToken.workspace_id == principal.workspace_id
            )
        )
        for token in tokens:
            await self.session.delete(token)
        await self.session.flush()

    async def _membership(self, principal: Principal, user_id: uuid.UUID) -> tuple[Membership, User]:
        row = (
            await self.session.execute(
                select(Membership, User)
                .join(User, User.id == Membership.user_id)
                .where(Membership.workspace_id == principal.workspace_id, Membership.user_id == user_id)
            )
        ).one_or_none()
        if row is None:
            raise not_found("member")
        membership, user = row
        return membership, user

    async def _keep_an_owner(self, workspace_id: uuid.UUID) -> None:
        owners = await self.session.scalar(
            select(func.count())
            .select_from(Membership)
            .where(Membership.workspace_id == workspace_id, Membership.role == Role.OWNER)
        )
        if (owners or 0) <= 1:
            raise ApiError(409, "last_owner", "a workspace keeps at least one owner")


def may_grant(principal: Principal, role: Role) -> None:
    """403 unless the principal may give (or take) this role: the owner role is the owners'."""
    if role in OWNER_ONLY_ROLES and principal.role != Role.OWNER:
        raise ApiError(403, "owner_only", "only an owner may grant, change or remove the owner role")

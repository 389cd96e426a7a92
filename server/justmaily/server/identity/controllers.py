"""HTTP handlers of the identity domain: sign-in, members, invitations, API keys."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath

from justmaily.server.events import ACCESS_CHANGED
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import SIGNED_IN, hashes_a_password, public, requires
from justmaily.server.http.rate_limit import client_ip
from justmaily.server.identity import deps, examples
from justmaily.server.identity.accounts import AccountService
from justmaily.server.identity.api_keys import ApiKeyService
from justmaily.server.identity.auth import AuthService
from justmaily.server.identity.invitations import InvitationService
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.identity.views import to_wire
from justmaily.shared.auth import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    Invitation,
    InvitationAccept,
    InvitationCreate,
    InvitationCreated,
    LoginRequest,
    Me,
    Member,
    MemberUpdate,
    RefreshRequest,
    TokenPair,
)
from justmaily.shared.roles import Permission


def access_changed(request: AuthedRequest, principal_id: uuid.UUID) -> None:
    """Listeners (live rooms) drop what the principal held."""
    request.app.emit(ACCESS_CHANGED, principal_id=principal_id, workspace_id=request.user.workspace_id)


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]
    dependencies = {"auth": Provide(deps.provide_auth, sync_to_thread=False)}

    @post(
        "/login",
        opt=public() | hashes_a_password(),
        responses=ok(TokenPair, examples.TOKEN_PAIR) | problems(400, 401, 403, signed_in=False),
        status_code=200,
        summary="Sign in with e-mail and password",
    )
    async def login(
        self,
        request: Request[Any, Any, State],
        auth: NamedDependency[AuthService],
        data: Annotated[
            LoginRequest, body("sign in", {"email": "ada@example.com", "password": "correct horse"})
        ],
    ) -> TokenPair:
        """Answers an access token (short-lived) and a refresh token. Failed attempts are throttled
        per account and client address, and per client address (429 with Retry-After): they lock
        the source of the guesses, never the account."""
        return await auth.login(data.email, data.password, data.workspace, client_ip(request.scope))

    @post(
        "/refresh",
        opt=public(),
        responses=ok(TokenPair, examples.TOKEN_PAIR) | problems(400, 401, signed_in=False),
        status_code=200,
        summary="Trade a refresh token for a new token pair",
    )
    async def refresh(
        self,
        auth: NamedDependency[AuthService],
        data: Annotated[RefreshRequest, body("refresh", {"refresh_token": "eyJhbGciOiJFZERTQSJ9…"})],
    ) -> TokenPair:
        """Refresh tokens rotate: each is good once. Presenting a used one ends that sign-in."""
        return await auth.refresh(data.refresh_token)

    @post(
        "/logout", opt=requires(SIGNED_IN), responses=problems(422), status_code=204, summary="End a sign-in"
    )
    async def logout(
        self,
        request: AuthedRequest,
        auth: NamedDependency[AuthService],
        data: Annotated[RefreshRequest, body("logout", {"refresh_token": "eyJhbGciOiJFZERTQSJ9…"})],
    ) -> None:
        await auth.logout(data.refresh_token, request.user)

    @get("/me", opt=requires(SIGNED_IN), responses=ok(Me, examples.ME) | problems(), summary="Who am I")
    async def me(self, request: AuthedRequest) -> Me:
        return to_wire(request.user)


class MembersController(Controller):
    path = "/api/members"
    tags = ["members"]
    dependencies = {"accounts": Provide(deps.provide_accounts, sync_to_thread=False)}

    @get(
        opt=requires(Permission.MEMBERS_READ),
        responses=ok(list[Member], [examples.MEMBER]) | problems(),
        summary="List the workspace's members",
    )
    async def list_members(
        self, request: AuthedRequest, accounts: NamedDependency[AccountService]
    ) -> list[Member]:
        return await accounts.list_members(request.user)

    @patch(
        "/{user_id:uuid}",
        opt=requires(Permission.MEMBERS_MANAGE),
        responses=ok(Member, examples.MEMBER) | problems(400, 404, 409),
        summary="Change a member's role",
    )
    async def change_role(
        self,
        request: AuthedRequest,
        accounts: NamedDependency[AccountService],
        user_id: FromPath[uuid.UUID],
        data: Annotated[MemberUpdate, body("make reviewer", {"role": "reviewer"})],
    ) -> Member:
        member = await accounts.change_role(request.user, user_id, data.role)
        access_changed(request, user_id)
        return member

    @delete(
        "/{user_id:uuid}",
        opt=requires(Permission.MEMBERS_MANAGE),
        responses=problems(400, 404, 409),
        summary="Remove a member (their sign-ins end at once)",
    )
    async def remove_member(
        self, request: AuthedRequest, accounts: NamedDependency[AccountService], user_id: FromPath[uuid.UUID]
    ) -> None:
        await accounts.remove_member(request.user, user_id)
        access_changed(request, user_id)


class InvitationsController(Controller):
    """People join by invitation only: see docs/security.md for what each side learns."""

    path = "/api/invitations"
    tags = ["members"]
    dependencies = {
        "invitations": Provide(deps.provide_invitations, sync_to_thread=False),
        "auth": Provide(deps.provide_auth, sync_to_thread=False),
    }

    @get(
        opt=requires(Permission.MEMBERS_MANAGE),
        responses=ok(list[Invitation], [examples.INVITATION]) | problems(),
        summary="List the pending invitations",
    )
    async def list_invitations(
        self, request: AuthedRequest, invitations: NamedDependency[InvitationService]
    ) -> list[Invitation]:
        return await invitations.pending(request.user)

    @post(
        opt=requires(Permission.MEMBERS_MANAGE),
        responses=ok(InvitationCreated, examples.INVITATION_CREATED, 201) | problems(400, 409, 422),
        summary="Invite a person (the token is shown once: pass it on)",
    )
    async def invite(
        self,
        request: AuthedRequest,
        invitations: NamedDependency[InvitationService],
        data: Annotated[
            InvitationCreate, body("invite an editor", {"email": "grace@example.com", "role": "editor"})
        ],
    ) -> InvitationCreated:
        """The answer is the same whether the address has an account or not, and names none.
        A new invitation to the same address replaces a pending one."""
        return await invitations.invite(request.user, data.email, data.role)

    @delete(
        "/{invitation_id:uuid}",
        opt=requires(Permission.MEMBERS_MANAGE),
        responses=problems(400, 404),
        summary="Revoke a pending invitation",
    )
    async def revoke(
        self,
        request: AuthedRequest,
        invitations: NamedDependency[InvitationService],
        invitation_id: FromPath[uuid.UUID],
    ) -> None:
        await invitations.revoke(request.user, invitation_id)

    @post(
        "/accept",
        opt=public() | hashes_a_password(),
        status_code=200,
        responses=ok(TokenPair, examples.TOKEN_PAIR) | problems(400, 401, 404, 410, 422, signed_in=False),
        summary="Join a workspace with an invitation's token (signed in to it at once)",
    )
    async def accept(
        self,
        request: Request[Any, Any, State],
        invitations: NamedDependency[InvitationService],
        auth: NamedDependency[AuthService],
        data: Annotated[
            InvitationAccept,
            body(
                "join",
                {"token": "jmi_" + "x" * 43, "password": "a long passphrase here", "display_name": "Grace"},
            ),
        ],
    ) -> TokenPair:
        """With an account for the invited address, `password` is its password (failures count as
        failed sign-ins); without one, it becomes the new account's (12 characters or more)."""
        return await invitations.accept(data, client_ip(request.scope), auth)


class ApiKeysController(Controller):
    path = "/api/api-keys"
    tags = ["api keys"]
    dependencies = {"api_keys": Provide(deps.provide_api_keys, sync_to_thread=False)}

    @get(
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=ok(list[ApiKey], [examples.API_KEY]) | problems(),
        summary="List API keys",
    )
    async def list_keys(
        self, request: AuthedRequest, api_keys: NamedDependency[ApiKeyService]
    ) -> list[ApiKey]:
        return await api_keys.list(request.user)

    @post(
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=ok(ApiKeyCreated, examples.API_KEY_CREATED, 201) | problems(400, 422),
        summary="Create an API key (the secret is shown once)",
    )
    async def create_key(
        self,
        request: AuthedRequest,
        api_keys: NamedDependency[ApiKeyService],
        data: Annotated[
            ApiKeyCreate, body("read-only key", {"name": "BI export", "scopes": ["campaigns:read"]})
        ],
    ) -> ApiKeyCreated:
        return await api_keys.create(request.user, data)

    @delete(
        "/{key_id:uuid}",
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=problems(400, 404),
        summary="Revoke an API key",
    )
    async def revoke_key(
        self, request: AuthedRequest, api_keys: NamedDependency[ApiKeyService], key_id: FromPath[uuid.UUID]
    ) -> None:
        await api_keys.revoke(request.user, key_id)
        access_changed(request, key_id)

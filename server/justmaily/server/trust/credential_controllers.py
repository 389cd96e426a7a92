"""HTTP handlers of service credentials (admins issue, renew and revoke; a service renews itself)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import SIGNED_IN, requires
from justmaily.server.http.problems import ApiError
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.trust import examples, service_credentials
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.shared import trust as wire
from justmaily.shared.roles import Permission


class ServiceCredentialsController(Controller):
    path = "/api/service-credentials"
    tags = ["trust"]

    @get(
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=ok(list[wire.ServiceCredential], [examples.SERVICE_CREDENTIAL]) | problems(400),
        summary="The workspace's service credentials, newest first, with their status",
    )
    async def list_credentials(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]
    ) -> list[wire.ServiceCredential]:
        return await service_credentials.listing(db_session, request.user)

    @post(
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=ok(wire.IssuedServiceCredential, examples.ISSUED_CREDENTIAL, 201) | problems(400, 422),
        summary="Issue a service credential: a client certificate and its key, shown once",
    )
    async def issue_credential(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        ca: NamedDependency[CertificateAuthority],
        data: Annotated[
            wire.ServiceCredentialCreate,
            body("an agent", {"name": "agent-7", "role": "editor", "valid_days": 30}),
        ],
    ) -> wire.IssuedServiceCredential:
        """The service signs in with short-lived tokens it makes with the key
        (`justmaily.shared.service_tokens.make_service_token`; docs/trust.md)."""
        return await service_credentials.issue(db_session, ca, request.user, data)

    @post(
        "/self/renew",
        opt=requires(SIGNED_IN),
        status_code=201,
        responses=ok(wire.IssuedServiceCredential, examples.ISSUED_CREDENTIAL, 201) | problems(400, 409),
        summary="A service renews its own credential before it expires (signed in with it)",
    )
    async def renew_own(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        ca: NamedDependency[CertificateAuthority],
    ) -> wire.IssuedServiceCredential:
        if request.user.kind != "service":
            raise ApiError(409, "not_a_service", "only a service signed in with its credential renews itself")
        return await service_credentials.renew(db_session, ca, request.user, request.user.id)

    @post(
        "/{credential_id:uuid}/renew",
        opt=requires(Permission.API_KEYS_MANAGE),
        status_code=201,
        responses=ok(wire.IssuedServiceCredential, examples.ISSUED_CREDENTIAL, 201) | problems(400, 404, 409),
        summary="Renew a service credential: a new key and certificate, the old valid until it ends",
    )
    async def renew_credential(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        ca: NamedDependency[CertificateAuthority],
        credential_id: FromPath[uuid.UUID],
    ) -> wire.IssuedServiceCredential:
        return await service_credentials.renew(db_session, ca, request.user, credential_id)

    @delete(
        "/{credential_id:uuid}",
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=problems(400, 404),
        summary="Revoke a service credential at once (also in the CRL and the log)",
    )
    async def revoke_credential(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        credential_id: FromPath[uuid.UUID],
    ) -> None:
        await service_credentials.revoke(db_session, request.user, credential_id)

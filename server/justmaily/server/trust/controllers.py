"""HTTP handlers of the trust domain: the transparency log (its key, signed tree heads, entries
and proofs), the CA and campaign certificates, and service credentials (admins issue, renew and
revoke them; a service renews its own)."""

from __future__ import annotations

import uuid
from typing import Annotated

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter

from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.policy import SIGNED_IN, requires
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.trust import deps, examples
from justmaily.server.trust.service import TREE_SIZE_CURSOR, TransparencyService
from justmaily.server.trust.service_credentials import ServiceCredentialService
from justmaily.shared import trust as wire
from justmaily.shared.pagination import Page
from justmaily.shared.roles import Permission

# Tree sizes stay within JSON's safe integers, which every client reads exactly (a larger bound
# is documented as a float, and rounds).
MAX_TREE_SIZE = 2**53 - 1
Size = Annotated[int, QueryParameter(ge=0, le=MAX_TREE_SIZE, description="A tree size (number of entries)")]
SignedSize = Annotated[
    int | None, QueryParameter(ge=0, le=MAX_TREE_SIZE, description="A tree size; default: the latest signed")
]
Transparency = NamedDependency[TransparencyService]


class TransparencyController(Controller):
    path = "/api/transparency"
    tags = ["trust"]
    dependencies = {"transparency": Provide(deps.provide_transparency, sync_to_thread=False)}

    @get(
        "/key",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.LogKey, examples.KEY) | problems(400),
        summary="The log's origin and verifier key: pin it to check tree heads offline",
    )
    async def log_key(self, transparency: Transparency) -> wire.LogKey:
        return transparency.key()

    @get(
        "/tree-head",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.TreeHead, examples.TREE_HEAD) | problems(400, 404),
        summary="The latest signed tree head (a C2SP checkpoint)",
    )
    async def tree_head(self, transparency: Transparency) -> wire.TreeHead:
        return await transparency.tree_head()

    @get(
        "/tree-heads",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(Page[wire.TreeHead], Page(items=[examples.TREE_HEAD], next_cursor="1204"))
        | problems(400),
        summary="Signed tree heads, newest first: the chain a client checks for consistency",
    )
    async def tree_heads(
        self,
        transparency: Transparency,
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Page size")] = 50,
        cursor: Annotated[
            str | None,
            QueryParameter(
                description="`next_cursor` of the previous page",
                schema_extra={"pattern": TREE_SIZE_CURSOR.pattern},
            ),
        ] = None,
    ) -> Page[wire.TreeHead]:
        return await transparency.tree_heads(limit=limit, cursor=cursor)

    @get(
        "/entries/{index:int}",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.LogEntry, examples.ENTRY) | problems(400, 404),
        summary="One entry: the exact leaf bytes (base64) and what they say",
    )
    async def entry(
        self, request: AuthedRequest, transparency: Transparency, index: FromPath[int]
    ) -> wire.LogEntry:
        return await transparency.entry(request.user, index)

    @get(
        "/entries/{index:int}/inclusion",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.InclusionProof, examples.INCLUSION) | problems(400, 404, 422),
        summary="The entry's inclusion proof in the tree of `tree_size` entries (default: latest signed)",
    )
    async def inclusion(
        self,
        request: AuthedRequest,
        transparency: Transparency,
        index: FromPath[int],
        tree_size: SignedSize = None,
    ) -> wire.InclusionProof:
        return await transparency.inclusion(request.user, index, tree_size)

    @get(
        "/consistency",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.ConsistencyProof, examples.CONSISTENCY) | problems(400, 422),
        summary="A consistency proof: the tree of `second` entries extends the tree of `first`",
    )
    async def consistency(
        self, transparency: Transparency, first: Size, second: Size
    ) -> wire.ConsistencyProof:
        return await transparency.consistency(first, second)

    @get(
        "/ca",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=problems(400),
        summary="The internal CA's certificate (PEM): pin it to verify certificates offline",
        media_type="application/x-pem-file",
    )
    async def ca_certificate(self, transparency: Transparency) -> str:
        return transparency.ca_certificate()

    @get(
        "/crl",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=problems(400),
        summary="The CA's current revocation list (PEM), valid for a day",
        media_type="application/x-pem-file",
    )
    async def revocations(self, transparency: Transparency) -> str:
        return await transparency.revocation_list()

    @get(
        "/certificates",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(list[wire.CampaignCertificate], [examples.CERTIFICATE]) | problems(400),
        summary="The workspace's campaign certificates, newest first, with their status",
    )
    async def list_certificates(
        self,
        request: AuthedRequest,
        transparency: Transparency,
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="How many")] = 100,
    ) -> list[wire.CampaignCertificate]:
        return await transparency.certificates(request.user, limit)

    @get(
        "/certificates/{serial:str}",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.CampaignCertificate, examples.CERTIFICATE) | problems(400, 404),
        summary="One campaign certificate: what it binds, its status and the PEM",
    )
    async def certificate(
        self, request: AuthedRequest, transparency: Transparency, serial: FromPath[str]
    ) -> wire.CampaignCertificate:
        return await transparency.certificate(request.user, serial)


ServiceCredentials = NamedDependency[ServiceCredentialService]


class ServiceCredentialsController(Controller):
    path = "/api/service-credentials"
    tags = ["trust"]
    dependencies = {"credentials": Provide(deps.provide_credentials, sync_to_thread=False)}

    @get(
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=ok(list[wire.ServiceCredential], [examples.SERVICE_CREDENTIAL]) | problems(400),
        summary="The workspace's service credentials, newest first, with their status",
    )
    async def list_credentials(
        self, request: AuthedRequest, credentials: ServiceCredentials
    ) -> list[wire.ServiceCredential]:
        return await credentials.listing(request.user)

    @post(
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=ok(wire.IssuedServiceCredential, examples.ISSUED_CREDENTIAL, 201) | problems(400, 422),
        summary="Issue a service credential: a client certificate and its key, shown once",
    )
    async def issue_credential(
        self,
        request: AuthedRequest,
        credentials: ServiceCredentials,
        data: Annotated[
            wire.ServiceCredentialCreate,
            body("an agent", {"name": "agent-7", "role": "editor", "valid_days": 30}),
        ],
    ) -> wire.IssuedServiceCredential:
        """The service signs in with short-lived tokens it makes with the key
        (`justmaily.shared.verify.service_tokens.make_service_token`; docs/trust.md)."""
        return await credentials.issue(request.user, data)

    @post(
        "/self/renew",
        opt=requires(SIGNED_IN),
        status_code=201,
        responses=ok(wire.IssuedServiceCredential, examples.ISSUED_CREDENTIAL, 201) | problems(400, 409),
        summary="A service renews its own credential before it expires (signed in with it)",
    )
    async def renew_own(
        self, request: AuthedRequest, credentials: ServiceCredentials
    ) -> wire.IssuedServiceCredential:
        return await credentials.renew_own(request.user)

    @post(
        "/{credential_id:uuid}/renew",
        opt=requires(Permission.API_KEYS_MANAGE),
        status_code=201,
        responses=ok(wire.IssuedServiceCredential, examples.ISSUED_CREDENTIAL, 201) | problems(400, 404, 409),
        summary="Renew a service credential: a new key and certificate, the old valid until it ends",
    )
    async def renew_credential(
        self, request: AuthedRequest, credentials: ServiceCredentials, credential_id: FromPath[uuid.UUID]
    ) -> wire.IssuedServiceCredential:
        return await credentials.renew(request.user, credential_id)

    @delete(
        "/{credential_id:uuid}",
        opt=requires(Permission.API_KEYS_MANAGE),
        responses=problems(400, 404),
        summary="Revoke a service credential at once (also in the CRL and the log)",
    )
    async def revoke_credential(
        self, request: AuthedRequest, credentials: ServiceCredentials, credential_id: FromPath[uuid.UUID]
    ) -> None:
        await credentials.revoke(request.user, credential_id)

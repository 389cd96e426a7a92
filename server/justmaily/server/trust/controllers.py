"""HTTP handlers of the transparency log: the key, signed tree heads, entries and proofs.

Tree heads and consistency proofs are hashes only: every signed-in user reads them. An entry's
data names campaigns and people of one workspace, so an entry and its inclusion proof are
served to that workspace's members only (entries of the installation, such as key rotations,
to everyone).
"""

from __future__ import annotations

import re
from typing import Annotated

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.openapi import ok, problems
from justmaily.server.http.policy import requires
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import AuthedRequest
from justmaily.server.trust import certificates, examples
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.log import LogError, LogSigner, b64
from justmaily.server.trust.models import CertificateRow, LogEntry
from justmaily.shared import trust as wire
from justmaily.shared.pagination import Page
from justmaily.shared.problems import FieldError
from justmaily.shared.roles import Permission

# Tree sizes stay within JSON's safe integers, which every client reads exactly (a larger bound
# is documented as a float, and rounds).
MAX_TREE_SIZE = 2**53 - 1
Size = Annotated[int, QueryParameter(ge=0, le=MAX_TREE_SIZE, description="A tree size (number of entries)")]
# A tree-heads cursor is the size of the last head of the previous page (ASCII digits only:
# str.isdigit() also takes "²", which int() refuses).
TREE_SIZE_CURSOR = re.compile(r"^[0-9]{1,19}$")
SignedSize = Annotated[
    int | None, QueryParameter(ge=0, le=MAX_TREE_SIZE, description="A tree size; default: the latest signed")
]


class TransparencyController(Controller):
    path = "/api/transparency"
    tags = ["trust"]

    @get(
        "/key",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.LogKey, examples.KEY) | problems(400),
        summary="The log's origin and verifier key: pin it to check tree heads offline",
    )
    async def log_key(self, log_signer: NamedDependency[LogSigner]) -> wire.LogKey:
        signer = log_signer
        return wire.LogKey(origin=signer.origin, verifier_key=signer.verifier_key)

    @get(
        "/tree-head",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.TreeHead, examples.TREE_HEAD) | problems(400, 404),
        summary="The latest signed tree head (a C2SP checkpoint)",
    )
    async def tree_head(self, db_session: NamedDependency[AsyncSession]) -> wire.TreeHead:
        row = await trust_log.latest_head(db_session)
        if row is None:
            raise not_found("signed tree head")
        return trust_log.head_view(row)

    @get(
        "/tree-heads",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(Page[wire.TreeHead], Page(items=[examples.TREE_HEAD], next_cursor="1204"))
        | problems(400),
        summary="Signed tree heads, newest first: the chain a client checks for consistency",
    )
    async def tree_heads(
        self,
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=200, description="Page size")] = 50,
        cursor: Annotated[
            str | None,
            QueryParameter(
                description="`next_cursor` of the previous page",
                schema_extra={"pattern": TREE_SIZE_CURSOR.pattern},
            ),
        ] = None,
    ) -> Page[wire.TreeHead]:
        before = _cursor(cursor)
        rows = await trust_log.heads(db_session, before=before, limit=limit + 1)
        items = [trust_log.head_view(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items=items, next_cursor=str(items[-1].size) if more else None)

    @get(
        "/entries/{index:int}",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.LogEntry, examples.ENTRY) | problems(400, 404),
        summary="One entry: the exact leaf bytes (base64) and what they say",
    )
    async def entry(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession], index: FromPath[int]
    ) -> wire.LogEntry:
        return trust_log.entry_view(await _visible_entry(request, db_session, index))

    @get(
        "/entries/{index:int}/inclusion",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.InclusionProof, examples.INCLUSION) | problems(400, 404, 422),
        summary="The entry's inclusion proof in the tree of `tree_size` entries (default: latest signed)",
    )
    async def inclusion(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        index: FromPath[int],
        tree_size: SignedSize = None,
    ) -> wire.InclusionProof:
        await _visible_entry(request, db_session, index)
        size = tree_size if tree_size is not None else await _signed_size(db_session)
        try:
            hashes = await trust_log.inclusion(db_session, index, size)
        except LogError as exc:
            raise _unanswerable("tree_size", exc) from None
        return wire.InclusionProof(index=index, tree_size=size, hashes=[b64(h) for h in hashes])

    @get(
        "/consistency",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.ConsistencyProof, examples.CONSISTENCY) | problems(400, 422),
        summary="A consistency proof: the tree of `second` entries extends the tree of `first`",
    )
    async def consistency(
        self, db_session: NamedDependency[AsyncSession], first: Size, second: Size
    ) -> wire.ConsistencyProof:
        try:
            hashes = await trust_log.consistency(db_session, first, second)
        except LogError as exc:
            raise _unanswerable("second", exc) from None
        return wire.ConsistencyProof(first=first, second=second, hashes=[b64(h) for h in hashes])

    @get(
        "/ca",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=problems(400),
        summary="The internal CA's certificate (PEM): pin it to verify certificates offline",
        media_type="application/x-pem-file",
    )
    async def ca_certificate(self, ca: NamedDependency[CertificateAuthority]) -> str:
        return ca.certificate_pem.decode("ascii")

    @get(
        "/crl",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=problems(400),
        summary="The CA's current revocation list (PEM), valid for a day",
        media_type="application/x-pem-file",
    )
    async def revocations(
        self, db_session: NamedDependency[AsyncSession], ca: NamedDependency[CertificateAuthority]
    ) -> str:
        return (await certificates.revocation_list(db_session, ca)).decode("ascii")

    @get(
        "/certificates",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(list[wire.CampaignCertificate], [examples.CERTIFICATE]) | problems(400),
        summary="The workspace's campaign certificates, newest first, with their status",
    )
    async def list_certificates(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        limit: Annotated[int, QueryParameter(ge=1, le=500, description="How many")] = 100,
    ) -> list[wire.CampaignCertificate]:
        rows = await db_session.scalars(
            select(CertificateRow)
            .where(CertificateRow.workspace_id == request.user.workspace_id)
            .order_by(CertificateRow.approved_at.desc(), CertificateRow.serial)
            .limit(limit)
        )
        now = utcnow()
        return [certificates.view(row, now) for row in rows]

    @get(
        "/certificates/{serial:str}",
        opt=requires(Permission.CAMPAIGNS_READ),
        responses=ok(wire.CampaignCertificate, examples.CERTIFICATE) | problems(400, 404),
        summary="One campaign certificate: what it binds, its status and the PEM",
    )
    async def certificate(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession], serial: FromPath[str]
    ) -> wire.CampaignCertificate:
        row = await db_session.get(CertificateRow, serial.lower()[:40])
        if row is None or row.workspace_id != request.user.workspace_id:
            raise not_found("certificate")
        return certificates.view(row)


async def _visible_entry(request: AuthedRequest, session: AsyncSession, index: int) -> LogEntry:
    row = await trust_log.entry(session, index) if 0 <= index < 2**62 else None
    if row is None or row.workspace_id not in (None, request.user.workspace_id):
        raise not_found("log entry")
    return row


async def _signed_size(session: AsyncSession) -> int:
    head = await trust_log.latest_head(session)
    if head is None:
        raise not_found("signed tree head")
    return head.size


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    if not TREE_SIZE_CURSOR.fullmatch(cursor):
        message = "not a cursor this listing gave"
        raise ApiError(400, "invalid_cursor", message, errors=[FieldError(field="cursor", message=message)])
    return int(cursor)


def _unanswerable(field: str, exc: LogError) -> ApiError:
    return ApiError(422, "no_such_tree", str(exc), errors=[FieldError(field=field, message=str(exc))])

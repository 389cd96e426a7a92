"""What the transparency API reads: the log's key, signed tree heads, entries and their proofs,
the CA's certificate and revocation list, and the workspace's campaign certificates.

Tree heads and consistency proofs are hashes only: every signed-in user reads them. An entry's
data names campaigns and people of one workspace, so an entry and its inclusion proof are
served to that workspace's members only (entries of the installation, such as key rotations,
to everyone).
"""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import Principal
from justmaily.server.trust import certificates
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.ca import CertificateAuthority
from justmaily.server.trust.log import LogError, LogSigner, b64
from justmaily.server.trust.models import CertificateRow, LogEntry
from justmaily.server.trust.views import to_wire
from justmaily.shared import trust as wire
from justmaily.shared.pagination import Page
from justmaily.shared.problems import FieldError

# A tree-heads cursor is the size of the last head of the previous page (ASCII digits only:
# str.isdigit() also takes "²", which int() refuses).
TREE_SIZE_CURSOR = re.compile(r"^[0-9]{1,19}$")


class TransparencyService:
    def __init__(self, session: AsyncSession, signer: LogSigner, ca: CertificateAuthority) -> None:
        self.session, self.signer, self.ca = session, signer, ca

    def key(self) -> wire.LogKey:
        return wire.LogKey(origin=self.signer.origin, verifier_key=self.signer.verifier_key)

    async def tree_head(self) -> wire.TreeHead:
        row = await trust_log.latest_head(self.session)
        if row is None:
            raise not_found("signed tree head")
        return to_wire(row)

    async def tree_heads(self, *, limit: int, cursor: str | None) -> Page[wire.TreeHead]:
        rows = await trust_log.heads(self.session, before=_cursor(cursor), limit=limit + 1)
        items = [to_wire(row) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items=items, next_cursor=str(items[-1].size) if more else None)

    async def entry(self, principal: Principal, index: int) -> wire.LogEntry:
        return to_wire(await self._visible_entry(principal, index))

    async def inclusion(self, principal: Principal, index: int, tree_size: int | None) -> wire.InclusionProof:
        """The entry's inclusion proof in the tree of `tree_size` entries (default: latest signed)."""
        await self._visible_entry(principal, index)
        size = tree_size if tree_size is not None else await self._signed_size()
        try:
            hashes = await trust_log.inclusion(self.session, index, size)
        except LogError as exc:
            raise _unanswerable("tree_size", exc) from None
        return wire.InclusionProof(index=index, tree_size=size, hashes=[b64(h) for h in hashes])

    async def consistency(self, first: int, second: int) -> wire.ConsistencyProof:
        try:
            hashes = await trust_log.consistency(self.session, first, second)
        except LogError as exc:
            raise _unanswerable("second", exc) from None
        return wire.ConsistencyProof(first=first, second=second, hashes=[b64(h) for h in hashes])

    def ca_certificate(self) -> str:
        return self.ca.certificate_pem.decode("ascii")

    async def revocation_list(self) -> str:
        return (await certificates.revocation_list(self.session, self.ca)).decode("ascii")

    async def certificates(self, principal: Principal, limit: int) -> list[wire.CampaignCertificate]:
        """The workspace's campaign certificates, newest first, with their status."""
        rows = await self.session.scalars(
            select(CertificateRow)
            .where(CertificateRow.workspace_id == principal.workspace_id)
            .order_by(CertificateRow.approved_at.desc(), CertificateRow.serial)
            .limit(limit)
        )
        now = utcnow()
        return [to_wire(row, now) for row in rows]

    async def certificate(self, principal: Principal, serial: str) -> wire.CampaignCertificate:
        row = await self.session.get(CertificateRow, serial.lower()[:40])
        if row is None or row.workspace_id != principal.workspace_id:
            raise not_found("certificate")
        return to_wire(row)

    async def _visible_entry(self, principal: Principal, index: int) -> LogEntry:
        row = await trust_log.entry(self.session, index) if 0 <= index < 2**62 else None
        if row is None or row.workspace_id not in (None, principal.workspace_id):
            raise not_found("log entry")
        return row

    async def _signed_size(self) -> int:
        head = await trust_log.latest_head(self.session)
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

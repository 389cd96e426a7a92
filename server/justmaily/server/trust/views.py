"""`to_wire`: the trust domain's rows as the API answers them (shared/trust.py)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import overload

import msgspec

from justmaily.server.db.base import utcnow
from justmaily.server.trust.certificates import status
from justmaily.server.trust.log import b64
from justmaily.server.trust.models import CertificateRow, LogEntry, ServiceCredentialRow, TreeHeadRow
from justmaily.shared import trust as wire

Row = CertificateRow | ServiceCredentialRow | LogEntry | TreeHeadRow
Wire = wire.CampaignCertificate | wire.ServiceCredential | wire.LogEntry | wire.TreeHead


@overload
def to_wire(row: CertificateRow, now: datetime | None = None) -> wire.CampaignCertificate: ...
@overload
def to_wire(row: ServiceCredentialRow, now: datetime | None = None) -> wire.ServiceCredential: ...
@overload
def to_wire(row: LogEntry) -> wire.LogEntry: ...
@overload
def to_wire(row: TreeHeadRow) -> wire.TreeHead: ...
def to_wire(row: Row, now: datetime | None = None) -> Wire:
    """`now`: when a certificate's or credential's status is told (expired, revoked, valid)."""
    if isinstance(row, CertificateRow):
        return wire.CampaignCertificate(
            serial=row.serial,
            campaign_id=row.campaign_id,
            revision=row.revision,
            content_hash=row.content_hash,
            approvers=[uuid.UUID(a) for a in row.approvers],
            approved_at=row.approved_at,
            log_index=row.log_index,
            not_before=row.not_before,
            not_after=row.not_after,
            status=status(row.not_after, row.revoked_at, now or utcnow()),
            pem=row.pem,
            revoked_at=row.revoked_at,
            revocation_reason=row.revocation_reason,
        )
    if isinstance(row, ServiceCredentialRow):
        return wire.ServiceCredential(
            id=row.id,
            serial=row.serial,
            name=row.name,
            role=row.role,
            not_before=row.not_before,
            not_after=row.not_after,
            status=status(row.not_after, row.revoked_at, now or utcnow()),
            created_at=row.created_at,
            revoked_at=row.revoked_at,
            renewed_from=row.renewed_from,
        )
    if isinstance(row, LogEntry):
        return wire.LogEntry(
            index=row.index,
            kind=row.kind,
            leaf=b64(row.leaf),
            data=msgspec.json.decode(row.leaf),
            created_at=row.created_at,
        )
    return wire.TreeHead(
        size=row.size, root_hash=b64(row.root), checkpoint=row.checkpoint, published_at=row.published_at
    )

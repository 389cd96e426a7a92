"""Campaign certificates: issued when content is approved, revoked when the approval is voided.

Each issue and revocation is also a log entry, so a certificate, the approval it attests and
its end corroborate each other. The certificate attests a past approval: it stays valid after
the campaign was sent (until it expires); it is revoked ("superseded") when an edit or a
transition back to draft voids the approval before anything went out under it.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.db.base import utcnow
from justmaily.server.events import ApprovalGranted, ApprovalVoided
from justmaily.server.trust import log as trust_log
from justmaily.server.trust.ca import CertificateAuthority, pem
from justmaily.server.trust.models import CertificateRow, ServiceCredentialRow
from justmaily.shared.trust import CertificateStatus, EntryKind
from justmaily.shared.verify.certificates import CampaignBinding


async def record_approval(
    session: AsyncSession, approval: ApprovalGranted, ca: CertificateAuthority
) -> CertificateRow:
    """Log the approval (made in this transaction) and issue its certificate, which names the
    approval's log index; both commit with the approval or not at all. The campaigns domain
    announces it (`ApprovalGranted`); the composition root has this handle it.

    People are named by id only: the log is append-only and must not hold personal data that a
    deletion request would need to remove."""
    data = {
        "workspace_id": approval.workspace_id,
        "campaign_id": approval.campaign_id,
        "revision": approval.revision,
        "content_hash": approval.content_hash,
        "approvers": [approval.approved_by],
        "approved_at": approval.approved_at,
    }
    if approval.via is not None:  # the approver is accountable; the log says through what
        data["approved_via"] = {"kind": approval.via.kind, "id": approval.via.id}
    index = await trust_log.append(
        session, trust_log.Record(EntryKind.APPROVAL, data, workspace_id=approval.workspace_id)
    )
    binding = CampaignBinding(
        workspace_id=approval.workspace_id,
        campaign_id=approval.campaign_id,
        revision=approval.revision,
        content_hash=approval.content_hash,
        approvers=[approval.approved_by],
        approved_at=approval.approved_at,
        log_index=index,
    )
    certificate = ca.issue_campaign_certificate(binding)
    row = CertificateRow(
        serial=format(certificate.serial_number, "x"),
        workspace_id=approval.workspace_id,
        campaign_id=approval.campaign_id,
        revision=approval.revision,
        content_hash=approval.content_hash,
        approvers=[str(approval.approved_by)],
        approved_at=approval.approved_at,
        log_index=index,
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        pem=pem(certificate).decode("ascii"),
    )
    session.add(row)
    issued = {
        "workspace_id": approval.workspace_id,
        "campaign_id": approval.campaign_id,
        "serial": row.serial,
        "sha256": hashlib.sha256(certificate.public_bytes(Encoding.DER)).hexdigest(),
        "approval": index,
    }
    await trust_log.append(
        session, trust_log.Record(EntryKind.CERTIFICATE_ISSUED, issued, workspace_id=approval.workspace_id)
    )
    await session.flush()
    return row


async def certificate_for(
    session: AsyncSession, approval: ApprovalGranted, ca: CertificateAuthority
) -> CertificateRow:
    """The certificate of a standing approval; an approval made before certificates existed (or
    seeded) is recorded and certified now."""
    found = await session.scalar(
        select(CertificateRow).where(
            CertificateRow.campaign_id == approval.campaign_id,
            CertificateRow.content_hash == approval.content_hash,
            CertificateRow.revoked_at.is_(None),
        )
    )
    return found if found is not None else await record_approval(session, approval, ca)


async def on_approval_voided(session: AsyncSession, voided: ApprovalVoided) -> None:
    if voided.was_approved:
        await revoke_campaign(session, voided.campaign_id)


async def revoke_campaign(session: AsyncSession, campaign_id: uuid.UUID, reason: str = "superseded") -> int:
    """Revoke the campaign's certificates still in force (its approval was voided); returns how many."""
    rows = list(
        await session.scalars(
            select(CertificateRow).where(
                CertificateRow.campaign_id == campaign_id, CertificateRow.revoked_at.is_(None)
            )
        )
    )
    now = utcnow()
    for row in rows:
        row.revoked_at, row.revocation_reason = now, reason
        data = {"workspace_id": row.workspace_id, "serial": row.serial, "reason": reason, "revoked_at": now}
        await trust_log.append(
            session, trust_log.Record(EntryKind.CERTIFICATE_REVOKED, data, workspace_id=row.workspace_id)
        )
    return len(rows)


async def revocation_list(session: AsyncSession, ca: CertificateAuthority) -> bytes:
    """The CA's current CRL (PEM): every revoked certificate, campaigns' and services'."""
    campaigns = await session.execute(
        select(CertificateRow.serial, CertificateRow.revoked_at, CertificateRow.revocation_reason).where(
            CertificateRow.revoked_at.is_not(None)
        )
    )
    services = await session.execute(
        select(ServiceCredentialRow.serial, ServiceCredentialRow.revoked_at).where(
            ServiceCredentialRow.revoked_at.is_not(None)
        )
    )
    revoked = [(int(serial, 16), at, reason) for serial, at, reason in campaigns.all() if at is not None]
    ended = "cessationOfOperation"
    revoked += [(int(serial, 16), at, ended) for serial, at in services.all() if at is not None]
    return pem(ca.revocation_list(revoked))


def status(not_after: datetime, revoked_at: datetime | None, now: datetime) -> CertificateStatus:
    """Expired first (an expired certificate no longer vouches, revoked or not), then revoked."""
    if not_after <= now:
        return CertificateStatus.EXPIRED
    return CertificateStatus.REVOKED if revoked_at is not None else CertificateStatus.VALID

"""`to_wire`: a document version as the API answers it (shared/collaboration.py)."""

from __future__ import annotations

from justmaily.server.collaboration.models import DocumentVersion
from justmaily.shared.collaboration import Version


def to_wire(row: DocumentVersion) -> Version:
    return Version(
        id=row.id,
        campaign_id=row.campaign_id,
        name=row.name,
        kind=row.kind,
        content_hash=row.content_hash,
        created_by=row.created_by,
        created_at=row.created_at,
    )

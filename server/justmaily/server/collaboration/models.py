"""Tables of the collaboration domain: the document log, kept apart from the campaign row."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, new_id, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants a BIGINT identity.
_LogId = BigInteger().with_variant(Integer(), "sqlite")


class DocumentUpdate(Base):
    """One stored Yjs update of a campaign's document (append-only until compaction)."""

    __tablename__ = "document_updates"
    __table_args__ = (Index("ix_document_updates_campaign", "campaign_id", "id"),)

    id: Mapped[int] = mapped_column(_LogId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DocumentSnapshot(Base):
    """All updates up to some point, merged into one (compaction keeps loading fast)."""

    __tablename__ = "document_snapshots"

    campaign_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsedRoomTicket(Base):
    """A redeemed room ticket: its id can never be redeemed again (kept until it expires)."""

    __tablename__ = "used_room_tickets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class DocumentVersion(Base):
    """A frozen copy of a document: named by a person, or taken when it was sent to review."""

    __tablename__ = "document_versions"
    __table_args__ = (Index("ix_document_versions_campaign", "campaign_id", "created_at"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # "named" or "review"
    content_hash: Mapped[str] = mapped_column(String(64))
    data: Mapped[bytes] = mapped_column(LargeBinary)  # the whole document as one Yjs update
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

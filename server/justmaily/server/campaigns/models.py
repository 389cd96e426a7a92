"""Tables of the campaigns domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, enum_column, new_id, utcnow
from justmaily.shared.campaigns import CampaignStatus


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_listing", "workspace_id", "created_at", "id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(Text, default="")
    preheader: Mapped[str] = mapped_column(Text, default="")
    sender: Mapped[str] = mapped_column(String(320), default="")
    status: Mapped[CampaignStatus] = mapped_column(
        enum_column(CampaignStatus),
        default=CampaignStatus.DRAFT,
    )
    owner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    # Bumped by every change; clients send it back in If-Match to avoid lost updates.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # SHA-256 of the document as submitted for review, and as approved (docs/collaboration.md).
    review_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    approved_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    approved_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id"), default=None)
    # Why the last reviewer sent it back (shown to the editors), until it is submitted again.
    sent_back_reason: Mapped[str | None] = mapped_column(Text, default=None)
    # No foreign key: adding one would make SQLite rebuild this table (migration 0011).
    sent_back_by: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)
    sent_back_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    scheduled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def touch(self) -> None:
        """Record a change: a new revision (for If-Match) and the time."""
        self.revision += 1
        self.updated_at = utcnow()

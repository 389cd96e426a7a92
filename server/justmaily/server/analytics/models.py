"""Tables of the analytics domain: campaigns sent on other platforms, and the imports that brought them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, new_id, utcnow


class ImportedCampaign(Base):
    """A campaign another platform sent: its message events are in message_events (source=import)."""

    __tablename__ = "imported_campaigns"
    __table_args__ = (UniqueConstraint("workspace_id", "platform", "name"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))  # "generic" | "mailchimp" | "listmonk"
    name: Mapped[str] = mapped_column(String(200))  # the campaign as the file names it
    subject: Mapped[str] = mapped_column(String(998), default="")
    sent_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EventImport(Base):
    """One file of events imported, with its row-by-row report."""

    __tablename__ = "event_imports"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    rows: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)  # events new to the workspace
    already: Mapped[int] = mapped_column(Integer, default=0)  # events imported before (or twice in the file)
    unmatched: Mapped[int] = mapped_column(Integer, default=0)  # rows whose address is no contact
    # The rows not imported, with why (at most the first 1,000).
    issues: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_by: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

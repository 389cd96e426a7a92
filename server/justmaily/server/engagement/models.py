"""Tables of the engagement domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Text
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, utcnow


class WebhookSettings(Base):
    """How a workspace's provider webhooks are verified (the keys are public, not secrets)."""

    __tablename__ = "webhook_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    # SendGrid's Event Webhook verification key (base64 DER, ECDSA P-256).
    sendgrid_public_key: Mapped[str] = mapped_column(Text, default="")
    # SNS topics whose notifications are accepted: SNS signs every account's messages alike.
    ses_topic_arns: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

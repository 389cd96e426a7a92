"""Tables of the engagement domain."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from justmaily.server.db.base import Base, UTCDateTime, utcnow


class WebhookSettings(Base):
    """How a workspace's provider webhooks are verified (SendGrid's key and SNS topics are public;
    Mailgun's signing key and Postmark's credentials are secrets, stored sealed)."""

    __tablename__ = "webhook_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    # SendGrid's Event Webhook verification key (base64 DER, ECDSA P-256).
    sendgrid_public_key: Mapped[str] = mapped_column(Text, default="")
    # SNS topics whose notifications are accepted: SNS signs every account's messages alike.
    ses_topic_arns: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Mailgun's webhook signing key, sealed (keys/sealed.py); None: Mailgun's hook is off.
    mailgun_signing_key: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    # The Basic credentials ("user:password") in Postmark's webhook URL, sealed; None: off.
    postmark_credentials: Mapped[bytes | None] = mapped_column(LargeBinary, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookNonce(Base):
    """A signed nonce already accepted (Mailgun's token): its signature is not accepted again.

    Mailgun's HMAC covers the timestamp and token, not the event, so a captured post could carry
    another event under the same signature until its timestamp goes stale; remembering each token
    for that window closes the gap. Older rows are deleted as new ones arrive.
    """

    __tablename__ = "webhook_nonces"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(200), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

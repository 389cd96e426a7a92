"""comments leave the content hash; send-back reasons

Comments are no longer content (docs/collaboration.md): the content hash covers the texts only,
in a canonical form under which a document without comments hashes as before. A campaign in
review (or approved, or scheduled) whose document has comments was submitted under the former
form; its `review_hash` (what the document must still hash to) is rewritten to the new form of
the very same content, so the upgrade voids no approval. `approved_hash` stays: the certificate
and the transparency log carry it, and sends record it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 13:00:00
"""

# No `from __future__ import annotations`: msgspec reads the Structs' annotations at run time, and
# Alembic loads this file without a module msgspec could resolve names in.
import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import msgspec
import sqlalchemy as sa
from alembic import op
from pycrdt import Doc, Map, Text

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here as they were when this migration was written (the app's code may change later).
_TEXTS = ("subject", "preheader", "sender", "body", "subject_variants")
_LATER_TEXTS = frozenset({"subject_variants"})
_UNDER_REVIEW = ("in_review", "approved", "scheduled")


class _Anchor(msgspec.Struct, frozen=True, kw_only=True):
    start: str
    end: str


class _Comment(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    author_id: str
    author_name: str
    text: str
    created_at: datetime
    anchor: _Anchor | None = None
    reply_to: str | None = None
    resolved: bool = False


def _hashes(doc: Doc[Any]) -> tuple[str, str]:
    """(the former form with comments, the new form with none) of a document's content hash."""
    texts = {name: str(doc.get(name, type=Text)) for name in _TEXTS}
    values = {name: value for name, value in texts.items() if value or name not in _LATER_TEXTS}
    comments = []
    for value in (doc.get("comments", type=Map).to_py() or {}).values():
        try:
            comments.append(msgspec.convert(value, _Comment, strict=False))
        except msgspec.ValidationError:
            continue
    comments.sort(key=lambda c: (c.created_at, c.id))
    former = msgspec.json.encode({"texts": values, "comments": comments}, order="sorted")
    new = msgspec.json.encode({"texts": values, "comments": []}, order="sorted")
    return hashlib.sha256(former).hexdigest(), hashlib.sha256(new).hexdigest()


def _document(connection: sa.Connection, campaign_id: Any) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    snapshot = connection.execute(
        sa.text("SELECT data FROM document_snapshots WHERE campaign_id = :id"), {"id": campaign_id}
    ).scalar()
    if snapshot:
        doc.apply_update(bytes(snapshot))
    for (data,) in connection.execute(
        sa.text("SELECT data FROM document_updates WHERE campaign_id = :id ORDER BY id"), {"id": campaign_id}
    ):
        doc.apply_update(bytes(data))
    return doc


def upgrade() -> None:
    # Plain ADD COLUMNs: a foreign key would make SQLite rebuild `campaigns`, and dropping the old
    # table with foreign keys on would cascade into every campaign's document and versions.
    op.add_column("campaigns", sa.Column("sent_back_reason", sa.Text(), nullable=True))
    op.add_column("campaigns", sa.Column("sent_back_by", sa.Uuid(), nullable=True))
    op.add_column("campaigns", sa.Column("sent_back_at", sa.DateTime(timezone=True), nullable=True))
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(
            "SELECT id, review_hash FROM campaigns WHERE review_hash IS NOT NULL AND status IN :statuses"
        ).bindparams(sa.bindparam("statuses", expanding=True)),
        {"statuses": list(_UNDER_REVIEW)},
    ).all()
    for campaign_id, review_hash in rows:
        former, new = _hashes(_document(connection, campaign_id))
        if review_hash == former and former != new:
            connection.execute(
                sa.text("UPDATE campaigns SET review_hash = :new WHERE id = :id"),
                {"new": new, "id": campaign_id},
            )


def downgrade() -> None:
    # Native DROP COLUMN (SQLite 3.35+), not a batch rebuild: see upgrade().
    for column in ("sent_back_at", "sent_back_by", "sent_back_reason"):
        op.drop_column("campaigns", column)

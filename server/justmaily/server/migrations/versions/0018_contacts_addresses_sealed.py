"""contacts' addresses sealed: contacts, suppressions and staged import rows keep the address
sealed (AES-256-GCM under the workspace's data key, bound to the row) and `email_key` becomes its
blind index (HMAC-SHA256 under the workspace's index key)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 23:10:00

Rows are sealed in batches of 500. A row is plaintext while its `email_sealed` is NULL (a sealed
cell starts with the version prefix `JM1`) and each batch picks only such rows. The migration
runs in one transaction on both backends (env.py: transactional DDL), so a run that stops midway
leaves nothing half-done: it is rolled back, and the next run starts again. The keys come from
the KEK provider the server's settings name (made on first use, like the server does, and on
record in the audit log).
Downgrade opens every address again into plaintext (with the same keys) and drops the sealed
columns: it is for going back to an older release, and leaves the data as 0016 had it.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import context, op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 500
_ACTOR = "migration-0018"


class _Keys:
    """Each workspace's keys, made and unwrapped as `protection/hierarchy.py` does, synchronously."""

    def __init__(self, connection: sa.Connection) -> None:
        from justmaily.server.protection.providers import provider_from
        from justmaily.server.settings import Settings, load_settings

        settings = context.config.attributes.get("settings")
        if not isinstance(settings, Settings):
            settings = load_settings()[0]
        self.provider = provider_from(settings)
        self.connection = connection
        self.found: dict[uuid.UUID, Any] = {}

    def of(self, workspace_id: uuid.UUID) -> Any:
        from justmaily.server.protection.hierarchy import WorkspaceKeys, wrap_context
        from justmaily.server.protection.models import KeyPurpose
        from justmaily.server.protection.providers import Wrapped

        if workspace_id in self.found:
            return self.found[workspace_id]
        rows = self._rows(workspace_id)
        for purpose in KeyPurpose:
            if not any(row.purpose == purpose.value for row in rows):
                wrapped = self.provider.wrap(secrets.token_bytes(32), wrap_context(workspace_id, purpose, 1))
                self.connection.execute(
                    sa.text(
                        "INSERT INTO data_keys"
                        " (workspace_id, purpose, version, kek_version, wrapped, created_at)"
                        " VALUES (:w, :p, 1, :k, :b, :at)"
                    ),
                    {
                        "w": _stored(workspace_id),
                        "p": purpose.value,
                        "k": wrapped.kek_version,
                        "b": wrapped.blob,
                        "at": _now(),
                    },
                )
                self._audit(workspace_id, "key.create", f"{purpose.value} key v1")
        data: dict[int, bytes] = {}
        index: dict[int, bytes] = {}
        for row in self._rows(workspace_id):
            purpose = KeyPurpose(row.purpose)
            key = self.provider.unwrap(
                Wrapped(row.kek_version, row.wrapped), wrap_context(workspace_id, purpose, row.version)
            )
            self._audit(workspace_id, "key.unwrap", f"{purpose.value} key v{row.version}")
            (data if purpose is KeyPurpose.DATA else index)[row.version] = key
        found = WorkspaceKeys(workspace_id, max(data), data, max(index), index[max(index)])
        self.found[workspace_id] = found
        return found

    def _rows(self, workspace_id: uuid.UUID) -> list[Any]:
        query = sa.text(
            "SELECT purpose, version, kek_version, wrapped FROM data_keys WHERE workspace_id = :w"
        )
        return list(self.connection.execute(query, {"w": _stored(workspace_id)}).all())

    def _audit(self, workspace_id: uuid.UUID, action: str, subject: str) -> None:
        self.connection.execute(
            sa.text(
                "INSERT INTO audit_entries"
                " (id, at, workspace_id, actor_kind, actor_id, action, subject, reason)"
                " VALUES (:id, :at, :w, 'system', :actor, :action, :subject, :reason)"
            ),
            {
                "id": _stored(uuid.uuid4()),
                "at": _now(),
                "w": _stored(workspace_id),
                "actor": _ACTOR,
                "action": action,
                "subject": subject,
                "reason": "migration 0018 seals contacts' addresses",
            },
        )


def _now() -> datetime:
    # As UTCDateTime stores it: naive UTC on SQLite, aware on PostgreSQL.
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now


def _stored(value: uuid.UUID) -> uuid.UUID | str:
    """A UUID as a textual statement binds it where sa.Uuid stores it: 32 hex digits on SQLite."""
    return value.hex if op.get_bind().dialect.name == "sqlite" else value


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _in_batches(select: str, handle: Callable[[Any], None]) -> None:
    connection = op.get_bind()
    while True:
        rows = connection.execute(sa.text(f"{select} LIMIT {_BATCH}")).all()
        if not rows:
            return
        for row in rows:
            handle(row)


def upgrade() -> None:
    from justmaily.server.protection.fields import address_index, row_identity, seal_text

    for table in ("contacts", "suppressions", "import_rows"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("email_sealed", sa.LargeBinary(), nullable=True))
    connection = op.get_bind()
    keys: _Keys | None = None

    def keys_of(workspace_id: Any) -> Any:
        nonlocal keys
        keys = keys or _Keys(connection)
        return keys.of(_uuid(workspace_id))

    def seal_contact(row: Any) -> None:
        found = keys_of(row.workspace_id)
        cell = row_identity(_uuid(row.workspace_id), "contacts.email", _uuid(row.id))
        connection.execute(
            sa.text("UPDATE contacts SET email_sealed = :s, email_key = :k WHERE id = :id"),
            {"s": seal_text(found, cell, row.email), "k": address_index(found, row.email), "id": row.id},
        )

    def seal_suppression(row: Any) -> None:
        found = keys_of(row.workspace_id)
        index = address_index(found, row.email_key)
        cell = row_identity(_uuid(row.workspace_id), "suppressions.email", index)
        connection.execute(
            sa.text(
                "UPDATE suppressions SET email_sealed = :s, email_key = :k"
                " WHERE workspace_id = :w AND email_key = :old"
            ),
            {
                "s": seal_text(found, cell, row.email_key),
                "k": index,
                "w": row.workspace_id,
                "old": row.email_key,
            },
        )

    def seal_staged(row: Any) -> None:
        found = keys_of(row.workspace_id)
        index = address_index(found, row.email_key)
        cell = row_identity(_uuid(row.workspace_id), "import_rows.email", f"{_uuid(row.import_id)}/{index}")
        connection.execute(
            sa.text(
                "UPDATE import_rows SET email_sealed = :s, email_key = :k"
                " WHERE import_id = :i AND email_key = :old"
            ),
            {"s": seal_text(found, cell, row.email), "k": index, "i": row.import_id, "old": row.email_key},
        )

    _in_batches(
        "SELECT id, workspace_id, email FROM contacts WHERE email_sealed IS NULL ORDER BY id", seal_contact
    )
    _in_batches(
        "SELECT workspace_id, email_key FROM suppressions WHERE email_sealed IS NULL ORDER BY email_key",
        seal_suppression,
    )
    _in_batches(
        "SELECT r.import_id, r.email_key, r.email, i.workspace_id FROM import_rows r"
        " JOIN contact_imports i ON i.id = r.import_id WHERE r.email_sealed IS NULL ORDER BY r.email_key",
        seal_staged,
    )
    for table in ("contacts", "import_rows"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("email_sealed", existing_type=sa.LargeBinary(), nullable=False)
            batch.drop_column("email")
    with op.batch_alter_table("suppressions") as batch:
        batch.alter_column("email_sealed", existing_type=sa.LargeBinary(), nullable=False)


def downgrade() -> None:
    from justmaily.server.protection.fields import open_text, row_identity

    for table in ("contacts", "import_rows"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("email", sa.String(length=320), nullable=True))
    connection = op.get_bind()
    keys: _Keys | None = None

    def keys_of(workspace_id: Any) -> Any:
        nonlocal keys
        keys = keys or _Keys(connection)
        return keys.of(_uuid(workspace_id))

    def open_contact(row: Any) -> None:
        cell = row_identity(_uuid(row.workspace_id), "contacts.email", _uuid(row.id))
        email = open_text(keys_of(row.workspace_id), cell, row.email_sealed)
        connection.execute(
            sa.text("UPDATE contacts SET email = :e, email_key = :k WHERE id = :id"),
            {"e": email, "k": email.lower(), "id": row.id},
        )

    def open_suppression(row: Any) -> None:
        cell = row_identity(_uuid(row.workspace_id), "suppressions.email", row.email_key)
        email = open_text(keys_of(row.workspace_id), cell, row.email_sealed)
        # 0016 kept only the key; the sealed cell goes with the column below.
        connection.execute(
            sa.text(
                "UPDATE suppressions SET email_key = :k, email_sealed = NULL"
                " WHERE workspace_id = :w AND email_key = :old"
            ),
            {"k": email.strip().lower(), "w": row.workspace_id, "old": row.email_key},
        )

    def open_staged(row: Any) -> None:
        cell = row_identity(
            _uuid(row.workspace_id), "import_rows.email", f"{_uuid(row.import_id)}/{row.email_key}"
        )
        email = open_text(keys_of(row.workspace_id), cell, row.email_sealed)
        connection.execute(
            sa.text(
                "UPDATE import_rows SET email = :e, email_key = :k WHERE import_id = :i AND email_key = :old"
            ),
            {"e": email, "k": email.lower(), "i": row.import_id, "old": row.email_key},
        )

    with op.batch_alter_table("suppressions") as batch:
        batch.alter_column("email_sealed", existing_type=sa.LargeBinary(), nullable=True)
    _in_batches(
        "SELECT id, workspace_id, email_sealed FROM contacts WHERE email IS NULL ORDER BY id", open_contact
    )
    _in_batches(
        "SELECT workspace_id, email_key, email_sealed FROM suppressions WHERE email_sealed IS NOT NULL"
        " ORDER BY email_key",
        open_suppression,
    )
    _in_batches(
        "SELECT r.import_id, r.email_key, r.email_sealed, i.workspace_id FROM import_rows r"
        " JOIN contact_imports i ON i.id = r.import_id WHERE r.email IS NULL ORDER BY r.email_key",
        open_staged,
    )
    for table in ("contacts", "import_rows"):
        with op.batch_alter_table(table) as batch:
            batch.alter_column("email", existing_type=sa.String(length=320), nullable=False)
            batch.drop_column("email_sealed")
    with op.batch_alter_table("suppressions") as batch:
        batch.drop_column("email_sealed")

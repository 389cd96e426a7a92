"""CSV imports and exports of contacts, streamed (`ContactFiles`).

An import has two phases. Reading: the upload streams through `csv_io.read_contacts`; valid
rows are staged in `import_rows`, a batch per transaction, and the counters move with each
batch (so `GET /api/imports/{id}` shows progress). Merging: once the whole file was read, the
staged rows become contacts in one transaction. A file refused as a whole (encoding, columns, a
runaway quote) or a crash while reading merges nothing; contacts change all at once or not at all.

The upload and the download take as long as the client does: this service owns its
transactions and holds none open while it waits on the client.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, AsyncIterator
from typing import Any

import structlog
from sqlalchemy import ColumnElement

from justmaily.server.audiences import repository
from justmaily.server.audiences.csv_io import (
    DuplicateRow,
    FileRejected,
    ImportedRow,
    export_contacts,
    read_contacts,
)
from justmaily.server.audiences.models import ContactImport
from justmaily.server.audiences.service import AudienceService, segment_where
from justmaily.server.audiences.views import to_wire
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.db.session import transaction
from justmaily.server.http.problems import ApiError, not_found
from justmaily.server.identity.principal import Principal
from justmaily.shared import audiences as wire

log = structlog.get_logger(__name__)

_BATCH = 1000
_KEPT_REJECTIONS = 1000


class ContactFiles:
    def __init__(self, database: Database, workspace_id: uuid.UUID) -> None:
        self.database, self.workspace_id = database, workspace_id

    async def create(self, principal: Principal, data: wire.ImportCreate) -> wire.ContactImport:
        """An import waiting for its file; imported contacts are subscribed, with `consent_source`."""
        async with transaction(self.database) as session:
            if data.list_id is not None:
                await AudienceService(session, self.workspace_id).contact_list(data.list_id)
            job = ContactImport(
                workspace_id=self.workspace_id,
                list_id=data.list_id,
                consent_source=data.consent_source,
                created_by=principal.user_id,
            )
            session.add(job)
            await session.flush()
            return to_wire(job)

    async def get(self, import_id: uuid.UUID) -> wire.ContactImport:
        async with self.database.session(read_only=True) as session:
            job = await session.get(ContactImport, import_id)
        if job is None or job.workspace_id != self.workspace_id:
            raise not_found("import")
        return to_wire(job)

    async def upload(self, import_id: uuid.UUID, chunks: AsyncIterable[bytes]) -> wire.ContactImport:
        """Read the file as it streams, then merge what it held; answers the import's report."""
        database = self.database
        async with database.session() as session, session.begin():
            job = await session.get(ContactImport, import_id)
            if job is None or job.workspace_id != self.workspace_id:
                raise not_found("import")
            if job.status not in (wire.ImportStatus.WAITING, wire.ImportStatus.FAILED):
                raise ApiError(
                    409, "import_started", f"this import is {job.status}; create a new one for another file"
                )
            await repository.discard_staged(session, import_id)
            job.status, job.error, job.finished_at = wire.ImportStatus.READING, "", None
            job.rows_read = job.rows_valid = job.rows_rejected = job.rows_duplicate = 0
            job.rejections = []
        counts = {"rows_read": 0, "rows_valid": 0, "rows_rejected": 0, "rows_duplicate": 0}
        rejections: list[dict[str, Any]] = []
        staged: list[dict[str, Any]] = []
        try:
            async for item in read_contacts(chunks):
                counts["rows_read"] += 1
                if isinstance(item, ImportedRow):
                    counts["rows_valid"] += 1
                    staged.append(
                        {
                            "email_key": item.email_key,
                            "email": item.email,
                            "name": item.name,
                            "attributes": item.attributes,
                            "row_number": item.row,
                        }
                    )
                else:
                    counts["rows_duplicate" if isinstance(item, DuplicateRow) else "rows_rejected"] += 1
                    if len(rejections) < _KEPT_REJECTIONS:
                        rejections.append({"row": item.row, "reason": item.reason})
                if len(staged) >= _BATCH:
                    await self._stage(import_id, staged, counts, rejections)
                    staged = []
            await self._stage(import_id, staged, counts, rejections)
        except FileRejected as exc:
            return to_wire(await self._fail(import_id, exc.reason))
        except BaseException:
            # The upload broke off (client gone, server stopping): nothing is merged.
            await self._fail(import_id, "the upload did not finish; nothing was imported")
            raise
        async with database.session() as session, session.begin():
            job = await session.get(ContactImport, import_id)
            assert job is not None
            job.contacts_created, job.contacts_updated = await repository.merge_import(session, job)
            job.status, job.finished_at = wire.ImportStatus.DONE, utcnow()
        log.info("contacts imported", import_id=str(import_id), **counts)
        return to_wire(job)

    async def export_list(self, list_id: uuid.UUID) -> tuple[str, AsyncIterator[bytes]]:
        """The list's name, and its contacts as CSV chunks."""
        async with self.database.session(read_only=True) as session:
            contact_list = await AudienceService(session, self.workspace_id).contact_list(list_id)
        return contact_list.name, self._export(list_id=list_id, where=None)

    async def export_segment(self, segment_id: uuid.UUID) -> tuple[str, AsyncIterator[bytes]]:
        """The segment's name, and the contacts it matches now as CSV chunks."""
        async with self.database.session(read_only=True) as session:
            segment = await AudienceService(session, self.workspace_id).segment(segment_id)
            where = await segment_where(session, self.workspace_id, segment_id, utcnow())
        return segment.name, self._export(list_id=None, where=where)

    async def _stage(
        self,
        import_id: uuid.UUID,
        rows: list[dict[str, Any]],
        counts: dict[str, int],
        rejections: list[dict[str, Any]],
    ) -> None:
        async with self.database.session() as session, session.begin():
            job = await session.get(ContactImport, import_id)
            assert job is not None
            await repository.stage_rows(session, job.workspace_id, import_id, rows)
            for name, value in counts.items():
                setattr(job, name, value)
            job.rejections = list(rejections)

    async def _fail(self, import_id: uuid.UUID, reason: str) -> ContactImport:
        async with self.database.session() as session, session.begin():
            await repository.discard_staged(session, import_id)
            job = await session.get(ContactImport, import_id)
            assert job is not None
            job.status, job.error, job.finished_at = wire.ImportStatus.FAILED, reason, utcnow()
        return job

    async def _export(
        self, *, list_id: uuid.UUID | None, where: ColumnElement[bool] | None
    ) -> AsyncIterator[bytes]:
        """The contacts as CSV chunks; reads in batches, never the whole list at once."""
        async with self.database.session(read_only=True) as session:
            keys = sorted(await repository.attribute_keys(session, self.workspace_id))

            async def contacts() -> AsyncIterator[Any]:
                async for batch in repository.export_contacts(
                    session, self.workspace_id, list_id=list_id, where=where
                ):
                    for contact in batch:
                        yield contact

            async for chunk in export_contacts(contacts(), keys):
                yield chunk

"""HTTP handlers of the audiences domain: contacts, lists, segments, suppressions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.audiences import examples
from justmaily.server.audiences.imports import export_csv, get_import, import_view, run_import
from justmaily.server.audiences.models import ContactImport
from justmaily.server.audiences.service import AudienceService, segment_where
from justmaily.server.db.base import utcnow
from justmaily.server.db.engine import Database
from justmaily.server.http.downloads import attachment
from justmaily.server.http.openapi import body, ok, problems
from justmaily.server.http.pagination import CursorParameter
from justmaily.server.http.policy import requires
from justmaily.server.identity.principal import AuthedRequest
from justmaily.shared import audiences as wire
from justmaily.shared.pagination import Page
from justmaily.shared.roles import Permission

Limit = Annotated[int, QueryParameter(ge=1, le=500, description="Page size")]
# Suppressions page by address: their cursor is the last address of the previous page.
AddressCursor = Annotated[
    str | None, QueryParameter(max_length=500, description="`next_cursor` of the previous page")
]


def _service(request: AuthedRequest, session: AsyncSession) -> AudienceService:
    return AudienceService(session, request.user.workspace_id)


class ContactsController(Controller):
    path = "/api/contacts"
    tags = ["audiences"]

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(Page[wire.Contact], examples.CONTACT_PAGE) | problems(400, 404, 422),
        summary="List contacts, oldest first (of a list, or matching a filter)",
    )
    async def list_contacts(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 100,
        cursor: CursorParameter = None,
        list_id: Annotated[uuid.UUID | None, QueryParameter(description="Only members of this list")] = None,
        filter: Annotated[
            str | None,
            QueryParameter(max_length=4000, description="A segment filter (docs/segments.md)"),
        ] = None,
    ) -> Page[wire.Contact]:
        return await _service(request, db_session).list_contacts(
            limit=limit, cursor=cursor, list_id=list_id, filter_text=filter
        )

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Contact, examples.CONTACT, 201) | problems(400, 404, 409, 422),
        summary="Add a contact",
    )
    async def create_contact(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[
            wire.ContactCreate,
            body(
                "a subscriber",
                {
                    "email": "ada@example.com",
                    "name": "Ada Lovelace",
                    "attributes": {"plan": "pro"},
                    "consent": "subscribed",
                    "consent_source": "signup form",
                },
            ),
        ],
    ) -> wire.Contact:
        """The address is validated and normalised; consent `subscribed` records consent given
        elsewhere (name where in `consent_source`)."""
        return await _service(request, db_session).create_contact(data)

    @get(
        "/{contact_id:uuid}",
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(wire.Contact, examples.CONTACT) | problems(400, 404),
        summary="Read a contact",
    )
    async def get_contact(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        contact_id: FromPath[uuid.UUID],
    ) -> wire.Contact:
        service = _service(request, db_session)
        return await service.view(await service.contact(contact_id))

    @patch(
        "/{contact_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Contact, examples.CONTACT) | problems(400, 404, 422),
        summary="Change a contact's name or attributes (null removes an attribute)",
    )
    async def update_contact(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        contact_id: FromPath[uuid.UUID],
        data: Annotated[wire.ContactUpdate, body("new plan", {"attributes": {"plan": "team"}})],
    ) -> wire.Contact:
        return await _service(request, db_session).update_contact(contact_id, data)

    @delete(
        "/{contact_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=problems(400, 404),
        summary="Erase a contact (the address stays suppressed if it was)",
    )
    async def delete_contact(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        contact_id: FromPath[uuid.UUID],
    ) -> None:
        await _service(request, db_session).delete_contact(contact_id)


class ListsController(Controller):
    path = "/api/lists"
    tags = ["audiences"]

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(list[wire.ContactList], [examples.LIST]) | problems(),
        summary="List the contact lists, with their sizes",
    )
    async def list_lists(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]
    ) -> list[wire.ContactList]:
        return await _service(request, db_session).lists()

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.ContactList, examples.LIST, 201) | problems(400, 409),
        summary="Create a list",
    )
    async def create_list(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[wire.ContactListCreate, body("newsletter", {"name": "Newsletter"})],
    ) -> wire.ContactList:
        return await _service(request, db_session).create_list(data)

    @delete(
        "/{list_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=problems(400, 404),
        summary="Delete a list (its contacts stay)",
    )
    async def delete_list(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession], list_id: FromPath[uuid.UUID]
    ) -> None:
        await _service(request, db_session).delete_list(list_id)

    @post(
        "/{list_id:uuid}/members",
        opt=requires(Permission.CONTACTS_WRITE),
        status_code=200,
        responses=ok(int, 2) | problems(400, 404, 422),
        summary="Add contacts to a list; answers how many were new",
    )
    async def add_members(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        list_id: FromPath[uuid.UUID],
        data: Annotated[
            wire.ListMembersChange,
            body("two contacts", {"contact_ids": ["3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"]}),
        ],
    ) -> int:
        return await _service(request, db_session).add_members(list_id, data.contact_ids)

    @post(
        "/{list_id:uuid}/members/remove",
        opt=requires(Permission.CONTACTS_WRITE),
        status_code=200,
        responses=ok(int, 1) | problems(400, 404),
        summary="Remove contacts from a list; answers how many were members",
    )
    async def remove_members(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        list_id: FromPath[uuid.UUID],
        data: Annotated[
            wire.ListMembersChange,
            body("one contact", {"contact_ids": ["3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"]}),
        ],
    ) -> int:
        return await _service(request, db_session).remove_members(list_id, data.contact_ids)


class SegmentsController(Controller):
    path = "/api/segments"
    tags = ["audiences"]

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(list[wire.Segment], [examples.SEGMENT]) | problems(),
        summary="List segments",
    )
    async def list_segments(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession]
    ) -> list[wire.Segment]:
        return await _service(request, db_session).segments()

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Segment, examples.SEGMENT, 201) | problems(400, 409, 422),
        summary="Save a segment (its filter is checked now and evaluated at every use)",
    )
    async def create_segment(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[
            wire.SegmentCreate,
            body(
                "engaged Germans",
                {"name": "Engaged DE", "filter": 'country = "DE" and opened within 30 days'},
            ),
        ],
    ) -> wire.Segment:
        return await _service(request, db_session).create_segment(data)

    @get(
        "/{segment_id:uuid}/preview",
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(wire.SegmentPreview, examples.PREVIEW) | problems(400, 404, 422),
        summary="How many contacts a segment matches now, and the first ten",
    )
    async def preview_segment(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        segment_id: FromPath[uuid.UUID],
    ) -> wire.SegmentPreview:
        service = _service(request, db_session)
        return await service.preview((await service.segment(segment_id)).filter)

    @delete(
        "/{segment_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=problems(400, 404),
        summary="Delete a segment",
    )
    async def delete_segment(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        segment_id: FromPath[uuid.UUID],
    ) -> None:
        await _service(request, db_session).delete_segment(segment_id)


class SuppressionsController(Controller):
    path = "/api/suppressions"
    tags = ["audiences"]

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(Page[wire.Suppression], examples.SUPPRESSION_PAGE) | problems(400),
        summary="List suppressed addresses (never sent to), in address order",
    )
    async def list_suppressions(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        limit: Limit = 100,
        cursor: AddressCursor = None,
    ) -> Page[wire.Suppression]:
        return await _service(request, db_session).suppressions(limit=limit, cursor=cursor)

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Suppression, examples.SUPPRESSION, 201) | problems(400, 422),
        summary="Suppress an address",
    )
    async def create_suppression(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[
            wire.SuppressionCreate,
            body("asked by phone", {"email": "gone@example.com", "detail": "asked by phone"}),
        ],
    ) -> wire.Suppression:
        return await _service(request, db_session).suppress(data)

    @delete(
        "/{email:str}",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=problems(400, 404),
        summary="Lift a suppression (admins: only with the person's renewed consent)",
    )
    async def delete_suppression(
        self, request: AuthedRequest, db_session: NamedDependency[AsyncSession], email: FromPath[str]
    ) -> None:
        await _service(request, db_session).unsuppress(email)


# An upload of 100,000 rows with a few attributes is ~10 MB; the limit leaves room for more.
MAX_IMPORT_BYTES = 512 * 1024 * 1024


def _csv_download(name: str, chunks: AsyncIterator[bytes]) -> Stream:
    return Stream(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": attachment(f"{name}.csv", "contacts"), "Cache-Control": "no-store"},
    )


class ImportsController(Controller):
    path = "/api/imports"
    tags = ["audiences"]

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.ContactImport, examples.IMPORT, 201) | problems(400, 404),
        summary="Start a CSV import (then PUT the file to …/file)",
    )
    async def create_import(
        self,
        request: AuthedRequest,
        db_session: NamedDependency[AsyncSession],
        data: Annotated[
            wire.ImportCreate, body("fair sign-ups", {"consent_source": "spring fair sign-up sheet"})
        ],
    ) -> wire.ContactImport:
        """Imported contacts are subscribed, with `consent_source` saying where they consented.
        Known addresses get the file's name and attributes; their consent is left alone."""
        workspace_id = request.user.workspace_id
        if data.list_id is not None:
            await _service(request, db_session).contact_list(data.list_id)
        job = ContactImport(
            workspace_id=workspace_id,
            list_id=data.list_id,
            consent_source=data.consent_source,
            created_by=request.user.user_id,
        )
        db_session.add(job)
        await db_session.flush()
        return import_view(job)

    @put(
        "/{import_id:uuid}/file",
        opt=requires(Permission.CONTACTS_WRITE),
        request_max_body_size=MAX_IMPORT_BYTES,
        responses=ok(wire.ContactImport, examples.IMPORT) | problems(400, 404, 409, 413),
        summary="Upload the CSV (UTF-8, a header row with an email column); answers the report",
    )
    async def upload_import(
        self, request: AuthedRequest, database: NamedDependency[Database], import_id: FromPath[uuid.UUID]
    ) -> wire.ContactImport:
        """The file streams: rows are checked as they arrive, bad rows are reported one by one,
        and the contacts are written at the end in one transaction. A file refused as a whole
        (not UTF-8, no email column, a runaway quote) writes nothing: the report says why."""
        job = await run_import(database, request.user.workspace_id, import_id, request.stream())
        return import_view(job)

    @get(
        "/{import_id:uuid}",
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(wire.ContactImport, examples.IMPORT) | problems(400, 404),
        summary="An import's progress and report",
    )
    async def get_import(
        self, request: AuthedRequest, database: NamedDependency[Database], import_id: FromPath[uuid.UUID]
    ) -> wire.ContactImport:
        return import_view(await get_import(database, request.user.workspace_id, import_id))


class ExportsController(Controller):
    tags = ["audiences"]

    @get(
        "/api/lists/{list_id:uuid}/export",
        opt=requires(Permission.CONTACTS_READ),
        responses=problems(400, 404),
        summary="A list's contacts as CSV (UTF-8 with BOM, formula cells guarded)",
        media_type="text/csv",
    )
    async def export_list(
        self, request: AuthedRequest, database: NamedDependency[Database], list_id: FromPath[uuid.UUID]
    ) -> Stream:
        workspace_id = request.user.workspace_id
        async with database.session(read_only=True) as session:
            contact_list = await AudienceService(session, workspace_id).contact_list(list_id)
        chunks = export_csv(database, workspace_id, list_id=list_id, where=None)
        return _csv_download(_file_name(contact_list.name), chunks)

    @get(
        "/api/segments/{segment_id:uuid}/export",
        opt=requires(Permission.CONTACTS_READ),
        responses=problems(400, 404, 422),
        summary="A segment's contacts now, as CSV",
        media_type="text/csv",
    )
    async def export_segment(
        self, request: AuthedRequest, database: NamedDependency[Database], segment_id: FromPath[uuid.UUID]
    ) -> Stream:
        workspace_id = request.user.workspace_id
        async with database.session(read_only=True) as session:
            segment = await AudienceService(session, workspace_id).segment(segment_id)
            where = await segment_where(session, workspace_id, segment_id, utcnow())
        return _csv_download(
            _file_name(segment.name), export_csv(database, workspace_id, list_id=None, where=where)
        )


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "contacts"

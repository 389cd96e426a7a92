"""HTTP handlers of the audiences domain: contacts, lists, segments, suppressions."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, QueryParameter
from litestar.response import Stream

from justmaily.server.audiences import deps, examples
from justmaily.server.audiences.imports import ContactFiles
from justmaily.server.audiences.service import AudienceService
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


_AUDIENCES = {"audiences": Provide(deps.provide_audiences, sync_to_thread=False)}
_FILES = {"files": Provide(deps.provide_files, sync_to_thread=False)}


class ContactsController(Controller):
    path = "/api/contacts"
    tags = ["audiences"]
    dependencies = _AUDIENCES

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(Page[wire.Contact], examples.CONTACT_PAGE) | problems(400, 404, 422),
        summary="List contacts, oldest first (of a list, or matching a filter)",
    )
    async def list_contacts(
        self,
        audiences: NamedDependency[AudienceService],
        limit: Limit = 100,
        cursor: CursorParameter = None,
        list_id: Annotated[uuid.UUID | None, QueryParameter(description="Only members of this list")] = None,
        filter: Annotated[
            str | None,
            QueryParameter(max_length=4000, description="A segment filter (docs/segments.md)"),
        ] = None,
    ) -> Page[wire.Contact]:
        return await audiences.list_contacts(limit=limit, cursor=cursor, list_id=list_id, filter_text=filter)

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Contact, examples.CONTACT, 201) | problems(400, 404, 409, 422),
        summary="Add a contact",
    )
    async def create_contact(
        self,
        audiences: NamedDependency[AudienceService],
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
        return await audiences.create_contact(data)

    @get(
        "/{contact_id:uuid}",
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(wire.Contact, examples.CONTACT) | problems(400, 404),
        summary="Read a contact",
    )
    async def get_contact(
        self,
        audiences: NamedDependency[AudienceService],
        contact_id: FromPath[uuid.UUID],
    ) -> wire.Contact:
        return await audiences.read_contact(contact_id)

    @patch(
        "/{contact_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Contact, examples.CONTACT) | problems(400, 404, 422),
        summary="Change a contact's name or attributes (null removes an attribute)",
    )
    async def update_contact(
        self,
        audiences: NamedDependency[AudienceService],
        contact_id: FromPath[uuid.UUID],
        data: Annotated[wire.ContactUpdate, body("new plan", {"attributes": {"plan": "team"}})],
    ) -> wire.Contact:
        return await audiences.update_contact(contact_id, data)

    @delete(
        "/{contact_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=problems(400, 404),
        summary="Erase a contact (the address stays suppressed if it was)",
    )
    async def delete_contact(
        self,
        audiences: NamedDependency[AudienceService],
        contact_id: FromPath[uuid.UUID],
    ) -> None:
        await audiences.delete_contact(contact_id)


class ListsController(Controller):
    path = "/api/lists"
    tags = ["audiences"]
    dependencies = _AUDIENCES

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(list[wire.ContactList], [examples.LIST]) | problems(),
        summary="List the contact lists, with their sizes",
    )
    async def list_lists(self, audiences: NamedDependency[AudienceService]) -> list[wire.ContactList]:
        return await audiences.lists()

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.ContactList, examples.LIST, 201) | problems(400, 409),
        summary="Create a list",
    )
    async def create_list(
        self,
        audiences: NamedDependency[AudienceService],
        data: Annotated[wire.ContactListCreate, body("newsletter", {"name": "Newsletter"})],
    ) -> wire.ContactList:
        return await audiences.create_list(data)

    @delete(
        "/{list_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=problems(400, 404),
        summary="Delete a list (its contacts stay)",
    )
    async def delete_list(
        self,
        audiences: NamedDependency[AudienceService],
        list_id: FromPath[uuid.UUID],
    ) -> None:
        await audiences.delete_list(list_id)

    @post(
        "/{list_id:uuid}/members",
        opt=requires(Permission.CONTACTS_WRITE),
        status_code=200,
        responses=ok(int, 2) | problems(400, 404, 422),
        summary="Add contacts to a list; answers how many were new",
    )
    async def add_members(
        self,
        audiences: NamedDependency[AudienceService],
        list_id: FromPath[uuid.UUID],
        data: Annotated[
            wire.ListMembersChange,
            body("two contacts", {"contact_ids": ["3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"]}),
        ],
    ) -> int:
        return await audiences.add_members(list_id, data.contact_ids)

    @post(
        "/{list_id:uuid}/members/remove",
        opt=requires(Permission.CONTACTS_WRITE),
        status_code=200,
        responses=ok(int, 1) | problems(400, 404),
        summary="Remove contacts from a list; answers how many were members",
    )
    async def remove_members(
        self,
        audiences: NamedDependency[AudienceService],
        list_id: FromPath[uuid.UUID],
        data: Annotated[
            wire.ListMembersChange,
            body("one contact", {"contact_ids": ["3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"]}),
        ],
    ) -> int:
        return await audiences.remove_members(list_id, data.contact_ids)


class SegmentsController(Controller):
    path = "/api/segments"
    tags = ["audiences"]
    dependencies = _AUDIENCES

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(list[wire.Segment], [examples.SEGMENT]) | problems(),
        summary="List segments",
    )
    async def list_segments(self, audiences: NamedDependency[AudienceService]) -> list[wire.Segment]:
        return await audiences.segments()

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Segment, examples.SEGMENT, 201) | problems(400, 409, 422),
        summary="Save a segment (its filter is checked now and evaluated at every use)",
    )
    async def create_segment(
        self,
        audiences: NamedDependency[AudienceService],
        data: Annotated[
            wire.SegmentCreate,
            body(
                "engaged Germans",
                {"name": "Engaged DE", "filter": 'country = "DE" and opened within 30 days'},
            ),
        ],
    ) -> wire.Segment:
        return await audiences.create_segment(data)

    @get(
        "/{segment_id:uuid}/preview",
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(wire.SegmentPreview, examples.PREVIEW) | problems(400, 404, 422),
        summary="How many contacts a segment matches now, and the first ten",
    )
    async def preview_segment(
        self,
        audiences: NamedDependency[AudienceService],
        segment_id: FromPath[uuid.UUID],
    ) -> wire.SegmentPreview:
        return await audiences.preview_segment(segment_id)

    @delete(
        "/{segment_id:uuid}",
        opt=requires(Permission.CONTACTS_WRITE),
        responses=problems(400, 404),
        summary="Delete a segment",
    )
    async def delete_segment(
        self,
        audiences: NamedDependency[AudienceService],
        segment_id: FromPath[uuid.UUID],
    ) -> None:
        await audiences.delete_segment(segment_id)


class SuppressionsController(Controller):
    path = "/api/suppressions"
    tags = ["audiences"]
    dependencies = _AUDIENCES

    @get(
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(Page[wire.Suppression], examples.SUPPRESSION_PAGE) | problems(400),
        summary="List suppressed addresses (never sent to), in address order",
    )
    async def list_suppressions(
        self,
        audiences: NamedDependency[AudienceService],
        limit: Limit = 100,
        cursor: AddressCursor = None,
    ) -> Page[wire.Suppression]:
        return await audiences.suppressions(limit=limit, cursor=cursor)

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.Suppression, examples.SUPPRESSION, 201) | problems(400, 422),
        summary="Suppress an address",
    )
    async def create_suppression(
        self,
        audiences: NamedDependency[AudienceService],
        data: Annotated[
            wire.SuppressionCreate,
            body("asked by phone", {"email": "gone@example.com", "detail": "asked by phone"}),
        ],
    ) -> wire.Suppression:
        return await audiences.suppress(data)

    @delete(
        "/{email:str}",
        opt=requires(Permission.DELIVERY_MANAGE),
        responses=problems(400, 404),
        summary="Lift a suppression (admins: only with the person's renewed consent)",
    )
    async def delete_suppression(
        self, audiences: NamedDependency[AudienceService], email: FromPath[str]
    ) -> None:
        await audiences.unsuppress(email)


# An upload of 100,000 rows with a few attributes is ~10 MB; the limit leaves room for more.
MAX_IMPORT_BYTES = 512 * 1024 * 1024


def _csv_download(name: str, chunks: AsyncIterator[bytes]) -> Stream:
    """`name`: the list's or segment's, made safe as a file's."""
    file_name = _file_name(name)
    return Stream(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": attachment(f"{file_name}.csv", "contacts"),
            "Cache-Control": "no-store",
        },
    )


class ImportsController(Controller):
    path = "/api/imports"
    tags = ["audiences"]
    dependencies = _FILES

    @post(
        opt=requires(Permission.CONTACTS_WRITE),
        responses=ok(wire.ContactImport, examples.IMPORT, 201) | problems(400, 404),
        summary="Start a CSV import (then PUT the file to …/file)",
    )
    async def create_import(
        self,
        request: AuthedRequest,
        files: NamedDependency[ContactFiles],
        data: Annotated[
            wire.ImportCreate, body("fair sign-ups", {"consent_source": "spring fair sign-up sheet"})
        ],
    ) -> wire.ContactImport:
        """Imported contacts are subscribed, with `consent_source` saying where they consented.
        Known addresses get the file's name and attributes; their consent is left alone."""
        return await files.create(request.user, data)

    @put(
        "/{import_id:uuid}/file",
        opt=requires(Permission.CONTACTS_WRITE),
        request_max_body_size=MAX_IMPORT_BYTES,
        responses=ok(wire.ContactImport, examples.IMPORT) | problems(400, 404, 409, 413),
        summary="Upload the CSV (UTF-8, a header row with an email column); answers the report",
    )
    async def upload_import(
        self, request: AuthedRequest, files: NamedDependency[ContactFiles], import_id: FromPath[uuid.UUID]
    ) -> wire.ContactImport:
        """The file streams: rows are checked as they arrive, bad rows are reported one by one,
        and the contacts are written at the end in one transaction. A file refused as a whole
        (not UTF-8, no email column, a runaway quote) writes nothing: the report says why."""
        return await files.upload(import_id, request.stream())

    @get(
        "/{import_id:uuid}",
        opt=requires(Permission.CONTACTS_READ),
        responses=ok(wire.ContactImport, examples.IMPORT) | problems(400, 404),
        summary="An import's progress and report",
    )
    async def get_import(
        self, files: NamedDependency[ContactFiles], import_id: FromPath[uuid.UUID]
    ) -> wire.ContactImport:
        return await files.get(import_id)


class ExportsController(Controller):
    tags = ["audiences"]
    dependencies = _FILES

    @get(
        "/api/lists/{list_id:uuid}/export",
        opt=requires(Permission.CONTACTS_READ),
        responses=problems(400, 404),
        summary="A list's contacts as CSV (UTF-8 with BOM, formula cells guarded)",
        media_type="text/csv",
    )
    async def export_list(self, files: NamedDependency[ContactFiles], list_id: FromPath[uuid.UUID]) -> Stream:
        return _csv_download(*await files.export_list(list_id))

    @get(
        "/api/segments/{segment_id:uuid}/export",
        opt=requires(Permission.CONTACTS_READ),
        responses=problems(400, 404, 422),
        summary="A segment's contacts now, as CSV",
        media_type="text/csv",
    )
    async def export_segment(
        self, files: NamedDependency[ContactFiles], segment_id: FromPath[uuid.UUID]
    ) -> Stream:
        return _csv_download(*await files.export_segment(segment_id))


def _file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "contacts"

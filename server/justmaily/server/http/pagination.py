"""Opaque keyset cursors over (created_at, id), and the query parameter that carries one."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import datetime
from typing import Annotated

import msgspec
from litestar.params import QueryParameter

from justmaily.server.http.problems import ApiError
from justmaily.shared.problems import FieldError

# The shape of every cursor this server issues (unpadded base64url): documented, so that a client
# or a fuzzer knows it. A cursor of another shape is malformed (400); one of this shape that the
# server did not issue is well formed but refused (422), as no schema can say which it issued.
CURSOR_PATTERN = r"^[A-Za-z0-9_-]{0,200}$"  # empty: the first page
_CURSOR = re.compile(CURSOR_PATTERN)

CursorParameter = Annotated[
    str | None,
    QueryParameter(
        description="`next_cursor` of the previous page",
        # Checked by decode_cursor, so its problems keep their code (`invalid_cursor`).
        schema_extra={"pattern": CURSOR_PATTERN},
    ),
]


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    created_at: datetime
    id: uuid.UUID


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    raw = msgspec.json.encode(Cursor(created_at, id_))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    if not _CURSOR.fullmatch(token):
        raise _invalid(400, "cursor is not one this server issues (unpadded base64url)")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return msgspec.json.decode(raw, type=Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise _invalid(422, "cursor is not one this server issued") from exc


def _invalid(status: int, message: str) -> ApiError:
    return ApiError(status, "invalid_cursor", message, errors=[FieldError(field="cursor", message=message)])

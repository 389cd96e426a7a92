"""Opaque keyset cursors over (created_at, id)."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

import msgspec

from justmaily.server.http.problems import ApiError


class Cursor(msgspec.Struct, array_like=True, frozen=True):
    created_at: datetime
    id: uuid.UUID


def encode_cursor(created_at: datetime, id_: uuid.UUID) -> str:
    raw = msgspec.json.encode(Cursor(created_at, id_))
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        return msgspec.json.decode(raw, type=Cursor)
    except (binascii.Error, ValueError, msgspec.DecodeError) as exc:
        raise ApiError(400, "invalid_cursor", "cursor is not one this server issued") from exc

"""Personal data sealed cell by cell, and blind indexes to find it again.

A sealed cell is `b"JM1" + key version (4 bytes, big-endian) + nonce (12) + AES-256-GCM ciphertext
and tag`, under the workspace's data key of that version. Its associated data is the row's
identity — workspace, table and column, row id — so a cell copied into another row, column or
workspace does not open, and neither does one with a single bit changed.

A blind index is HMAC-SHA256 of the normalised value under the workspace's index key: equal
addresses give equal indexes within a workspace (look-ups, de-duplication, suppression) and
nothing that can be compared across workspaces or reversed without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import uuid

from cryptography.exceptions import InvalidTag

from justmaily.server.protection.hierarchy import UnknownKeyVersionError, WorkspaceKeys

MAGIC = b"JM1"
_HEADER = struct.Struct(">3sI")
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SealedFieldError(ValueError):
    """A sealed cell does not open. The message names the cell and why, never its content."""


def row_identity(workspace_id: uuid.UUID, column: str, row_id: uuid.UUID | str) -> bytes:
    """The associated data of a cell: `column` is `table.column`, e.g. `contacts.email`; `row_id`
    the row's id, or its key where the table has none (a suppression's blind index)."""
    return f"{workspace_id}/{column}/{row_id}".encode()


def normalise_address(address: str) -> str:
    """How addresses compare: case and surrounding space do not matter."""
    return address.strip().lower()


def blind_index(keys: WorkspaceKeys, value: str) -> str:
    """The keyed index of an already normalised value (64 hex digits)."""
    return hmac.new(keys.index, value.encode(), hashlib.sha256).hexdigest()


def address_index(keys: WorkspaceKeys, address: str) -> str:
    return blind_index(keys, normalise_address(address))


def seal(keys: WorkspaceKeys, identity: bytes, plaintext: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    header = _HEADER.pack(MAGIC, keys.current)
    return header + nonce + keys.aead(keys.current).encrypt(nonce, plaintext, header + identity)


def sealed_version(sealed: bytes) -> int:
    """The data key version a cell was sealed under (what a rotation looks at)."""
    magic, version = _HEADER.unpack_from(sealed)
    if magic != MAGIC:
        raise SealedFieldError("not a sealed cell")
    return int(version)


def open_sealed(keys: WorkspaceKeys, identity: bytes, sealed: bytes) -> bytes:
    where = identity.decode(errors="replace")
    if len(sealed) < _HEADER.size + _NONCE_BYTES + _TAG_BYTES or sealed[:3] != MAGIC:
        raise SealedFieldError(f"sealed cell {where} is truncated or not a sealed cell")
    version = sealed_version(sealed)
    try:
        aead = keys.aead(version)
    except UnknownKeyVersionError as error:
        raise SealedFieldError(
            f"sealed cell {where} names a key version it cannot be opened with: {error}"
        ) from None
    header, nonce = sealed[: _HEADER.size], sealed[_HEADER.size : _HEADER.size + _NONCE_BYTES]
    try:
        return aead.decrypt(nonce, sealed[_HEADER.size + _NONCE_BYTES :], header + identity)
    except InvalidTag:
        raise SealedFieldError(
            f"sealed cell {where} does not authenticate under data key v{version}:"
            " it was altered, copied from another row or column, or sealed under another key"
        ) from None


def seal_text(keys: WorkspaceKeys, identity: bytes, text: str) -> bytes:
    return seal(keys, identity, text.encode())


def open_text(keys: WorkspaceKeys, identity: bytes, sealed: bytes) -> str:
    return open_sealed(keys, identity, sealed).decode()

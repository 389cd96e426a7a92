"""Sealed cells open only unchanged, in their own row and column, under the key version they
name; blind indexes match equal addresses within a workspace and nothing across workspaces."""

from __future__ import annotations

import uuid

import pytest

from justmaily.server.protection.fields import (
    SealedFieldError,
    address_index,
    open_text,
    row_identity,
    seal_text,
    sealed_version,
)
from justmaily.server.protection.hierarchy import WorkspaceKeys

WORKSPACE = uuid.uuid4()
ALICE, BOB = uuid.uuid4(), uuid.uuid4()


def keys(workspace: uuid.UUID = WORKSPACE, *, versions: int = 1, seed: int = 1) -> WorkspaceKeys:
    data = {v: bytes([seed, v]) * 16 for v in range(1, versions + 1)}
    return WorkspaceKeys(workspace, versions, data, 1, bytes([seed]) * 32)


def email_of(contact: uuid.UUID, workspace: uuid.UUID = WORKSPACE) -> bytes:
    return row_identity(workspace, "contacts.email", contact)


def test_a_sealed_cell_opens_in_its_row_and_hides_its_content() -> None:
    sealed = seal_text(keys(), email_of(ALICE), "alice@example.com")
    assert b"alice" not in sealed
    assert open_text(keys(), email_of(ALICE), sealed) == "alice@example.com"
    assert seal_text(keys(), email_of(ALICE), "alice@example.com") != sealed  # a fresh nonce each time


@pytest.mark.parametrize("at", [0, 3, 7, 19, 25, -1])  # magic, version, nonce, ciphertext, tag
def test_a_flipped_bit_is_refused(at: int) -> None:
    sealed = bytearray(seal_text(keys(), email_of(ALICE), "alice@example.com"))
    sealed[at] ^= 0x01
    with pytest.raises(SealedFieldError, match=f"sealed cell {WORKSPACE}/contacts.email/{ALICE}"):
        open_text(keys(), email_of(ALICE), bytes(sealed))


def test_a_cell_swapped_between_rows_columns_or_workspaces_is_refused() -> None:
    sealed = seal_text(keys(), email_of(ALICE), "alice@example.com")
    other_workspace = uuid.uuid4()
    for identity in (
        email_of(BOB),  # Bob's row now claims Alice's address
        row_identity(WORKSPACE, "contacts.name", ALICE),  # moved to another column
        email_of(ALICE, other_workspace),  # copied to another workspace
    ):
        with pytest.raises(SealedFieldError, match="copied from another row or column"):
            open_text(keys(), identity, sealed)


def test_a_wrong_or_unknown_key_version_is_refused_and_older_versions_open() -> None:
    old = seal_text(keys(), email_of(ALICE), "alice@example.com")
    rotated = keys(versions=2)
    new = seal_text(rotated, email_of(ALICE), "alice@example.com")
    assert (sealed_version(old), sealed_version(new)) == (1, 2)
    assert open_text(rotated, email_of(ALICE), old) == open_text(rotated, email_of(ALICE), new)
    with pytest.raises(SealedFieldError, match="no data key version 2"):
        open_text(keys(), email_of(ALICE), new)  # a replica that has not seen v2 yet
    relabelled = new[:3] + (1).to_bytes(4, "big") + new[7:]  # claims v1, sealed under v2
    with pytest.raises(SealedFieldError, match="does not authenticate under data key v1"):
        open_text(rotated, email_of(ALICE), relabelled)
    with pytest.raises(SealedFieldError, match="does not authenticate"):
        open_text(keys(seed=2), email_of(ALICE), old)  # another workspace's key
    with pytest.raises(SealedFieldError, match="truncated or not a sealed cell"):
        open_text(keys(), email_of(ALICE), b"alice@example.com")


def test_blind_indexes_match_equal_addresses_within_a_workspace_only() -> None:
    index = address_index(keys(), "Alice@Example.com ")
    assert index == address_index(keys(), "alice@example.com")
    assert index != address_index(keys(), "bob@example.com")
    assert index != address_index(keys(uuid.uuid4(), seed=2), "alice@example.com")
    assert len(index) == 64
    assert "alice" not in index

"""Paillier sums: added without the private key, decrypted only for groups of at least k."""

from __future__ import annotations

import os
import uuid

import pytest

from justmaily.server.protection.aggregates import Aggregates, GroupTooSmallError
from justmaily.server.protection.fields import SealedFieldError
from justmaily.server.protection.hierarchy import WorkspaceKeys

BITS = 512  # small keys keep the test fast; the arithmetic is the same at 2048


def workspace_keys() -> WorkspaceKeys:
    return WorkspaceKeys(uuid.uuid4(), 1, {1: os.urandom(32)}, 1, os.urandom(32))


def test_sums_are_computed_on_ciphertexts_and_decrypted_for_big_enough_groups() -> None:
    holder = Aggregates.generate(k=5, bits=BITS)
    adder = Aggregates(holder.public_key, k=5)  # what a counting service would hold: no private key
    seats = [12, 3, 40, -2, 7, 1000]
    ciphertexts = [adder.encrypt(value) for value in seats]
    assert all(ciphertext not in seats for ciphertext in ciphertexts)
    total = adder.total(ciphertexts)
    assert total.count == 6
    assert holder.decrypt(total) == sum(seats)
    with pytest.raises(PermissionError, match="public key only"):
        adder.decrypt(total)


def test_a_group_smaller_than_k_is_not_decrypted() -> None:
    holder = Aggregates.generate(k=5, bits=BITS)
    four = holder.total(holder.encrypt(value) for value in (10, 20, 30, 40))
    with pytest.raises(GroupTooSmallError, match="a sum of 4 contribution"):
        holder.decrypt(four)
    with pytest.raises(GroupTooSmallError, match="a sum of 1 contribution"):
        holder.decrypt(holder.total([holder.encrypt(99)]))  # one person's value, asked for directly
    assert holder.decrypt(holder.total(holder.encrypt(v) for v in (10, 20, 30, 40, 50))) == 150


def test_only_integers_are_summed() -> None:
    holder = Aggregates.generate(k=1, bits=BITS)
    for bad in (1.5, True, "12"):
        with pytest.raises(TypeError, match="only integers"):
            holder.encrypt(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k must be at least 1"):
        Aggregates(holder.public_key, k=0)


def test_the_private_key_is_stored_sealed_under_its_workspaces_data_key() -> None:
    holder = Aggregates.generate(k=3, bits=BITS)
    keys = workspace_keys()
    sealed = holder.seal_private_key(keys)
    assert str(holder.public_key.n).encode() not in sealed
    reopened = Aggregates.open_sealed_key(keys, sealed)
    assert reopened.k == 3
    assert reopened.decrypt(holder.total(holder.encrypt(v) for v in (1, 2, 3))) == 6
    with pytest.raises(SealedFieldError):
        Aggregates.open_sealed_key(workspace_keys(), sealed)  # another workspace's keys

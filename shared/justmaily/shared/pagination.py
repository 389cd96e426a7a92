"""Cursor pagination: stable under concurrent inserts, unlike offsets."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """One page of a listing; pass `next_cursor` back as `cursor` for the next page."""

    items: list[T]
    next_cursor: str | None = None

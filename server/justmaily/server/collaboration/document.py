"""The campaign document (its shape is in justmaily.shared.collaboration) on pycrdt."""

from __future__ import annotations

import difflib
import hashlib
import itertools
import uuid
from collections.abc import Iterable
from typing import Any

import msgspec
from pycrdt import Doc, Map, Text

from justmaily.shared.collaboration import COMMENTS, INSIGHTS, TEXT_FIELDS, CampaignContent, Comment


def load_document(updates: Iterable[bytes]) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


def text(doc: Doc[Any], name: str) -> Text:
    shared: Text = doc.get(name, type=Text)
    return shared


def texts(doc: Doc[Any]) -> dict[str, str]:
    return {name: str(text(doc, name)) for name in TEXT_FIELDS}


def comments(doc: Doc[Any]) -> list[Comment]:
    raw = doc.get(COMMENTS, type=Map).to_py() or {}
    found = []
    for value in raw.values():
        try:
            found.append(msgspec.convert(value, Comment, strict=False))
        except msgspec.ValidationError:
            continue  # a malformed comment from some client: not ours to show
    return sorted(found, key=lambda c: (c.created_at, c.id))


def content_hash(doc: Doc[Any]) -> str:
    """SHA-256 over the texts and comments in a canonical encoding: what an approval covers."""
    canonical = msgspec.json.encode({"texts": texts(doc), "comments": comments(doc)}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def materialise(doc: Doc[Any], campaign_id: uuid.UUID) -> CampaignContent:
    values = texts(doc)
    return CampaignContent(
        campaign_id=campaign_id,
        subject=values["subject"],
        preheader=values["preheader"],
        sender=values["sender"],
        body=values["body"],
        comments=comments(doc),
        insights=doc.get(INSIGHTS, type=Map).to_py() or {},
        content_hash=content_hash(doc),
    )


def replace_text(shared: Text, new: str) -> None:
    """Turn `shared` into `new` by the smallest edits, so concurrent edits elsewhere survive.

    Call inside a transaction. The diff is over code points; pycrdt's text offsets are UTF-8
    bytes (Yjs in JavaScript counts UTF-16 units: the same items, counted differently).
    """
    old = str(shared)
    if old == new:
        return
    offsets = list(itertools.accumulate((len(ch.encode()) for ch in old), initial=0))
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    # Right to left, so the offsets of what lies before stay valid.
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag in ("replace", "delete"):
            del shared[offsets[i1] : offsets[i2]]
        if tag in ("replace", "insert"):
            shared.insert(offsets[i1], new[j1:j2])

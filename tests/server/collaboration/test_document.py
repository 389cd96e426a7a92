"""The document helpers and the protocol reader, without a server."""

from __future__ import annotations

import base64
import hashlib
import uuid
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st
from pycrdt import Assoc, Doc, Map, StickyIndex, create_sync_message, create_update_message

from justmaily.shared.collaboration import MAX_SUBJECT_VARIANTS, subject_lines
from justmaily.shared.document import content_hash, materialise, rebase_text, replace_text, text
from justmaily.shared.document.protocol import BadMessageError, Kind, parse

texts = st.text(max_size=40)  # any code points but lone surrogates, which UTF-8 cannot hold


def new_text(value: str) -> tuple[Doc[Any], Any]:
    doc: Doc[Any] = Doc()
    shared = text(doc, "body")
    with doc.transaction():
        shared.insert(0, value)
    return doc, shared


@given(old=texts, new=texts)
def test_replace_reaches_the_new_value(old: str, new: str) -> None:
    doc, shared = new_text(old)
    with doc.transaction():
        replace_text(shared, new)
    assert str(shared) == new


@given(base=texts, theirs=texts, mine=texts)
@settings(max_examples=200)
def test_rebase_keeps_what_others_added_elsewhere(base: str, theirs: str, mine: str) -> None:
    # Others prepended `theirs` after we read `base`; we appended `mine`.
    doc, shared = new_text(theirs + base)
    with doc.transaction():
        rebase_text(shared, base, base + mine)
    assert str(shared) == theirs + base + mine


@given(base=texts, new=texts)
def test_rebase_on_an_unchanged_text_is_a_replace(base: str, new: str) -> None:
    doc, shared = new_text(base)
    with doc.transaction():
        rebase_text(shared, base, new)
    assert str(shared) == new


def test_content_hash_covers_texts_and_comments_only() -> None:
    doc, shared = new_text("Hello")
    first = content_hash(doc)
    doc.get("insights", type=Map)["score"] = 3
    assert content_hash(doc) == first, "insights are the server's notes, not approved content"
    with doc.transaction():
        shared.insert(5, "!")
    assert content_hash(doc) != first
    assert materialise(doc, uuid.uuid4()).body == "Hello!"


def test_subject_variants_are_approved_content_and_left_out_while_empty() -> None:
    doc, _ = new_text("Hello")
    # The canonical form from before documents had subject variants: existing approvals stay valid.
    before = {"texts": {"subject": "", "preheader": "", "sender": "", "body": "Hello"}, "comments": []}
    assert content_hash(doc) == hashlib.sha256(msgspec.json.encode(before, order="sorted")).hexdigest()
    with doc.transaction():
        text(doc, "subject_variants").insert(0, "Last days\nA gift")
    assert content_hash(doc) != hashlib.sha256(msgspec.json.encode(before, order="sorted")).hexdigest()
    assert materialise(doc, uuid.uuid4()).subject_variants == "Last days\nA gift"
    assert subject_lines("Spring", " Last days \n\nSpring\nA gift\nLast days") == [
        "Spring",
        "Last days",
        "A gift",
    ]
    assert len(subject_lines("s", "\n".join(f"v{n}" for n in range(20)))) == 1 + MAX_SUBJECT_VARIANTS


@given(st.binary(max_size=64))
def test_the_protocol_reader_refuses_garbage_cleanly(raw: bytes) -> None:
    try:
        message = parse(raw)
    except BadMessageError:
        return
    assert message.kind in Kind


def test_the_protocol_reader_reads_real_messages() -> None:
    doc, _ = new_text("x")
    assert parse(create_sync_message(doc)).kind is Kind.SYNC_STEP1
    update = parse(create_update_message(doc.get_update()))
    assert update.kind is Kind.SYNC_UPDATE
    assert update.payload == doc.get_update()


def test_a_comment_anchor_follows_its_text_through_edits() -> None:
    doc, body = new_text("Buy our spring collection today")
    start = len(b"Buy our ")
    anchor = {
        "start": base64.b64encode(StickyIndex.new(body, start, Assoc.AFTER).encode()).decode(),
        "end": base64.b64encode(
            StickyIndex.new(body, start + len(b"spring"), Assoc.BEFORE).encode()
        ).decode(),
    }
    comment = {
        "id": "c1",
        "author_id": "u1",
        "author_name": "Ada",
        "text": "Say 'summer'?",
        "created_at": "2026-05-01T09:30:00Z",
        "anchor": anchor,
    }
    doc.get("comments", type=Map)["c1"] = comment
    with doc.transaction():
        body.insert(0, "Hurry! ")  # edits before the anchored range move it
    (parsed,) = materialise(doc, uuid.uuid4()).comments
    assert parsed.anchor is not None
    begin = StickyIndex.decode(base64.b64decode(parsed.anchor.start), body).get_index()
    end = StickyIndex.decode(base64.b64decode(parsed.anchor.end), body).get_index()
    assert str(body).encode()[begin:end] == b"spring"

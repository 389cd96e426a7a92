"""Comment threads in the campaign document, anchored to ranges of the body (no server needed)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pycrdt import Doc, Map, Text

from justmaily.desktop.engine.comments import Thread, add_comment, reply, set_resolved, threads
from justmaily.desktop.engine.local_store import LocalStore
from justmaily.desktop.engine.sync import CampaignSync
from justmaily.shared.collaboration import COMMENTS, RoomTicket
from justmaily.shared.document import decode_position, encode_position

BODY = "Hello! Our spring sale ends on Friday."
QUOTED = "spring sale"


class NoServer:
    """Room access for a sync that never goes online."""

    async def room_ticket(self, campaign_id: uuid.UUID) -> RoomTicket:
        raise AssertionError("these tests never connect")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[LocalStore]:
    store = await LocalStore.open(tmp_path / "s.sqlite3")
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def sync(store: LocalStore) -> AsyncIterator[CampaignSync]:
    sync = await opened(store, uuid.uuid4())
    try:
        yield sync
    finally:
        sync.close()


async def opened(store: LocalStore, campaign_id: uuid.UUID) -> CampaignSync:
    sync = CampaignSync(campaign_id, store, NoServer(), user={"id": "u-ada", "name": "Ada", "color": "#000"})
    await sync.load()
    return sync


def offsets(body: str, part: str) -> tuple[int, int]:
    """The UTF-8 range of `part` in `body`, as the document counts."""
    start = len(body[: body.index(part)].encode())
    return start, start + len(part.encode())


def write(sync: CampaignSync, at: int, typed: str) -> None:
    body = sync.text("body")
    sync.edit(lambda _doc: body.insert(at, typed))


def comment_on(sync: CampaignSync, part: str, says: str = "Which dates?") -> Thread:
    start, end = offsets(str(sync.text("body")), part)
    comment = add_comment(sync, author_id="u-ada", author_name="Ada", body_text=says, start=start, end=end)
    (thread,) = [t for t in threads(sync.doc) if t.comment.id == comment.id]
    return thread


def test_a_comment_follows_its_words_when_text_is_typed_before_them(sync: CampaignSync) -> None:
    write(sync, 0, BODY)
    thread = comment_on(sync, QUOTED, "  Which dates?  ")
    assert (thread.start, thread.end) == offsets(BODY, QUOTED)
    assert thread.quote == QUOTED
    assert thread.comment.text == "Which dates?"
    assert (thread.comment.author_id, thread.comment.author_name) == ("u-ada", "Ada")
    assert thread.replies == []
    assert not thread.resolved

    write(sync, 0, "Big news: ")
    moved = "Big news: " + BODY
    (thread,) = threads(sync.doc)
    assert (thread.start, thread.end) == offsets(moved, QUOTED)
    assert thread.quote == QUOTED

    # Typing right at either edge of the range stays outside it; typing inside it is quoted.
    start, end = offsets(moved, QUOTED)
    write(sync, end, "!")
    write(sync, start, "big ")
    write(sync, start + len("big spring"), " fashion")
    (thread,) = threads(sync.doc)
    assert thread.quote == "spring fashion sale"
    assert str(sync.text("body")) == "Big news: Hello! Our big spring fashion sale! ends on Friday."


def test_a_comment_follows_its_words_after_multi_byte_text(sync: CampaignSync) -> None:
    """pycrdt 0.14 mixes UTF-8 and UTF-16 units in relative positions (pycrdt issue #382);
    shared.document.encode_position/decode_position work around it."""
    body = "Grüße! Our spring sale ends on Friday. 👋 Bis bald"
    write(sync, 0, body)
    thread = comment_on(sync, QUOTED)
    assert thread.quote == QUOTED
    friday = comment_on(sync, "Friday")
    assert friday.quote == "Friday"
    wave = comment_on(sync, "👋 Bis")
    end = comment_on(sync, "bald")  # the range ends with the text
    write(sync, 0, "Déjà vu: ")
    now = "Déjà vu: " + body
    by_id = {t.comment.id: t for t in threads(sync.doc)}
    assert by_id[thread.comment.id].quote == QUOTED
    assert (by_id[thread.comment.id].start, by_id[thread.comment.id].end) == offsets(now, QUOTED)
    assert by_id[friday.comment.id].quote == "Friday"
    assert by_id[wave.comment.id].quote == "👋 Bis"
    assert by_id[end.comment.id].quote == "bald"

    # Edits inside the same run of text, with more multi-byte characters, before the ranges.
    grusse = len(now.encode()[: now.encode().index("ße".encode())])
    write(sync, grusse, "ÆØÅ")
    write(sync, len("Déjà".encode()), "…")
    now = str(sync.text("body"))
    by_id = {t.comment.id: t for t in threads(sync.doc)}
    for thread_id, words in (
        (thread.comment.id, QUOTED),
        (friday.comment.id, "Friday"),
        (wave.comment.id, "👋 Bis"),
        (end.comment.id, "bald"),
    ):
        assert by_id[thread_id].quote == words
        assert (by_id[thread_id].start, by_id[thread_id].end) == offsets(now, words)


@pytest.mark.parametrize(
    "text", ["Grüße aus Köln", "日本語のテキストです", "emoji 👋🏽 and more 🎉 here", "ascii only"]
)
def test_positions_name_their_character_in_any_text(text: str) -> None:
    """Every position, made then read back after text is inserted before and inside it."""
    doc: Doc[Any] = Doc()
    body = doc.get("body", type=Text)
    body.insert(0, text)
    boundaries = [len(text[:i].encode()) for i in range(len(text) + 1)]
    made = [(i, encode_position(body, at)) for i, at in enumerate(boundaries)]
    body.insert(0, "ü€")
    body.insert(len("ü€".encode()) + boundaries[len(text) // 2], "ß")
    now = str(body)
    for i, encoded in made:
        shifted = i + 2 + (1 if i >= len(text) // 2 else 0)  # "ß" went before that character
        if i == len(text):  # the end holds on to the character before it
            shifted = len(now)
        assert decode_position(body, encoded) == len(now[:shifted].encode()), (text, i)


def test_replies_belong_to_their_thread_and_threads_resolve_and_reopen(sync: CampaignSync) -> None:
    write(sync, 0, BODY)
    first = comment_on(sync, QUOTED).comment
    second = comment_on(sync, "Friday", "Too soon").comment
    answer = reply(sync, first, author_id="u-grace", author_name="Grace", body_text="March 1 to 7")
    assert answer.reply_to == first.id

    by_id = {t.comment.id: t for t in threads(sync.doc)}
    assert set(by_id) == {first.id, second.id}  # a reply is not a thread of its own
    assert [r.text for r in by_id[first.id].replies] == ["March 1 to 7"]
    assert by_id[first.id].replies[0].author_name == "Grace"
    assert by_id[second.id].replies == []
    assert by_id[second.id].quote == "Friday"

    set_resolved(sync, first, resolved=True)
    by_id = {t.comment.id: t for t in threads(sync.doc)}
    assert by_id[first.id].resolved
    assert not by_id[second.id].resolved
    assert [r.id for r in by_id[first.id].replies] == [answer.id]  # resolving keeps the replies
    assert by_id[first.id].quote == QUOTED

    set_resolved(sync, by_id[first.id].comment, resolved=False)
    (reopened,) = [t for t in threads(sync.doc) if t.comment.id == first.id]
    assert not reopened.resolved
    assert reopened.comment.text == first.text


@pytest.mark.parametrize("empty", ["", "   ", "\n\t"])
def test_a_comment_needs_some_text(sync: CampaignSync, empty: str) -> None:
    write(sync, 0, BODY)
    with pytest.raises(ValueError, match="needs some text"):
        add_comment(sync, author_id="u-ada", author_name="Ada", body_text=empty, start=0, end=3)
    thread = comment_on(sync, QUOTED)
    with pytest.raises(ValueError, match="needs some text"):
        reply(sync, thread.comment, author_id="u-ada", author_name="Ada", body_text=empty)
    assert [(t.comment.id, t.replies) for t in threads(sync.doc)] == [(thread.comment.id, [])]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("not base64 at all!", "%%%"),
        ("AAAA", "AAAA"),  # base64, but not a relative position
        ("/////w==", "AQID"),
    ],
)
def test_a_comment_with_a_garbage_anchor_has_no_range(sync: CampaignSync, start: str, end: str) -> None:
    """Anchors come from other clients: a bad one must not break the comment list."""
    write(sync, 0, BODY)
    good = comment_on(sync, QUOTED)
    garbage = {
        "id": "from-another-client",
        "author_id": "u-x",
        "author_name": "Mallory",
        "text": "Look here",
        "created_at": datetime.now(UTC).isoformat(),
        "anchor": {"start": start, "end": end},
    }

    def put(doc: Doc[Any]) -> None:
        doc.get(COMMENTS, type=Map)["from-another-client"] = garbage

    sync.edit(put)
    by_id = {t.comment.id: t for t in threads(sync.doc)}
    assert set(by_id) == {good.comment.id, "from-another-client"}
    bad = by_id["from-another-client"]
    assert (bad.start, bad.end, bad.quote) == (None, None, "")
    assert bad.comment.text == "Look here"
    assert by_id[good.comment.id].quote == QUOTED


def test_an_empty_range_stays_empty_when_text_is_typed_into_it(sync: CampaignSync) -> None:
    write(sync, 0, BODY)
    at = BODY.index("Friday")
    add_comment(sync, author_id="u-ada", author_name="Ada", body_text="A day here?", start=at, end=at)
    write(sync, at, "next ")
    (thread,) = threads(sync.doc)
    assert thread.start is not None
    assert thread.end is not None
    assert thread.start <= thread.end
    assert thread.quote == ""


def test_a_reversed_range_is_refused(sync: CampaignSync) -> None:
    write(sync, 0, BODY)
    with pytest.raises(ValueError, match="forwards"):
        add_comment(sync, author_id="u-ada", author_name="Ada", body_text="Hm", start=5, end=2)
    with pytest.raises(ValueError, match="forwards"):
        add_comment(sync, author_id="u-ada", author_name="Ada", body_text="Hm", start=-1, end=2)
    assert threads(sync.doc) == []


def test_deleting_the_quoted_words_keeps_the_thread(sync: CampaignSync) -> None:
    write(sync, 0, BODY)
    thread = comment_on(sync, QUOTED)
    start, end = offsets(BODY, QUOTED)
    body = sync.text("body")
    sync.edit(lambda _doc: body.__delitem__(slice(start - 1, end)))
    (after,) = threads(sync.doc)
    assert after.comment == thread.comment
    assert after.quote == ""


async def test_threads_are_kept_in_the_local_store(store: LocalStore, sync: CampaignSync) -> None:
    write(sync, 0, BODY)
    first = comment_on(sync, QUOTED).comment
    reply(sync, first, author_id="u-grace", author_name="Grace", body_text="March")
    set_resolved(sync, first, resolved=True)
    write(sync, 0, "New intro. ")
    await sync.flush()

    again = await opened(store, sync.campaign_id)
    try:
        assert str(again.text("body")) == "New intro. " + BODY
        assert threads(again.doc) == threads(sync.doc)
        (thread,) = threads(again.doc)
        assert thread.resolved
        assert thread.quote == QUOTED
        assert (thread.start, thread.end) == offsets("New intro. " + BODY, QUOTED)
        assert [r.text for r in thread.replies] == ["March"]
        assert again.pending == sync.pending > 0  # none of it has reached a server yet
    finally:
        again.close()

    other = await opened(store, uuid.uuid4())  # another campaign in the same store has none
    try:
        assert threads(other.doc) == []
    finally:
        other.close()

"""The campaign document (its shape is in justmaily.shared.collaboration) on pycrdt: read it, hash
it, and change it by the smallest edits. Server and desktop both work on documents through this."""

from __future__ import annotations

import base64
import bisect
import difflib
import hashlib
import itertools
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
from pycrdt import Assoc, Doc, Map, StickyIndex, Text

from justmaily.shared.collaboration import (
    CAMPAIGN_STATE,
    COMMENTS,
    INSIGHTS,
    LATER_TEXTS,
    SUBJECT_VARIANTS,
    TEXT_FIELDS,
    Anchor,
    CampaignContent,
    Comment,
    ReviewState,
)


def load_document(updates: Iterable[bytes]) -> Doc[Any]:
    doc: Doc[Any] = Doc()
    for update in updates:
        doc.apply_update(update)
    return doc


def initial_update(values: dict[str, str]) -> bytes:
    """A document holding the given texts, as one update (a new campaign's first content)."""
    doc: Doc[Any] = Doc()
    with doc.transaction():
        for name, value in values.items():
            if value:
                text(doc, name).insert(0, value)
    return doc.get_update()


def restore(doc: Doc[Any], version: Doc[Any]) -> None:
    """Make `doc` say what `version` says, as new edits on top (history is never rewritten).
    Call inside a transaction of `doc`."""
    for name in TEXT_FIELDS:
        replace_text(text(doc, name), str(text(version, name)))
    current, wanted = doc.get(COMMENTS, type=Map), version.get(COMMENTS, type=Map).to_py() or {}
    for key in [k for k in current if k not in wanted]:
        del current[key]
    for key, value in wanted.items():
        if current.get(key) != value:
            current[key] = value


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


def new_comment(
    *,
    text: str,
    author_id: str,
    author_name: str,
    anchor: Anchor | None = None,
    reply_to: str | None = None,
) -> Comment:
    """A new comment (a thread when it has an anchor, a reply when it answers one)."""
    if not text.strip():
        raise ValueError("A comment needs some text")
    return Comment(
        id=uuid.uuid4().hex,
        author_id=author_id,
        author_name=author_name,
        text=text.strip(),
        created_at=datetime.now(UTC),
        anchor=anchor,
        reply_to=reply_to,
    )


def put_comment(doc: Doc[Any], comment: Comment) -> Comment:
    """Write a comment into the document's `comments` map (inside a transaction, or as one)."""
    doc.get(COMMENTS, type=Map)[comment.id] = msgspec.to_builtins(comment)
    return comment


def content_hash(doc: Doc[Any]) -> str:
    """SHA-256 over the texts in a canonical encoding: what an approval covers.

    Comments are not content: adding, answering or resolving one must not void an approval. The
    canonical form still holds `"comments": []`, always empty, because hashes made when comments
    counted are stored in approvals, the transparency log and certificates: a document without
    comments hashes exactly as it did then, so no approval of one is voided by the change."""
    values = {name: value for name, value in texts(doc).items() if value or name not in LATER_TEXTS}
    canonical = msgspec.json.encode({"texts": values, "comments": []}, order="sorted")
    return hashlib.sha256(canonical).hexdigest()


def review_state(doc: Doc[Any]) -> ReviewState:
    """The campaign's review state as the server last wrote it into the document."""
    raw = doc.get(CAMPAIGN_STATE, type=Map).to_py() or {}
    try:
        return msgspec.convert(raw, ReviewState, strict=False)
    except msgspec.ValidationError:  # written by some client: not ours to show
        return ReviewState()


def write_review_state(doc: Doc[Any], state: ReviewState, origin: str) -> bytes | None:
    """Make the document's `campaign` map say `state` (and nothing else); the update to store,
    None if it did already."""
    shared = doc.get(CAMPAIGN_STATE, type=Map)
    wanted = msgspec.to_builtins(state)
    if shared.to_py() == wanted:
        return None
    before = doc.get_state()
    with doc.transaction(origin=origin):
        for key in [k for k in shared if k not in wanted]:
            del shared[key]
        for key, value in wanted.items():
            shared[key] = value
    return doc.get_update(before)


def materialise(doc: Doc[Any], campaign_id: uuid.UUID) -> CampaignContent:
    values = texts(doc)
    return CampaignContent(
        campaign_id=campaign_id,
        subject=values["subject"],
        preheader=values["preheader"],
        sender=values["sender"],
        body=values["body"],
        subject_variants=values[SUBJECT_VARIANTS],
        comments=comments(doc),
        insights=doc.get(INSIGHTS, type=Map).to_py() or {},
        content_hash=content_hash(doc),
    )


def changed_run(old: str, new: str) -> tuple[int, int, int]:
    """Where `new` differs from `old`, as one run of code points: `old[start:old_end]` became
    `new[start:new_end]`, the common prefix and suffix kept. One typed change is one run."""
    start = 0
    limit = min(len(old), len(new))
    while start < limit and old[start] == new[start]:
        start += 1
    old_end, new_end = len(old), len(new)
    while old_end > start and new_end > start and old[old_end - 1] == new[new_end - 1]:
        old_end -= 1
        new_end -= 1
    return start, old_end, new_end


def replace_text(shared: Text, new: str) -> None:
    """Turn `shared` into `new` by the smallest edits, so concurrent edits elsewhere survive.

    Call inside a transaction. Only the changed run (`changed_run`) is diffed, so a keystroke in
    a long text costs no more than finding it. The diff is over code points; pycrdt's text
    offsets are UTF-8 bytes (Yjs in JavaScript counts UTF-16 units: the same items, counted
    differently).
    """
    old = str(shared)
    if old == new:
        return
    start, old_end, new_end = changed_run(old, new)
    was, now = old[start:old_end], new[start:new_end]
    offsets = list(itertools.accumulate((len(ch.encode()) for ch in was), initial=len(old[:start].encode())))
    matcher = difflib.SequenceMatcher(a=was, b=now, autojunk=False)
    # Right to left, so the offsets of what lies before stay valid.
    for tag, i1, i2, j1, j2 in reversed(matcher.get_opcodes()):
        if tag in ("replace", "delete"):
            del shared[offsets[i1] : offsets[i2]]
        if tag in ("replace", "insert"):
            shared.insert(offsets[i1], now[j1:j2])


def rebase_text(shared: Text, base: str, new: str) -> None:
    """Apply the change `base` -> `new` to `shared`, which may have moved on from `base` since:
    a three-way merge, so edits that others made meanwhile are kept. Call inside a transaction."""
    current = str(shared)
    if base == current:
        replace_text(shared, new)
        return
    matched, to_current = _position_map(base, current)
    offsets = list(itertools.accumulate((len(ch.encode()) for ch in current), initial=0))
    changes = difflib.SequenceMatcher(a=base, b=new, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(changes):
        if tag == "equal":
            continue
        if tag in ("replace", "delete"):
            # Remove the removed characters that still exist, run by run: what others inserted
            # among them meanwhile stays, as a concurrent Yjs edit would.
            for run_start, run_end in reversed(_runs(p for p in matched[i1:i2] if p is not None)):
                del shared[offsets[run_start] : offsets[run_end]]
        if tag in ("replace", "insert"):
            shared.insert(offsets[to_current[i1]], new[j1:j2])


def _runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive positions as half-open ranges: 3,4,5,9 -> [(3, 6), (9, 10)]."""
    runs: list[tuple[int, int]] = []
    for position in positions:
        if runs and runs[-1][1] == position:
            runs[-1] = (runs[-1][0], position + 1)
        else:
            runs.append((position, position + 1))
    return runs


def _position_map(base: str, current: str) -> tuple[list[int | None], list[int]]:
    """For each position in `base`: where that character is in `current` (None if others deleted
    it), and where that place is in `current` (a deleted place maps to what follows it)."""
    mapped: list[int | None] = [None] * (len(base) + 1)
    for a, b, size in difflib.SequenceMatcher(a=base, b=current, autojunk=False).get_matching_blocks():
        for k in range(size):
            mapped[a + k] = b + k
    mapped[len(base)] = len(current)
    result = [0] * len(mapped)
    following = len(current)
    for i in range(len(mapped) - 1, -1, -1):  # a place others deleted maps to what follows it
        following = mapped[i] if mapped[i] is not None else following  # type: ignore[assignment]
        result[i] = following
    return mapped, result


def encode_position(shared: Text, index: int, assoc: Assoc = Assoc.AFTER) -> str:
    """A place in a text that follows later edits (a Yjs relative position), as base64 text: how
    comment anchors (`Anchor`) and carets in presence states are written. `index` is a UTF-8
    offset, as everywhere in pycrdt. "" stands for the start of an empty text (pycrdt cannot
    anchor to nothing)."""
    size = len(shared)
    if size == 0:
        return ""
    index = max(0, min(index, size))
    if index == size:  # no character after the end: hold on to the one before it
        assoc = Assoc.BEFORE
    try:
        content = str(shared)
        if content.isascii():
            return base64.b64encode(shared.sticky_index(index, assoc).encode()).decode()
        # The character held on to: the one after the place, or the one before it. In a copy
        # where it begins an item, its UTF-8 offset names it (see `_unit_safe`).
        at = len(content.encode()[:index].decode(errors="ignore")) - (assoc == Assoc.BEFORE)
        offset = len(content[:at].encode())
        found = _unit_safe(shared, content, {at}).sticky_index(offset, Assoc.AFTER).to_json()
        position = StickyIndex.from_json({**found, "assoc": assoc.value}, shared)
        return base64.b64encode(position.encode()).decode()
    except BaseException as exc:  # a Rust panic inside pycrdt: no position rather than a crash
        if not _panicked(exc):
            raise
        return ""


def decode_position(shared: Text, encoded: str) -> int | None:
    """Where an encoded position is now (a UTF-8 offset into `shared`), or None if it is not one.

    Positions come from other clients, so bad input is expected; pycrdt's decoder panics on it
    (a `pyo3_runtime.PanicException`, which is a BaseException), hence the wide net."""
    if not encoded:
        return 0
    try:
        raw = base64.b64decode(encoded, validate=True)
        position = StickyIndex.decode(raw, shared)
        index = position.get_index()
        content = str(shared)
        if content.isascii():
            return index
        # `index` mixes units (see `_unit_safe`). The character held on to starts where its
        # UTF-16 offset is at most that and its UTF-8 offset at least that ("before" positions
        # count one past it). Read the position again in a copy where each such character
        # begins an item: there the offset is the UTF-8 offset of the character's start.
        before = position.assoc == Assoc.BEFORE
        start = index - before
        utf8 = list(itertools.accumulate((len(ch.encode()) for ch in content), initial=0))
        utf16 = list(itertools.accumulate((len(ch.encode("utf-16-le")) // 2 for ch in content), initial=0))
        candidates = range(bisect.bisect_left(utf8, start), bisect.bisect_right(utf16, start))
        exact: int = StickyIndex.decode(raw, _unit_safe(shared, content, candidates)).get_index()
        if before:  # one past the character's start: the place after the character
            character = bisect.bisect_left(utf8, exact - 1)
            if character < len(content) and utf8[character] == exact - 1:
                return utf8[character + 1]
        return exact
    except (ValueError, RuntimeError):
        return None
    except BaseException as exc:
        if not _panicked(exc):
            raise
        return None


def _unit_safe(shared: Text, content: str, starts: Iterable[int]) -> Text:
    """A throw-away copy of `shared` whose items are split so that each of the characters at
    `starts` (code point indices) begins an item of its own.

    pycrdt 0.14 (pycrdt issue #382) counts a relative position as the UTF-8 length of the items
    before the character's item plus the character's distance into its own item in UTF-16
    units (Yjs clocks), both when making one and when reading it. In non-ASCII text that names
    the wrong character, or one that does not exist. At the start of an item the second term is
    zero, so there the offset is exactly the UTF-8 one. Formatting (in the copy only) splits
    items; a distinct value per character keeps neighbours from merging into one range."""
    copy: Doc[Any] = Doc()
    copy.apply_update(shared.doc.get_update())
    target: Text = copy.get(_root_name(shared), type=Text)
    offsets = list(itertools.accumulate((len(ch.encode()) for ch in content), initial=0))
    with copy.transaction():
        for position in sorted(starts):
            if 0 <= position < len(content):
                target.format(offsets[position], offsets[position + 1], {"justmaily-split": position})
    return target


def _root_name(shared: Text) -> str:
    """The name of a root text (pycrdt gives a type no name, and its objects no identity): the
    root whose first character is the same item."""
    first = shared.sticky_index(0, Assoc.AFTER).to_json()
    for name, value in shared.doc.items():
        if (
            isinstance(value, Text)
            and len(value) == len(shared)
            and value.sticky_index(0, Assoc.AFTER).to_json() == first
        ):
            return str(name)
    raise ValueError("not a root text of its document")


def _panicked(exc: BaseException) -> bool:
    """A Rust panic inside pycrdt (`pyo3_runtime.PanicException`, which has no importable home)."""
    return type(exc).__name__ == "PanicException"

"""The document's smallest edits: the changed run of a typed change, and only it diffed."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from pycrdt import Doc

from justmaily.shared.document import changed_run, replace_text, text

texts = st.text(alphabet="abé€😀 \n", max_size=30)


@given(old=texts, new=texts)
def test_the_changed_run_is_the_whole_difference_and_no_more(old: str, new: str) -> None:
    start, old_end, new_end = changed_run(old, new)
    assert old[:start] + new[start:new_end] + old[old_end:] == new
    assert old[:start] == new[:start]
    assert old[old_end:] == new[new_end:]
    if start < min(old_end, new_end):  # a run that starts with a common character is not the shortest
        assert old[start] != new[start]
        assert old[old_end - 1] != new[new_end - 1]


def test_a_typed_change_keeps_what_a_peer_typed_around_it() -> None:
    """A keystroke in this copy, merged with a peer's concurrent typing before and after it."""
    mine: Doc[Any] = Doc()
    body = text(mine, "body")
    body.insert(0, "Grüße, Ada! 👋 See you")
    theirs: Doc[Any] = Doc()
    theirs.apply_update(mine.get_update())
    peer = text(theirs, "body")
    with theirs.transaction():
        peer.insert(0, ">> ")
        peer.insert(len(str(peer).encode()), " soon")
    with mine.transaction():
        replace_text(body, "Grüße, Ada Lovelace! 👋 See you")
    mine.apply_update(theirs.get_update())
    assert str(body) == ">> Grüße, Ada Lovelace! 👋 See you soon"

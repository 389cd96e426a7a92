"""When a room checks its campaign row and refreshes its insights (upkeep.py): at once for what
the row mirrors or an approval depends on, otherwise at most every so often."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map

from justmaily.server.collaboration.upkeep import Upkeep
from justmaily.shared.collaboration import ReviewState
from justmaily.shared.document import text, write_review_state


def typed(doc: Doc[Any], field: str, words: str) -> None:
    text(doc, field).insert(0, words)


def draft(status: str = "draft") -> Doc[Any]:
    doc: Doc[Any] = Doc()
    write_review_state(doc, ReviewState(status=status), "test")
    return doc


def test_typing_in_a_drafts_body_checks_the_row_every_few_seconds_and_insights_every_second() -> None:
    doc, upkeep = draft(), Upkeep(row_every=5, insights_every=1)
    typed(doc, "body", "first")
    upkeep.edited(doc, now=100)
    assert upkeep.take(100) == (True, True)  # a room's first batch: both at once

    typed(doc, "body", "more ")
    upkeep.edited(doc, now=100.2)
    assert upkeep.due() == 101  # the insights, a second after the last
    assert upkeep.take(100.2) == (False, False)
    assert upkeep.take(101) == (False, True)
    for second in range(101, 105):
        typed(doc, "body", "and more ")
        upkeep.edited(doc, now=second + 0.5)
    assert upkeep.take(105) == (True, True)  # the row five seconds after its last check
    assert upkeep.due() == float("inf")  # nothing changed since: nothing waits


def test_what_the_row_mirrors_or_an_approval_depends_on_is_checked_at_once() -> None:
    doc, upkeep = draft(), Upkeep(row_every=5, insights_every=1)
    upkeep.edited(doc, now=0)
    upkeep.take(0)
    typed(doc, "subject", "Hello")  # mirrored by the row
    upkeep.edited(doc, now=1)
    assert upkeep.take(1)[0]

    write_review_state(doc, ReviewState(status="approved"), "test")  # the status changed
    upkeep.edited(doc, now=2)
    assert upkeep.take(2)[0]
    typed(doc, "body", "a change after approval")  # voids it: not a moment later
    upkeep.edited(doc, now=2.1)
    assert upkeep.take(2.1)[0]


def test_a_comment_changes_no_text_and_refreshes_nothing() -> None:
    doc, upkeep = draft("in_review"), Upkeep(row_every=5, insights_every=1)
    upkeep.edited(doc, now=0)
    upkeep.take(0)
    doc.get("comments", type=Map)["c1"] = {"text": "nice"}
    upkeep.edited(doc, now=10)
    assert upkeep.take(10) == (True, False)  # only the row's periodic check (edits came)
    upkeep.edited(doc, now=11)
    assert upkeep.take(11) == (False, False)


def test_closing_takes_whatever_waits_and_a_failed_check_is_tried_again_later() -> None:
    doc, upkeep = draft(), Upkeep(row_every=5, insights_every=1)
    upkeep.edited(doc, now=0)
    upkeep.take(0)
    typed(doc, "body", "last words")
    upkeep.edited(doc, now=0.5)
    assert upkeep.take(0.5, everything=True) == (True, True)
    upkeep.row_failed(0.5)
    assert upkeep.due() == 5.5

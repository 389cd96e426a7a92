"""Insights the server writes into each document's `insights` map for every client to show.

Recomputed when a room's texts change, at most once a second (upkeep.py), and written only when
they change, as a server edit: clients see them live, and they are not part of the content hash,
so they never void an approval.
Later issues (analytics, deliverability) add their own keys beside `stats`.
"""

from __future__ import annotations

import re
from typing import Any

from pycrdt import Doc, Map

from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.document import texts

INSIGHTS_ORIGIN = "server-insights"
_WORD = re.compile(r"\w+", re.UNICODE)
_WORDS_PER_MINUTE = 230  # adult silent reading, prose
_SUBJECT_SHOWN = 50  # characters most inboxes show of a subject on a phone


def stats(doc: Doc[Any]) -> dict[str, Any]:
    values = texts(doc)
    words = len(_WORD.findall(values["body"]))
    return {
        "body_words": words,
        "reading_seconds": round(words * 60 / _WORDS_PER_MINUTE),
        "subject_characters": len(values["subject"]),
        "subject_fits_on_phone": len(values["subject"]) <= _SUBJECT_SHOWN,
        "has_preheader": bool(values["preheader"].strip()),
    }


def refresh(doc: Doc[Any]) -> bytes | None:
    """Write fresh stats if they changed; returns the update to store (None if unchanged)."""
    insights = doc.get(INSIGHTS, type=Map)
    fresh = stats(doc)
    if insights.get("stats") == fresh:
        return None
    before = doc.get_state()
    with doc.transaction(origin=INSIGHTS_ORIGIN):
        insights["stats"] = fresh
    return doc.get_update(before)

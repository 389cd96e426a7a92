"""Insights the server writes into each document's `insights` map for every client to show.

Recomputed when a room's texts change, at most once a second (upkeep.py), and written only when
they change, as a server edit: clients see them live, and they are not part of the content hash,
so they never void an approval.
Other writers add their own keys beside `stats` (the agent mesh: `mesh`). An entry that names the
`revision` (content hash) it describes is marked `stale` here as soon as the content moves on, in
the same server edit as the new stats, so no client shows it as current.
"""

from __future__ import annotations

import re
from typing import Any

from pycrdt import Doc, Map

from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.document import content_hash, texts

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


def outdated(insights: Map[Any], revision: str) -> list[str]:
    """The keys of entries about another revision than `revision`, not yet marked stale."""
    found = []
    for key, entry in (insights.to_py() or {}).items():
        if (
            isinstance(entry, dict)
            and "revision" in entry
            and entry["revision"] != revision
            and not entry.get("stale")
        ):
            found.append(key)
    return found


def refresh(doc: Doc[Any]) -> bytes | None:
    """Write fresh stats if they changed and mark entries about an older revision stale;
    returns the update to store (None if nothing changed)."""
    insights = doc.get(INSIGHTS, type=Map)
    fresh = stats(doc)
    old = outdated(insights, content_hash(doc))
    if insights.get("stats") == fresh and not old:
        return None
    before = doc.get_state()
    with doc.transaction(origin=INSIGHTS_ORIGIN):
        if insights.get("stats") != fresh:
            insights["stats"] = fresh
        for key in old:
            insights[key] = {**insights[key], "stale": True}
    return doc.get_update(before)


def write(doc: Doc[Any], key: str, entry: dict[str, Any]) -> bytes | None:
    """Write `entry` under `key` (stale at once if its `revision` is not the content's any more);
    the update to store, None if it said so already."""
    insights = doc.get(INSIGHTS, type=Map)
    if "revision" in entry:
        entry = {**entry, "stale": entry["revision"] != content_hash(doc)}
    if insights.get(key) == entry:
        return None
    before = doc.get_state()
    with doc.transaction(origin=INSIGHTS_ORIGIN):
        insights[key] = entry
    return doc.get_update(before)

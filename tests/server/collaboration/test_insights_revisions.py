"""Insights that name the revision they describe are marked stale once the content moves on."""

from __future__ import annotations

from typing import Any

from pycrdt import Doc, Map

from justmaily.server.collaboration import insights
from justmaily.shared.collaboration import INSIGHTS
from justmaily.shared.document import content_hash, load_document, text


def entry(doc: Doc[Any], key: str) -> dict[str, Any]:
    found = doc.get(INSIGHTS, type=Map).get(key)
    assert isinstance(found, dict)
    return found


def test_an_entry_about_an_older_revision_is_marked_stale_with_the_new_stats() -> None:
    doc = load_document([])
    text(doc, "body").insert(0, "Hello")
    insights.refresh(doc)
    assert insights.write(doc, "mesh", {"revision": content_hash(doc), "verdicts": {}}) is not None
    assert entry(doc, "mesh")["stale"] is False
    assert insights.write(doc, "mesh", {"revision": content_hash(doc), "verdicts": {}}) is None  # unchanged

    text(doc, "body").insert(5, ", world")
    update = insights.refresh(doc)
    assert update is not None
    assert entry(doc, "mesh")["stale"] is True
    assert entry(doc, "stats")["body_words"] == 2
    assert insights.refresh(doc) is None  # marked once

    replica = load_document([doc.get_update()])
    assert entry(replica, "mesh")["stale"] is True


def test_an_entry_written_about_a_revision_already_past_arrives_stale() -> None:
    doc = load_document([])
    text(doc, "body").insert(0, "Old")
    old = content_hash(doc)
    text(doc, "body").insert(3, " and new")
    insights.write(doc, "mesh", {"revision": old, "verdicts": {}})
    assert entry(doc, "mesh")["stale"] is True

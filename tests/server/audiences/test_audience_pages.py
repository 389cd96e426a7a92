"""A send queues its audience page by page: each page is read through an index, never sorted."""

from __future__ import annotations

import uuid

import pytest

from justmaily.server.audiences.repository import audience_page_query
from justmaily.server.db.engine import Database
from justmaily.server.settings import Settings
from tests.support.query_plan import sqlite_plan


@pytest.mark.backends("sqlite")
async def test_an_audience_page_walks_the_index_in_id_order(settings: Settings) -> None:
    """Each page used to sort all of the workspace's contacts: 100 ms a page at 100,000."""
    page = audience_page_query(uuid.uuid4(), list_id=None, where=None, after=uuid.uuid4(), limit=2000)
    database = Database(settings)
    try:
        async with database.session(read_only=True) as session:
            details = await sqlite_plan(session, page)
    finally:
        await database.dispose()
    assert "USING INDEX ix_contacts_by_id (workspace_id=? AND id>?)" in details, details
    assert "TEMP B-TREE" not in details

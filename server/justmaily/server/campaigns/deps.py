"""Providers of the campaigns domain's services, from the app's (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from justmaily.server.campaigns.editing import EditingService
from justmaily.server.campaigns.ports import CampaignDocument
from justmaily.server.campaigns.service import CampaignService
from justmaily.server.db.engine import Database
from justmaily.server.events import Events


def provide_campaigns(
    db_session: NamedDependency[AsyncSession], events: NamedDependency[Events]
) -> CampaignService:
    return CampaignService(db_session, events)


def provide_editing(
    database: NamedDependency[Database],
    events: NamedDependency[Events],
    document: NamedDependency[CampaignDocument],
) -> EditingService:
    return EditingService(database, events, document)

"""Providers of the health domain, from the app's services (services.py) by name."""

from __future__ import annotations

from litestar.di import NamedDependency

from justmaily.server.db.engine import Database
from justmaily.server.health.service import Alarmed, HealthService, Listening


def provide_health(
    database: NamedDependency[Database],
    fanout: NamedDependency[Listening | None],
    publisher: NamedDependency[Alarmed | None],
) -> HealthService:
    return HealthService(database, fanout, publisher)

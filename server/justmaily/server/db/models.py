"""Every domain's tables, gathered so Alembic sees one metadata."""

from justmaily.server.campaigns import models as _campaigns
from justmaily.server.collaboration import models as _collaboration
from justmaily.server.db.base import Base
from justmaily.server.identity import models as _identity

metadata = Base.metadata
__all__ = ["_campaigns", "_collaboration", "_identity", "metadata"]

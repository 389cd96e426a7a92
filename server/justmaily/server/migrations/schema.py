"""Every domain's tables, gathered so Alembic sees one metadata: above every domain, as the
composition root is (db/ holds only what every domain shares)."""

from justmaily.server.analytics import models as _analytics
from justmaily.server.audiences import models as _audiences
from justmaily.server.campaigns import models as _campaigns
from justmaily.server.collaboration import models as _collaboration
from justmaily.server.db.base import Base
from justmaily.server.delivery import models as _delivery
from justmaily.server.engagement import models as _engagement
from justmaily.server.identity import models as _identity
from justmaily.server.mesh import models as _mesh
from justmaily.server.ops import models as _ops
from justmaily.server.protection import models as _protection
from justmaily.server.trust import models as _trust

metadata = Base.metadata
__all__ = [
    "_analytics",
    "_audiences",
    "_campaigns",
    "_collaboration",
    "_delivery",
    "_engagement",
    "_identity",
    "_mesh",
    "_ops",
    "_protection",
    "_trust",
    "metadata",
]

"""What a worker process runs for an in-process agent: one kind's analysis of one e-mail,
answered as plain data (the worker imports this module by name; keep it light to import)."""

from __future__ import annotations

from typing import Any

import msgspec

from justmaily.server.mesh.agents.catalogue import KINDS
from justmaily.server.mesh.agents.email import Email
from justmaily.shared.mesh import AgentKind


def analyse(kind: AgentKind, email: Email) -> Any:
    return msgspec.to_builtins(KINDS[kind].analyse(email))

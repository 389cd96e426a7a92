"""The marks a route carries in its `opt` to say who may call it (enforced in identity.guards)."""

from __future__ import annotations

from typing import Any

PUBLIC = "public"  # no credentials needed
PERMISSION = "permission"  # a Permission, or SIGNED_IN
SIGNED_IN = "signed-in"  # any principal of the workspace
TICKET = "ticket"  # a WebSocket entered with a single-use ticket (no headers in browsers' sockets)
# Slow on purpose (a password hashed with argon2id): left out of the latency objective, whose
# 100 ms such a request cannot meet and should not (docs/operations.md).
SLOW_BY_DESIGN = "slow-by-design"


def public() -> dict[str, object]:
    return {PUBLIC: True}


def hashes_a_password() -> dict[str, object]:
    return {SLOW_BY_DESIGN: True}


def requires(permission: object) -> dict[str, object]:
    return {PERMISSION: permission}


def is_generated_options(handler: Any) -> bool:
    """Litestar's own OPTIONS answer, added to every path that declares no OPTIONS handler."""
    return getattr(handler, "http_methods", None) == {"OPTIONS"} and str(
        getattr(handler, "handler_name", "")
    ).endswith("options_handler")

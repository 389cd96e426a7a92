"""The marks a route carries in its `opt` to say who may call it (enforced in identity.guards)."""

PUBLIC = "public"  # no credentials needed
PERMISSION = "permission"  # a Permission, or SIGNED_IN
SIGNED_IN = "signed-in"  # any principal of the workspace
TICKET = "ticket"  # a WebSocket entered with a single-use ticket (no headers in browsers' sockets)


def public() -> dict[str, object]:
    return {PUBLIC: True}


def requires(permission: object) -> dict[str, object]:
    return {PERMISSION: permission}

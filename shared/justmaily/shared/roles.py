"""Workspace roles and the permissions they grant (the least-privilege matrix).

`docs/security.md` states the same matrix for people; the authorization tests hold the two to
each other.
"""

from __future__ import annotations

import enum


class Role(enum.StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    EDITOR = "editor"
    REVIEWER = "reviewer"
    ANALYST = "analyst"
    VIEWER = "viewer"


class Permission(enum.StrEnum):
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    CAMPAIGNS_REVIEW = "campaigns:review"
    CAMPAIGNS_COMMENT = "campaigns:comment"  # comments and replies: not content, no approval voided
    CAMPAIGNS_SEND = "campaigns:send"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"  # invite (people join only by accepting), change roles, remove
    API_KEYS_MANAGE = "api-keys:manage"
    CONTACTS_READ = "contacts:read"  # personal data: contacts, lists, segments, suppressions
    CONTACTS_WRITE = "contacts:write"
    DELIVERY_MANAGE = "delivery:manage"  # relays, sending domains (DKIM), provider webhooks
    AUDIT_READ = "audit:read"  # the audit log of key operations and reads of keys and secrets
    KEYS_MANAGE = "keys:manage"  # the workspace's key versions; rotating them
    OPERATIONS_READ = "operations:read"  # the installation's SLO compliance and error budgets
    LEGAL_HOLDS_MANAGE = "legal-holds:manage"  # keep a workspace's records past their retention
    MESH_READ = "mesh:read"  # the agent mesh's registry: agents, their cards, health and load


_READ = frozenset({Permission.CAMPAIGNS_READ})
_WRITE = _READ | {
    Permission.CAMPAIGNS_WRITE,
    Permission.CAMPAIGNS_COMMENT,
    Permission.CONTACTS_READ,
    Permission.CONTACTS_WRITE,
}
_ADMIN = frozenset(Permission)

# Reviewers and viewers never see personal data; analysts read it (segments, engagement).
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OWNER: _ADMIN,
    Role.ADMIN: _ADMIN,
    Role.EDITOR: _WRITE,
    # Reviewers comment and reply without changing the content.
    Role.REVIEWER: _READ | {Permission.CAMPAIGNS_REVIEW, Permission.CAMPAIGNS_COMMENT},
    Role.ANALYST: _READ | {Permission.CONTACTS_READ},
    Role.VIEWER: _READ,
}

# Only an owner may create, promote to, demote or remove another owner.
OWNER_ONLY_ROLES: frozenset[Role] = frozenset({Role.OWNER})


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]

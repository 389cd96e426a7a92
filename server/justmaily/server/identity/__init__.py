"""Identity: workspaces, users, memberships and roles, tokens, API keys."""

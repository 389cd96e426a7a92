"""Triggers that make a table append-only (the transparency log's, migrations 0007 and 0008).

They stop accidents and casual edits; an operator who drops them is caught by the signed tree
heads clients keep (docs/trust.md). PostgreSQL's trigger function is created by migration 0007.
"""

from __future__ import annotations


def append_only_guards(dialect: str, table: str) -> list[str]:
    """The statements that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on `table`."""
    if dialect == "postgresql":
        return [
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            " FOR EACH ROW EXECUTE FUNCTION justmaily_append_only()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            " FOR EACH STATEMENT EXECUTE FUNCTION justmaily_append_only()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table}"
        " BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END"
        for action in ("UPDATE", "DELETE")
    ]

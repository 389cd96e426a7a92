"""Triggers that make a table append-only (the transparency log's, migrations 0007 and 0008), and
the check that they are still in force (`missing_guards`).

They stop accidents and casual edits. An operator who drops them is caught twice: the log's
publisher checks them before every tree head it signs and refuses to sign while any is missing
or changed (trust/publisher.py), and clients keep the signed tree heads (docs/trust.md).
PostgreSQL's trigger function is created by migration 0007.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

APPEND_ONLY_TABLES = ("log_entries", "log_nodes", "tree_heads", "batch_leaves", "batch_nodes")
# The trigger function as migration 0007 creates it (PostgreSQL keeps the body as written).
PG_FUNCTION = "justmaily_append_only"
PG_FUNCTION_BODY = " BEGIN RAISE EXCEPTION 'the transparency log is append-only (%)', TG_TABLE_NAME; END "
# pg_trigger.tgtype bits: ROW 1, BEFORE 2, INSERT 4, DELETE 8, UPDATE 16, TRUNCATE 32.
_PG_ROW_BEFORE_UPDATE_DELETE = 1 | 2 | 8 | 16
_PG_STATEMENT_BEFORE_TRUNCATE = 2 | 32


def _guards(dialect: str, table: str) -> dict[str, str]:
    """The guards of `table`, by trigger name: the statement that creates each."""
    if dialect == "postgresql":
        return {
            f"{table}_append_only": f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table}"
            f" FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}()",
            f"{table}_no_truncate": f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}()",
        }
    return {
        f"{table}_no_{action.lower()}": f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action}"
        f" ON {table} BEGIN SELECT RAISE(ABORT, 'the transparency log is append-only'); END"
        for action in ("UPDATE", "DELETE")
    }


def append_only_guards(dialect: str, table: str) -> list[str]:
    """The statements that refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) on `table`."""
    return list(_guards(dialect, table).values())


async def missing_guards(session: AsyncSession) -> list[str]:
    """The guards that are not in force as the migrations made them, by trigger name (dropped,
    disabled, or replaced by something else of the same name); [] when all are."""
    if session.get_bind().dialect.name == "postgresql":
        return await _missing_on_postgresql(session)
    rows = await session.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"))
    present = {name: " ".join(str(sql).split()) for name, sql in rows.all()}
    return [
        name
        for table in APPEND_ONLY_TABLES
        for name, statement in _guards("sqlite", table).items()
        if present.get(name) != " ".join(statement.split())
    ]


async def _missing_on_postgresql(session: AsyncSession) -> list[str]:
    rows = await session.execute(
        text(
            "SELECT t.tgname, c.relname, t.tgtype, t.tgenabled::text, t.tgqual IS NULL,"
            " cardinality(t.tgattr::int2[]), p.proname, p.prosrc"
            " FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid"
            " WHERE NOT t.tgisinternal AND pg_table_is_visible(c.oid)"
        )
    )
    in_force = {
        (str(name), str(table), int(kind))
        for name, table, kind, enabled, unconditional, columns, function, body in rows.all()
        # 'D' is disabled ('O' origin, 'A' always, 'R' replica only: not in an ordinary session)
        if str(enabled) in ("O", "A")
        and unconditional
        and columns == 0
        and function == PG_FUNCTION
        and body == PG_FUNCTION_BODY
    }
    missing = []
    for table in APPEND_ONLY_TABLES:
        if (f"{table}_append_only", table, _PG_ROW_BEFORE_UPDATE_DELETE) not in in_force:
            missing.append(f"{table}_append_only")
        if (f"{table}_no_truncate", table, _PG_STATEMENT_BEFORE_TRUNCATE) not in in_force:
            missing.append(f"{table}_no_truncate")
    return missing

"""SQLite's plan for a statement, to test that a hot query uses the index it was built for."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


async def sqlite_plan(session: AsyncSession, statement: ClauseElement) -> str:
    """The details of `EXPLAIN QUERY PLAN`, one line each (SQLite only)."""
    connection = await session.connection()
    compiled = statement.compile(dialect=connection.dialect, compile_kwargs={"render_postcompile": True})
    assert isinstance(compiled, SQLCompiler)
    parameters = tuple(
        value if isinstance(value, int | float | str | bytes | None) else str(value)
        for value in (compiled.params[name] for name in compiled.positiontup or ())
    )
    plan = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", parameters)
    return "\n".join(str(row[-1]) for row in plan)

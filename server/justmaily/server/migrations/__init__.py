"""The database schema's history (Alembic): `migrate.py` runs it in code, `versions/` holds the
steps, `schema.py` gathers every domain's tables for autogenerate."""

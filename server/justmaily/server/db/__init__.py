"""Database plumbing shared by every domain: engine, sessions, base model, migrations."""

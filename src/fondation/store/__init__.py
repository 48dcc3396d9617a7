"""The database: schema, migrations, engines for SQLite and PostgreSQL, and transaction helpers."""

from fondation.store.database import Database, open_database

__all__ = ["Database", "open_database"]

"""Alembic migrations for both databases (run through `fondation.store.migrations_runner`)."""

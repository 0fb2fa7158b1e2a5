"""Alembic's environment for torchrig's results database: always run from bench/store/database.py, which
hands over an open connection (config.attributes["connection"]); there is no alembic.ini."""

from __future__ import annotations

from alembic import context

from bench.store.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

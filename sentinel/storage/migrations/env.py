"""Alembic environment: runs on the connection `sentinel.storage.db.migrate` hands it."""

from __future__ import annotations

from alembic import context

from sentinel.storage.db import Base

# The revisions are hand-written; upgrading needs no table classes. (An autogenerate run would have to import
# the row classes of alerts, cases, cluster and console first -- from above, as the storage layer may not.)

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through `sentinel.storage.db.migrate(engine)`")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

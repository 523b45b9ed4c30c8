"""Alembic environment: runs on the connection `sentinel.alerts.db.migrate` hands it."""

from __future__ import annotations

from alembic import context

from sentinel.alerts import models  # noqa: F401  (registers the tables on Base.metadata)
from sentinel.alerts.db import Base
from sentinel.cluster import models as cluster_models  # noqa: F401
from sentinel.console import models as console_models  # noqa: F401
from sentinel.grid import case_models  # noqa: F401

connection = context.config.attributes.get("connection")
if connection is None:
    raise SystemExit("run migrations through `sentinel.alerts.db.migrate(engine)`")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

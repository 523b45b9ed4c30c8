"""api_tokens: every token expires, and a revoked one says why

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 10:00:00

A token made before this revision (no expiry: "until revoked") gets one GRACE after the upgrade, so nothing
that uses one stops at the upgrade itself; `expires_at` is then NOT NULL. `revoked_reason` is new.

Plain column types only (no imports from the application), so the revision stays valid as the models evolve.
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

GRACE = timedelta(days=90)  # the default console.token_lifetime


def upgrade() -> None:
    expires = datetime.now(UTC) + GRACE
    if op.get_bind().dialect.name == "sqlite":  # stored as naive UTC there, as the models' UTCDateTime does
        expires = expires.replace(tzinfo=None)
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    op.execute(tokens.update().where(tokens.c.expires_at.is_(None)).values(expires_at=expires))
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.add_column(sa.Column("revoked_reason", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch_op:
        batch_op.drop_column("revoked_reason")
        batch_op.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=True)

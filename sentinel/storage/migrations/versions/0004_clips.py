"""alerts.clip: the alert clip's state ({url, sha256, start, end, state, error})

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 09:30:00

Plain column types only (no imports from the application), so the revision stays valid as the models evolve.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("alerts", sa.Column("clip", sa.JSON(), nullable=True))


def downgrade() -> None:
    # a plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch "copy and move" would drop
    # and recreate `alerts`, and with foreign keys on that would cascade into the outbox and cases
    op.drop_column("alerts", "clip")
